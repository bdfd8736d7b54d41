"""Reading a mailbox's new mail (blocking; the poller runs it in a worker thread): per
folder, UIDs above the cursor, sizes before bodies, at most ``page`` mails and
``BYTES_PER_POLL`` bytes per poll. A configured folder the server no longer lists is
skipped with one WARNING line (``missing`` says which, until it is back)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from adapters.email.imap import ImapError, Session
from adapters.email.parse import Mail, parse
from bot.config.email import EmailSettings
from bot.domain.polling import Rejected

log = logging.getLogger("nudgebot.email")
PAGE = 200
BYTES_PER_POLL = 64 * 1024 * 1024  # bodies read in one poll (memory bound), big ones aside


class Reader:
    def __init__(
        self,
        source: str,
        settings: EmailSettings,
        now: Callable[[], datetime],
        session: Callable[[], Session],
        page: int = PAGE,
    ) -> None:
        self.source = source
        self.settings = settings
        self.now = now
        self.session = session
        self.page = page
        self.sent: str | None = None  # the \Sent folder, once found
        self.missing: set[str] = set()  # configured folders the server does not have (now)

    def fetch(self, state: dict[str, list[int]]) -> Fetched:
        out = Fetched(dict(state))
        with self.session() as imap:
            if self.sent is None:
                self.sent = imap.sent_folder()
            folders = [(f, False) for f in self.settings.folders]
            if self.sent and self.sent not in self.settings.folders:
                folders.append((self.sent, True))
            for folder, in_sent in folders:
                self._folder(imap, folder, in_sent, out)
        return out

    def _folder(self, imap: Session, folder: str, in_sent: bool, out: Fetched) -> None:
        try:
            validity, following = imap.examine(folder)
        except ImapError as exc:
            if in_sent or imap.exists(folder):
                raise  # the server is in trouble, not the folder: the whole poll fails
            if folder not in self.missing:  # one line when it goes; the others still read
                log.warning("%s: folder %s is gone from the server (%s); reading the "
                            "others, /readyz says so until it is back", self.source, folder,
                            exc)  # fmt: skip
                self.missing.add(folder)
            return
        if folder in self.missing:
            self.missing.discard(folder)
            log.info("%s: folder %s is back", self.source, folder)
        known = out.state.get(folder)
        if known is None or known[0] != validity:
            if known is not None:
                out.renumbered += 1
                log.warning(
                    "%s: %s has a new UIDVALIDITY (%s, was %s): reading it again from %s ago",
                    self.source,
                    folder,
                    validity,
                    known[0],
                    self.settings.backfill,
                )
            start = (self.now() - self.settings.backfill).date()
            since = imap.since(start) if self.settings.backfill > timedelta(0) else []
            known = [validity, (since[0] - 1) if since else following - 1]
        uids = imap.after(known[1])
        batch = uids[: self.page]
        out.more = out.more or len(uids) > len(batch)
        budget, wanted = BYTES_PER_POLL, list[tuple[int, datetime | None]]()
        for meta in imap.meta(batch):
            if meta.size > self.settings.max_size:
                out.rejected.append(self._too_big(imap, folder, meta.uid, meta.size))
                continue
            if meta.size > budget and wanted:
                out.more = True  # the rest next time: stop before this one
                batch = [u for u in batch if u < meta.uid]
                break
            budget -= meta.size
            wanted.append((meta.uid, meta.received))
        bodies = imap.bodies([u for u, _ in wanted])
        for uid, received in wanted:
            raw = bodies.get(uid)
            if raw is None:  # expunged between FETCHes: gone, nothing to store
                continue
            mail = parse(raw, fallback_id=f"{folder}.{validity}.{uid}@{self.source}")
            out.mails.append((mail, received, in_sent))
        if batch:
            known = [validity, max(batch)]
        out.state[folder] = known

    def _too_big(self, imap: Session, folder: str, uid: int, size: int) -> Rejected:
        limit = self.settings.max_size
        reason = (
            f"mail {folder} UID {uid} is {size / 1048576:.1f} MB, over the "
            f"{limit / 1048576:.0f} MB limit (max_size): not imported"
        )
        log.warning("%s: %s", self.source, reason)
        return Rejected(imap.header_start(uid), reason)


class Fetched:
    def __init__(self, state: dict[str, list[int]]) -> None:
        self.state = state
        self.mails: list[tuple[Mail, datetime | None, bool]] = []
        self.rejected: list[Rejected] = []
        self.more = False
        self.renumbered = 0  # folders whose UIDVALIDITY changed
