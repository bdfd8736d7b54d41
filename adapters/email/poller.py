"""A shared mailbox as a polled source: IMAP in, SMTP out (``bot.services.polling`` runs it:
cursor in the database, backoff, one replica at a time).

**Incremental.** The cursor holds, per folder, ``[UIDVALIDITY, last UID stored]``. A poll
reads UIDs above it, at most ``page`` per folder; a full page asks for the next poll at once.
A changed UIDVALIDITY means every stored UID is void: the folder is read again from
``backfill`` ago (ingest is idempotent by Message-ID, so nothing is stored twice). A folder
never seen starts ``backfill`` ago too.

**Threading.** A conversation's ``thread`` is the Message-ID of the mail that started it. A
mail joins the thread of its ``In-Reply-To`` or of any of its ``References`` already known
(this poll, recent polls, or stored — asked of the core), so clients that keep only
``In-Reply-To``, trim ``References`` or keep all 10,000 land in one conversation. With
none known, the oldest reference is the root. Mail without any ids falls back to subject
(without Re:/AW:) plus the customer's address, if it says it is a reply; those pairs are
kept in the cursor (``cursor.py``), so a restart between two such mails keeps the thread.

**Between polls** the source waits on IMAP IDLE where the server offers it (``idle.py``):
new mail wakes the next poll at once, ``poll_every`` is only the longest wait.

**A configured folder gone** (deleted, renamed) is one WARNING line; the other folders are
still read, ``failing`` makes /readyz's ``polled-email`` not ready and every poll counts
``folder_missing`` in /metrics until it is back (with a new UIDVALIDITY: read again from
``backfill``, nothing stored twice).

**Who.** The team is the shared ``address``, ``team_domains``, members' ``email:`` keys, and
anything in the Sent folder (found by ``\\Sent``, RFC 6154). Auto-replies, list mail and
bounces are nobody's: they are skipped (counted in the log line) and open no wait. A mail
over ``max_size`` is not downloaded: it is kept as a dead letter with the start of its
header, and the cursor moves on.
"""

from __future__ import annotations

import asyncio
import imaplib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta

import httpx

from adapters.email import PLATFORM
from adapters.email.cursor import dump, load, topic
from adapters.email.fetch import PAGE, Reader
from adapters.email.idle import Idler, Waiter
from adapters.email.imap import ImapError, Session
from adapters.email.parse import Mail, says_reply, thread_subject
from adapters.email.reply import send_reply
from bot.config import Config, Source
from bot.config.email import EmailSettings, settings_of
from bot.domain.events import Author, InboundMessage
from bot.domain.polling import PollResult, Recent
from bot.domain.ports import Delivered, Messenger, ReplyTarget

log = logging.getLogger("nudgebot.email")
ThreadsOf = Callable[[str, Sequence[str]], Awaitable[Mapping[str, str]]]
Observe = Callable[[str, str, int], None]  # (platform, event, count): the metrics' counter
SessionFactory = Callable[[], Session]
Sleep = Callable[[float], Awaitable[None]]


async def _no_threads(_source: str, _ids: Sequence[str]) -> Mapping[str, str]:
    return {}


def _no_observe(_platform: str, _event: str, _count: int) -> None:
    return None


