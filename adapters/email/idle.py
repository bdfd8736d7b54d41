"""IMAP IDLE (RFC 2177): between polls, wait on the server telling us of new mail instead of
sleeping the whole ``poll_every``.

One connection per watched folder, each in a thread of its own (not the event loop's
executor: IDLE holds a thread for minutes, and the polls themselves need those workers).
The first folder to see ``EXISTS`` wakes the wait; the others then end their IDLE with
``DONE`` and log out. Each IDLE is re-issued every ``renew`` seconds, well inside the 29
minutes after which RFC 2177 lets a server drop an idle client.

``Idler.wait`` says what happened: ``NEWS`` (poll now), ``QUIET`` (the time ran out), or
``UNSUPPORTED`` (the server does not offer IDLE: the caller sleeps ``poll_every``). A
connection that fails while idling ends the wait early as ``QUIET`` with the error kept in
``failure``: ``Waiter`` then sleeps the rest of ``poll_every`` (one WARNING line per new
failure), and the next poll reports a server problem the usual way.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import logging
import re
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

from adapters.email.imap import ImapError, Session, _ok

log = logging.getLogger("nudgebot.email")
Sleep = Callable[[float], Awaitable[None]]
Observe = Callable[[str, str, int], None]
Known = Sequence[int] | None  # a folder's [UIDVALIDITY, last UID] at the last poll
RENEW = 25 * 60.0  # seconds; servers may drop an IDLE client after 29 minutes
TICK = 1.0  # seconds between looks at the stop flag while the server is silent
NEWS, QUIET, UNSUPPORTED = "news", "quiet", "unsupported"
_EXISTS = re.compile(rb"^\* \d+ EXISTS\r?$", re.IGNORECASE)


class Idler:
    def __init__(
        self, session: Callable[[], Session], *, renew: float = RENEW, tick: float = TICK
    ) -> None:
        self.session = session
        self.renew = renew
        self.tick = tick
        self.issued = 0  # IDLE commands sent so far (renewals included)
        self.failure: str | None = None
        self._lock = threading.Lock()

    def wait(
        self,
        folders: Mapping[str, Known],
        seconds: float,
        stop: threading.Event,
        offered: Callable[[], None] = lambda: None,
    ) -> str:
        """Block until new mail in one of ``folders``, ``seconds`` passed, or ``stop`` is set.
        ``folders`` maps each to the last poll's ``[UIDVALIDITY, last UID]``: mail that came
        between that poll and this IDLE is news at once."""
        self.failure = None
        if not folders:
            return QUIET
        deadline = time.monotonic() + seconds
        first = self.session()
        try:
            idles = _offers_idle(first)
        except BaseException:
            first.close()
            raise
        if not idles:
            first.close()
            return UNSUPPORTED
        offered()
        news = threading.Event()
        done = threading.Event()  # set by the first watcher to finish, for whatever reason
        threads = [
            threading.Thread(
                target=self._watch,
                args=(first if i == 0 else None, folder, known, deadline, stop, news, done),
                name=f"imap-idle-{folder}",
                daemon=True,
            )
            for i, (folder, known) in enumerate(folders.items())
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return NEWS if news.is_set() else QUIET

    def _watch(
        self,
        session: Session | None,
        folder: str,
        known: Known,
        deadline: float,
        stop: threading.Event,
        news: threading.Event,
        done: threading.Event,
    ) -> None:
        try:
            session = session or self.session()
            with session:
                validity, _ = session.examine(folder)
                if known is None or known[0] != validity or session.after(known[1]):
                    news.set()  # came while we polled: no IDLE needed to know
                    return
                while not (stop.is_set() or done.is_set()):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    if self._idle(session.imap, min(left, self.renew), stop, done):
                        news.set()
                        break
        except (ImapError, imaplib.IMAP4.error, OSError) as exc:
            with self._lock:
                self.failure = self.failure or f"IDLE on {folder}: {type(exc).__name__}: {exc}"
        finally:
            done.set()  # one ending (news, error, time) ends the others' waits too

    def _idle(
        self, imap: imaplib.IMAP4, seconds: float, stop: threading.Event, done: threading.Event
    ) -> bool:
        """One IDLE command for at most ``seconds``: True when the server announced mail."""
        tag = imap._new_tag().decode()  # imaplib has no IDLE before 3.14: its own tags
        sock = imap.sock
        sock.sendall(f"{tag} IDLE\r\n".encode())
        with self._lock:
            self.issued += 1
        buffer = b""
        started, arrived = False, False
        end = time.monotonic() + seconds
        before = sock.gettimeout()
        sock.settimeout(self.tick)
        try:
            while True:
                if started and (arrived or stop.is_set() or done.is_set()
                                or time.monotonic() >= end):  # fmt: skip
                    sock.sendall(b"DONE\r\n")
                    return _until_tagged(sock, buffer, tag) or arrived
                if not started and time.monotonic() >= end + 30:
                    raise ImapError("the server never answered IDLE")
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    raise ImapError("the server closed the IDLE connection")
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.startswith(b"+"):
                        started = True
                    elif line.startswith(tag.encode()):
                        raise ImapError(f"IDLE refused: {line.decode('utf-8', 'replace')[:200]}")
                    elif _EXISTS.match(line):
                        arrived = True
        finally:
            sock.settimeout(before)


def _until_tagged(sock: socket.socket, buffer: bytes, tag: str) -> bool:
    """Read to the end of the IDLE command (its tagged answer after our DONE): whether mail
    was announced meanwhile."""
    sock.settimeout(30.0)
    marker = tag.encode() + b" "
    arrived = False
    while True:
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            arrived = arrived or _EXISTS.match(line) is not None
            if line.startswith(marker):
                if not line[len(marker) :].upper().startswith(b"OK"):
                    raise ImapError(f"IDLE ended badly: {line.decode('utf-8', 'replace')[:200]}")
                return arrived
        chunk = sock.recv(65536)
        if not chunk:
            raise ImapError("the server closed the connection after DONE")
        buffer += chunk


def _offers_idle(session: Session) -> bool:
    """CAPABILITY after login (servers may offer more once authenticated)."""
    with contextlib.suppress(imaplib.IMAP4.error):
        data = _ok(session.imap.capability(), "CAPABILITY")
        words = b" ".join(d for d in data if isinstance(d, bytes)).upper().split()
        return b"IDLE" in words
    return "IDLE" in session.imap.capabilities


class Waiter:
    """The poller's side: runs ``Idler.wait`` in a thread, falls back to ``sleep``, and says
    in one log line whenever IDLE starts, is not offered, fails or works again."""

    def __init__(self, source: str, idler: Idler, observe: Observe) -> None:
        self.source = source
        self.idler = idler
        self.observe = observe
        self.idle: bool | None = None  # does the server offer IDLE (None: not asked yet)
        self._idle_failure: str | None = None

    async def wait(self, folders: Mapping[str, Known], seconds: float, sleep: Sleep) -> None:
        """New mail announced in one of ``folders``, or ``seconds`` (``poll_every``)."""
        if self.idle is False or not folders:  # no IDLE, or every folder gone: poll_every
            await sleep(seconds)
            return
        loop = asyncio.get_running_loop()
        began = loop.time()
        stop = threading.Event()
        answer: asyncio.Future[str] = loop.create_future()

        def run() -> None:  # a thread of its own: IDLE holds it for minutes
            try:
                result: str | BaseException = self.idler.wait(
                    folders, seconds, stop, lambda: self._offered(folders)
                )
            except BaseException as exc:  # handed to the loop, which says it
                result = exc
            # RuntimeError: the loop closed meanwhile (shutdown), nobody waits for it
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, answer, result)

        threading.Thread(target=run, name=f"idle-{self.source}", daemon=True).start()
        try:
            result = await answer
        except (ImapError, imaplib.IMAP4.error, OSError) as exc:
            result, self.idler.failure = "", f"{type(exc).__name__}: {exc}"
        finally:
            stop.set()  # cancelled (shutdown, lost lock) or done: the watchers log out
        self._idle_said(result, seconds)
        if result != NEWS and self.idler.failure:  # fall back: sleep what is left
            await sleep(max(0.0, seconds - (loop.time() - began)))
        elif result == UNSUPPORTED:
            await sleep(seconds)

    def _offered(self, folders: Iterable[str]) -> None:
        """From the IDLE thread, once the server said it offers IDLE."""
        if self.idle is not True:
            self.idle = True
            log.info("%s: IMAP IDLE on %s: new mail is read as it arrives", self.source,
                     ", ".join(folders))  # fmt: skip

    def _idle_said(self, result: str, seconds: float) -> None:
        """One log line per change: not offered, failing (working again: ``_offered``)."""
        if result == UNSUPPORTED:
            log.info("%s: the IMAP server offers no IDLE: polling every %.0fs", self.source,
                     seconds)  # fmt: skip
            self.idle = False
            return
        failure = self.idler.failure
        if failure and failure != self._idle_failure:
            log.warning("%s: IMAP IDLE failed (%s): polling every %.0fs until it works",
                        self.source, failure, seconds)  # fmt: skip
            self.observe("email", "idle_failed", 1)
        if failure:
            self.idle = None  # unknown again: the next IDLE that starts says so
        self._idle_failure = failure


def _settle(answer: asyncio.Future[str], result: str | BaseException) -> None:
    if answer.done():  # cancelled while the thread idled
        return
    if isinstance(result, BaseException):
        answer.set_exception(result)
    else:
        answer.set_result(result)
