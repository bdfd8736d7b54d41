"""A blocking IMAP session (stdlib ``imaplib``), run by the poller in a worker thread.

One session per poll: connect, log in, read what is new, log out. Mailboxes are opened
read-only with ``EXAMINE`` and bodies fetched with ``BODY.PEEK[]``, so polling never marks
the team's mail as read. Sizes are fetched before bodies: a mail over the limit is never
downloaded (only the start of its header, to say which one it was).
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from bot.config.email import Server
from bot.domain.polling import PollError

TIMEOUT = 30.0
HEADER_PEEK = 16_384  # bytes of a refused mail's header kept for its dead letter
_LIST = re.compile(rb'^\((?P<flags>[^)]*)\) (?:"[^"]*"|NIL) (?P<name>.+)$')
_UID = re.compile(rb"UID (\d+)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_DATE = re.compile(rb'INTERNALDATE "([^"]+)"')


class ImapError(PollError):
    """The server said no (or could not be reached): one warning line, then backoff."""


@dataclass(frozen=True)
class Meta:
    uid: int
    size: int
    received: datetime | None


def _ok(result: tuple[str, Sequence[object]], what: str) -> Sequence[object]:
    kind, data = result
    if kind != "OK":
        detail = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
        raise ImapError(f"{what}: {kind} {detail[:200]}")
    return data


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Session:
    def __init__(self, server: Server, *, timeout: float = TIMEOUT) -> None:
        self.server = server
        try:
            if server.tls:
                self.imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    server.host,
                    server.port,
                    ssl_context=ssl.create_default_context(),
                    timeout=timeout,
                )
            else:
                self.imap = imaplib.IMAP4(server.host, server.port, timeout=timeout)
        except (TimeoutError, OSError) as exc:
            raise ImapError(
                f"cannot reach IMAP {server.host}:{server.port}: {type(exc).__name__}: {exc}"
            ) from None
        try:
            if server.starttls and not server.tls:
                self.imap.starttls(ssl.create_default_context())
            self.imap.login(server.user, server.password)
        except imaplib.IMAP4.error as exc:
            self.imap.shutdown()  # no LOGOUT without a login: just the socket
            raise ImapError(
                f"IMAP {server.host}:{server.port} refused the login of {server.user}: {exc}"
            ) from None
        except (TimeoutError, OSError) as exc:
            self.imap.shutdown()
            raise ImapError(
                f"IMAP {server.host}:{server.port} dropped the login: {type(exc).__name__}: {exc}"
            ) from None

    def close(self) -> None:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            self.imap.logout()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def sent_folder(self) -> str | None:
        """The mailbox flagged ``\\Sent`` (RFC 6154), whatever it is called."""
        for line in _ok(self.imap.list(), "LIST"):
            if not isinstance(line, bytes):
                continue
            found = _LIST.match(line)
            if found and b"\\sent" in found.group("flags").lower().split():
                name = found.group("name").strip()
                if name.startswith(b'"') and name.endswith(b'"'):
                    name = name[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
                return name.decode("utf-8", "replace")
        return None

    def exists(self, folder: str) -> bool:
        """Whether the server lists ``folder`` (told apart from other EXAMINE refusals)."""
        data = _ok(self.imap.list('""', _quote(folder)), "LIST")
        return any(isinstance(d, bytes) and d.strip() for d in data)

    def examine(self, folder: str) -> tuple[int, int]:
        """Open ``folder`` read-only: (UIDVALIDITY, UIDNEXT)."""
        _ok(self.imap.select(_quote(folder), readonly=True), f"EXAMINE {folder}")
        validity = self.imap.response("UIDVALIDITY")[1][0]
        following = self.imap.response("UIDNEXT")[1][0]
        if not isinstance(validity, bytes):
            raise ImapError(f"{folder}: the server gave no UIDVALIDITY")
        nxt = int(following) if isinstance(following, bytes) else 0
        if not nxt:
            uids = self.search("ALL")
            nxt = (max(uids) + 1) if uids else 1
        return int(validity), nxt

    def search(self, *criteria: str) -> list[int]:
        data = _ok(self.imap.uid("SEARCH", *criteria), "SEARCH")
        return sorted({int(x) for d in data if isinstance(d, bytes) for x in d.split()})

    def since(self, day: date) -> list[int]:
        return self.search("SINCE", day.strftime("%d-%b-%Y"))

    def after(self, uid: int) -> list[int]:
        # "n:*" always matches the newest mail, even below n: filter again.
        return [u for u in self.search("UID", f"{uid + 1}:*") if u > uid]

    def meta(self, uids: Sequence[int]) -> list[Meta]:
        if not uids:
            return []
        data = _ok(self.imap.uid("FETCH", _set(uids), "(UID RFC822.SIZE INTERNALDATE)"), "FETCH")
        out = []
        for line in data:
            head = line[0] if isinstance(line, tuple) else line
            if not isinstance(head, bytes) or not (uid := _UID.search(head)):
                continue
            size = _SIZE.search(head)
            received = _DATE.search(head)
            when = (
                imaplib.Internaldate2tuple(b'INTERNALDATE "' + received.group(1) + b'"')
                if received
                else None
            )
            out.append(
                Meta(
                    int(uid.group(1)),
                    int(size.group(1)) if size else 0,
                    datetime(*when[:6]).astimezone() if when else None,
                )
            )
        return sorted(out, key=lambda m: m.uid)

    def bodies(self, uids: Sequence[int], part: str = "BODY.PEEK[]") -> dict[int, bytes]:
        if not uids:
            return {}
        data = _ok(self.imap.uid("FETCH", _set(uids), f"(UID {part})"), "FETCH")
        out: dict[int, bytes] = {}
        for i, item in enumerate(data):
            if not isinstance(item, tuple) or len(item) < 2:
                continue
            head, body = item[0], item[1]
            uid = _UID.search(head)
            after = data[i + 1] if i + 1 < len(data) else None
            if uid is None and isinstance(after, bytes):
                uid = _UID.search(after)  # "UID n)" after the literal
            if uid is not None and isinstance(body, bytes):
                out[int(uid.group(1))] = body
        return out

    def header_start(self, uid: int) -> bytes:
        return self.bodies([uid], f"BODY.PEEK[HEADER]<0.{HEADER_PEEK}>").get(uid, b"")

    def find(self, folders: Iterable[str], message_id: str) -> bytes | None:
        """The headers of the mail with ``message_id`` in any of ``folders``."""
        for folder in folders:
            self.examine(folder)
            uids = self.search("HEADER", "Message-ID", _quote(f"<{message_id}>"))
            if uids:
                return self.bodies(uids[-1:], "BODY.PEEK[HEADER]").get(uids[-1])
        return None

    def append(self, folder: str, raw: bytes) -> None:
        _ok(
            self.imap.append(
                _quote(folder),
                r"(\Seen)",
                imaplib.Time2Internaldate(datetime.now().astimezone()),
                raw,
            ),
            f"APPEND {folder}",
        )


def _set(uids: Sequence[int]) -> str:
    return ",".join(str(u) for u in uids)