class EmailPoller:
    platform = PLATFORM

    def __init__(
        self,
        source: Source,
        settings: EmailSettings,
        config: Config,
        now: Callable[[], datetime],
        *,
        threads_of: ThreadsOf = _no_threads,
        page: int = PAGE,
        session: SessionFactory | None = None,
        observe: Observe = _no_observe,
    ) -> None:
        self.source = source.id
        self.settings = settings
        self.config = config
        self.now = now
        self.threads_of = threads_of
        self.observe = observe  # nudgebot_platform_events_total{platform="email",event=…}
        self.session = session or (lambda: Session(settings.imap))
        self.reader = Reader(self.source, settings, now, self.session, page)
        self._threads = Recent(50_000)  # Message-ID -> thread (a cache of what is stored)
        self.skipped = 0  # auto-replies, lists, bounces: how many so far (for the log)
        self.waiter = Waiter(self.source, Idler(self.session), observe)
        self.seen: dict[str, list[int]] = {}  # the cursor of the last good poll, for IDLE

    # -- read by bot.wiring.polled (the registry's ``poller`` is this class) ---------------

    UNREADY_AFTER = 3  # consecutive failed polls of a mailbox before /readyz says so

    @property
    def sent(self) -> str | None:
        """The mailbox flagged ``\\Sent``, once found."""
        return self.reader.sent

    @property
    def missing(self) -> set[str]:
        return self.reader.missing

    @property
    def failing(self) -> str | None:
        """Why the source is not ready though its polls succeed (/readyz): a folder gone."""
        if not self.missing:
            return None
        return f"folder {', '.join(sorted(self.missing))} missing on the server"

    @classmethod
    def from_source(
        cls,
        source: Source,
        config: Config,
        now: Callable[[], datetime],
        *,
        threads_of: ThreadsOf,
        observe: Observe,
    ) -> EmailPoller:
        """The poller for a configured source (its keys read, or ``EmailConfigError``)."""
        return cls(source, settings_of(source), config, now,
                   threads_of=threads_of, observe=observe)  # fmt: skip

    @staticmethod
    def messenger(sources: Mapping[str, object]) -> Messenger | None:
        """``notify: email``: through the first of these sources with ``smtp:``."""
        from adapters.email import email_messenger  # the package imports this module

        return email_messenger(sources)

    # -- polling ---------------------------------------------------------------------------

    async def poll(self, _client: httpx.AsyncClient, cursor: str | None) -> PollResult:
        state, subjects = load(cursor, self.source)
        try:
            fetched = await asyncio.to_thread(self.reader.fetch, state)
        except (imaplib.IMAP4.error, OSError) as exc:  # BAD answers, dropped connections
            raise ImapError(
                f"IMAP {self.settings.imap.host}: {type(exc).__name__}: {exc}"
            ) from None
        messages: list[InboundMessage] = []
        skipped = 0
        for mail, received, in_sent in fetched.mails:
            if mail.automatic is not None:
                skipped += 1
                log.info(
                    "%s: %s from %s opens no wait (%s)",
                    self.source,
                    mail.message_id,
                    mail.sender or "?",
                    mail.automatic,
                )
                continue
            messages.append(await self._message(mail, received, in_sent, subjects))
        self.skipped += skipped
        self.seen = fetched.state
        for event, count in (
            ("mail_read", len(messages)),
            ("automatic_skipped", skipped),
            ("too_big_refused", len(fetched.rejected)),
            ("folder_missing", len(self.missing)),  # every poll while gone: an alert's rate
            ("uidvalidity_changed", fetched.renumbered),
        ):
            if count:
                self.observe(PLATFORM, event, count)
        return PollResult(
            messages=messages,
            cursor=dump(fetched.state, subjects),
            more=fetched.more,
            rejected=tuple(fetched.rejected),
        )

    # -- between polls ---------------------------------------------------------------------

    async def wait(self, seconds: float, sleep: Sleep) -> None:
        """Until the next poll (``PolledSource`` asks after a good poll): new mail announced
        by IMAP IDLE, or ``seconds`` (``poll_every``) when the server has no IDLE."""
        folders = {f: self.seen.get(f) for f in self._folders() if f not in self.missing}
        await self.waiter.wait(folders, seconds, sleep)

    # -- one mail --------------------------------------------------------------------------

    def _team(self, address: str) -> tuple[bool, str | None]:
        person = self.config.person_by_platform("email", address) if address else None
        domain = address.rpartition("@")[2]
        ours = address == self.settings.address or domain in self.settings.team_domains
        return ours or person is not None, person

    async def _thread(self, mail: Mail, customer: str, subjects: Recent) -> str:
        parents = [p for p in (mail.in_reply_to, *reversed(mail.references)) if p]
        thread = next((self._threads[p] for p in parents if p in self._threads), None)
        if thread is None and parents:
            stored = await self.threads_of(self.source, parents)
            thread = next((stored[p] for p in parents if p in stored), None)
            thread = thread or (mail.references[0] if mail.references else parents[0])
        key = topic(thread_subject(mail.subject), customer)
        if thread is None and says_reply(mail.subject):
            thread = subjects.get(key)  # "Re: …" without any ids
        thread = thread or mail.message_id
        self._threads[mail.message_id] = thread
        subjects[key] = thread  # saved in the cursor, with the mail: restarts keep it
        return thread

    async def _message(
        self, mail: Mail, received: datetime | None, in_sent: bool, subjects: Recent
    ) -> InboundMessage:
        is_team, person = self._team(mail.sender)
        is_team = is_team or in_sent
        customer = (
            next((a for a in mail.recipients if not self._team(a)[0]), "")
            if is_team
            else mail.sender
        )
        return InboundMessage(
            source=self.source,
            platform=self.platform,
            message_id=mail.message_id,
            thread=await self._thread(mail, customer, subjects),
            at=_when(mail.date, received, self.now()),
            author=Author(mail.sender or "unknown", mail.sender_name or mail.sender),
            is_team=is_team,
            text=(
                f"{mail.subject}\n\n{mail.text}"
                if mail.subject and not mail.in_reply_to
                else mail.text
            ),
            person=person,
        )

    # -- reply-through ---------------------------------------------------------------------

    async def reply(
        self, _client: httpx.AsyncClient, target: ReplyTarget, text: str, person: str
    ) -> Delivered:
        found = self.config.person(person)
        name = found.name if found is not None else person
        try:
            sent = await asyncio.to_thread(
                send_reply, self.settings, self.session, target, text, name, self._folders()
            )
        except Exception:
            self.observe(PLATFORM, "reply_failed", 1)
            raise
        self.observe(PLATFORM, "reply_sent", 1)
        self._threads[sent] = target.thread
        return Delivered(sent)

    def _folders(self) -> list[str]:
        return [*self.settings.folders, *([self.sent] if self.sent else [])]


def _when(claimed: datetime | None, received: datetime | None, now: datetime) -> datetime:
    """The Date header, unless the server's arrival time shows it is off (a sender's clock,
    or a Date forged into the future or the far past to jump the queue)."""
    anchor = received or now
    if claimed is not None and anchor - timedelta(days=1) <= claimed <= anchor + timedelta(
        minutes=5
    ):
        return claimed
    return anchor
