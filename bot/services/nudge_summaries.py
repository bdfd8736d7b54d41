"""Sending summary messages: claim the summaries owed a send or an edit, build each one from
the database as it is now, post it (a new message) or edit it in place.

What a summary says is what `waiting --json` says for that person at that moment (the same
``list_waiting`` filtered to them): how many are waiting on them, the oldest few with their
buttons, and where the rest are (the dashboard filtered to them, ``/waiting mine``). Batched
escalations of conversations they are not responsible for are listed too and counted apart.
Owners, after an import, also get the team's totals by source and by person.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from urllib.parse import quote

from bot.domain.ports import DeliveryError, Messenger, Recipient
from bot.domain.summary import SummaryItem, SummaryMessenger, SummaryReason, SummaryView
from bot.services.delivery_results import Backoff
from bot.services.leases import Leases
from bot.services.nudge_settings import NudgeSettings
from bot.services.waiting import WaitingRow, to_row
from bot.services.waiting_page import Query, people_of, waiting_page
from storage import summaries_repo as summaries
from storage import summary_claims_repo as summary_claims
from storage import waiting_page_queries as waiting_store
from storage.db import Database
from storage.outbox_repo import LEASE, RENEW_EVERY
from storage.summary_claims_repo import ClaimedSummary

log = logging.getLogger("nudgebot.delivery")
OLDEST = 5  # conversations listed with buttons; the rest are one link away
IN_FLIGHT_RECHECK = timedelta(seconds=5)
PUBLIC_URL_ENV = "NUDGEBOT_PUBLIC_URL"
Now = Callable[[], datetime]


def dashboard_link(base: str, person: str | None) -> str:
    base = base.strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        return ""
    return f"{base}/?person={quote(person, safe='')}" if person else f"{base}/"


def summary_text(view: SummaryView) -> str:
    """Plain text for a messenger that has no summary rendering of its own."""
    lines = [f"{view.waiting} conversations are waiting on you."]
    for item in view.oldest:
        lines.append(
            f"- {item.customer or 'A customer'} in {item.source} (#{item.conversation_id})"
        )
    if view.more:
        lines.append(f"… and {view.more} more: {view.link or view.command}")
    if view.held_back:
        lines.append(f"{view.held_back} nudges were held back (max_messages_per_hour).")
    return "\n".join(lines)


class SummarySender:
    def __init__(
        self,
        db: Database,
        settings: NudgeSettings,
        messengers: Mapping[str, Messenger],
        now: Now,
        *,
        can_reply: Callable[[str], bool] = lambda _platform: False,
        rng: random.Random | None = None,
        backoff: Backoff | None = None,
        public_url: str | None = None,
        call_timeout: float = LEASE.total_seconds() * 0.75,
    ) -> None:
        self.db = db
        self.settings = settings
        self.messengers = messengers
        self.now = now
        self.can_reply = can_reply
        self.rng = rng or random.Random()
        self.backoff = backoff or Backoff()
        self.public_url = public_url
        self.call_timeout = call_timeout
        self.renew_every = RENEW_EVERY.total_seconds()

    def link(self, person: str | None) -> str:
        base = self.public_url if self.public_url is not None else os.environ.get(PUBLIC_URL_ENV)
        return dashboard_link(base or "", person)

    async def run(self, limit: int = 50) -> int:
        """Send what is owed. Every claimed summary's lease is renewed until its result is
        committed (bot.services.leases), as single nudges' are: the ones still queued behind
        a slow call, and the one in flight, stay this replica's (a call may take up to
        ``call_timeout``, longer than a lease)."""
        now = self.now()
        async with self.db.write() as session:
            claimed = await summary_claims.claim(session, now, limit)
        if not claimed:
            return 0
        leases = Leases(self.db, self.now, summaries=True, every=self.renew_every)
        for c in claimed:
            leases.hold(c.id, c.attempt)
        async with leases.renewing():
            for c in claimed:
                try:
                    await self._one(c)
                finally:
                    leases.release([c.id])
        return len(claimed)

    async def _one(self, c: ClaimedSummary) -> None:
        now = self.now()
        post = c.post_due or c.platform_ref is None
        if post:
            limits = self.settings.config.nudge_limits(c.recipient_person)
            async with self.db.read() as session:
                counts = await summaries.lane_counts(
                    session, (c.recipient_platform, c.recipient_address), now,
                    (limits.batch_after, limits.batch_window, limits.max_messages_per_hour), [],
                )  # fmt: skip
            if counts.last_hour >= limits.max_messages_per_hour:
                # Full: wait for the hour to have room (a nudge still in flight counts too,
                # its time is not known yet: look again shortly).
                later = max(now, counts.free_at) if counts.free_at else now + IN_FLIGHT_RECHECK
                async with self.db.write() as session:
                    await summary_claims.finish(
                        session,
                        c,
                        now,
                        retry_at=later,
                        error="waiting for room in max_messages_per_hour",
                    )
                return
        view = await self.view(c, now)
        messenger = self.messengers.get(c.recipient_platform)
        ref: str | None = None
        error, retry_after, permanent = "", None, False
        try:
            if messenger is None:
                raise DeliveryError(f"no {c.recipient_platform or 'messenger'} messenger running")
            ref = await asyncio.wait_for(self._call(messenger, c, view, post), self.call_timeout)
        except DeliveryError as exc:
            error, retry_after, permanent = str(exc), exc.retry_after, exc.permanent
        except Exception as exc:  # a broken adapter must not stop the other summaries
            error = f"{exc.__class__.__name__}: {exc}"
        now = self.now()
        async with self.db.write() as session:
            if not error:
                shown = post or isinstance(messenger, SummaryMessenger)
                held = await summary_claims.finish(
                    session, c, now, posted=ref if post else None, shown=shown
                )
                if not held:
                    log.warning("summary %s had lost its lease to another replica", c.id)
            elif permanent or c.attempt >= self.backoff.max_attempts:
                log.error("summary %s to %s failed: %s", c.id, c.recipient_address, error)
                await summary_claims.finish(session, c, now, error=error, failed=True)
            else:
                delay = self.backoff.delay(c.attempt, retry_after, self.rng)
                log.warning("summary %s: %s; retry in %.1fs", c.id, error, delay)
                await summary_claims.finish(session, c, now, error=error,
                                       retry_at=now + timedelta(seconds=delay))  # fmt: skip

    async def _call(
        self, messenger: Messenger, c: ClaimedSummary, view: SummaryView, post: bool
    ) -> str | None:
        if isinstance(messenger, SummaryMessenger):
            if post or c.platform_ref is None:
                return (await messenger.send_summary(view)).ref
            await messenger.update_summary(c.platform_ref, view)
            return None
        if not post:
            return None  # a plain-text notice cannot be edited: nothing to do
        return (await messenger.send_text(view.recipient, summary_text(view))).ref

    async def view(self, c: ClaimedSummary, now: datetime) -> SummaryView:
        """Read what the summary shows, and only that: the grouped counts of who is waiting
        (one row per source × claim × overdue), the recipient's oldest few (a keyset page
        filtered to them, as ``waiting --json --person`` filters), the escalations batched to
        them, and the batched nudges behind the listed rows — never every waiting row."""
        person = c.recipient_person
        routing = self.settings.routing
        lane = (c.recipient_platform, c.recipient_address)
        async with self.db.read() as session:
            groups = await waiting_store.groups(session, now)
        people = people_of(routing, now)
        responsible = [g for g in groups if person is not None and person in people(g)]
        mine: list[WaitingRow] = []
        if person is not None:
            page = await waiting_page(
                self.db, routing, now, Query(person=person, limit=OLDEST), groups
            )
            mine = page.rows
        pairs = sorted({(g.source, g.claimed_by) for g in responsible}, key=_pair_key)
        async with self.db.read() as session:
            escalated_count, records = await summary_claims.escalations(
                session, lane, pairs, OLDEST
            )
        escalated = [to_row(r, routing, now) for r in records]
        listed = sorted([*mine, *escalated], key=lambda r: (r.waiting_since, r.conversation))
        listed = listed[:OLDEST]
        async with self.db.read() as session:
            batched = await summary_claims.batched_nudges(
                session, lane, [r.conversation for r in listed]
            )
        items = tuple(self._item(r, batched.get(r.conversation, 0)) for r in listed)
        owner = person is not None and person in routing.owners
        team = c.reason == SummaryReason.IMPORT.value and owner
        by_source: Counter[str] = Counter()
        by_person: Counter[str] = Counter()
        if team:
            for g in groups:
                by_source[g.source] += g.count
                primary = routing.route(g.source, g.claimed_by, now).primary
                by_person[self.settings.name(primary) if primary else "nobody"] += g.count
        return SummaryView(
            summary_id=c.id,
            recipient=Recipient(
                c.recipient_platform, c.recipient_address, person, self.settings.timezone(person)
            ),
            reason=SummaryReason(c.reason),
            now=now,
            waiting=sum(g.count for g in responsible),
            escalated=escalated_count,
            oldest=items,
            held_back=c.held_back,
            link=self.link(person),
            team_waiting=sum(g.count for g in groups) if team else None,
            by_source=_ordered(by_source) if team else (),
            by_person=_ordered(by_person) if team else (),
        )

    def _item(self, row: WaitingRow, nudge_id: int) -> SummaryItem:
        return SummaryItem(
            conversation_id=row.conversation,
            nudge_id=nudge_id,
            customer=row.customer,
            source=row.source,
            platform=row.platform,
            channel=row.channel,
            waiting_since=row.waiting_since,
            url=row.url,
            can_reply=self.can_reply(row.platform),
        )


def _pair_key(pair: tuple[str, str | None]) -> tuple[str, str]:
    return (pair[0], pair[1] or "")


def _ordered(counts: Counter[str]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
