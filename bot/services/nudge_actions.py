"""What the buttons on a nudge do: claim, snooze, not needed, reply (and unclaim).

Every action is a row in ``actions`` (who, when, until, note) and so part of the
conversation's history. Each runs in one write transaction that first locks the conversation,
then moves the ladder: nudges not yet sent are cancelled, sent ones owe an in-place update.

Reply: the adapter's ``Replier`` posts into the customer's thread, then the posted message is
ingested as the replying member's team message (id = the platform's message id), which ends
the waiting period exactly as a reply typed on the platform would — including the in-place
"answered by …" update of every nudge sent for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot import platforms
from bot.domain.events import ActionKind, Author, InboundMessage
from bot.domain.ladder_inputs import Track
from bot.domain.ports import (
    ActionRequest,
    ActionResult,
    DeliveryError,
    NudgeUpdate,
    Replier,
    ReplyTarget,
)
from bot.domain.ports import Outcome as OutcomeKind
from bot.domain.reply_window import describe_window, window_closes_at, window_open, window_span
from bot.inbox.inbox import Inbox
from bot.services.nudge_plan import Planner, settle_rows
from bot.services.nudge_settings import NudgeSettings
from storage import actions_repo as repo
from storage import nudges_repo
from storage.db import Database

DEFAULT_SNOOZE = timedelta(minutes=30)
Now = Callable[[], datetime]
Woken = Callable[[datetime | None], None]


class Actions:
    def __init__(
        self,
        db: Database,
        settings: NudgeSettings,
        planner: Planner,
        inbox: Inbox,
        repliers: Mapping[str, Replier],
        now: Now,
        woken: Woken,
    ) -> None:
        self.db = db
        self.settings = settings
        self.planner = planner
        self.inbox = inbox
        self.repliers = repliers
        self.now = now
        self.woken = woken

    def _person(self, raw: str) -> str | None:
        return self.settings.config.person_by_identity(raw)

    async def act(self, req: ActionRequest) -> ActionResult:
        person = self._person(req.person)
        if person is None:
            return ActionResult(False, "Only team members in the config can act on nudges.")
        if req.kind is ActionKind.REPLY:
            return await self._reply(req, person)
        wake: datetime | None = None
        async with self.db.write() as session:
            conv = await repo.lock_conversation(session, req.conversation_id)
            if conv is None:
                return ActionResult(False, "That conversation no longer exists.")
            if req.kind is ActionKind.UNCLAIM:
                await repo.set_claim(session, conv.id, None)
                await repo.record_action(
                    session, conv.id, req.kind.value, person, req.at, via=req.via, note=req.note
                )
                now = self.now()
                wake = (await self.planner.refresh(session, [conv.id], now)).wake_at(now)
                result = ActionResult(True, "Unclaimed: routing is back to normal.")
            elif conv.waiting_since is None:
                return await self._not_waiting(session, conv.id)
            elif req.kind is ActionKind.NOT_NEEDED:
                await repo.record_action(
                    session, conv.id, req.kind.value, person, req.at, via=req.via, note=req.note
                )
                await self.inbox.recompute(session, [conv.id])  # it settles the nudges
                result = ActionResult(True, "Marked as not needed: nobody will be nudged.")
            else:
                result = await self._steer(session, conv, req, person)
                await self.planner.refresh(session, [conv.id], self.now())
                wake = self.now()  # sent nudges owe an in-place update
        self.woken(wake)
        return result

    async def _steer(
        self, session: AsyncSession, conv: repo.Locked, req: ActionRequest, person: str
    ) -> ActionResult:
        assert conv.waiting_since is not None
        after = int((req.at - conv.waiting_since).total_seconds())
        rows = [
            r
            for r in await nudges_repo.unsettled(session, [conv.id])
            if r.period_start == conv.waiting_since
        ]
        now = self.now()
        if req.kind is ActionKind.CLAIM:
            await repo.set_claim(session, conv.id, person)
            await repo.record_action(
                session, conv.id, req.kind.value, person, req.at, via=req.via, note=req.note
            )
            outcome = NudgeUpdate(OutcomeKind.CLAIMED, person, req.at, after)
            await settle_rows(session, rows, outcome, now, tracks=(Track.RESPONSIBLE,))
            if conv.claimed_by and conv.claimed_by != person:
                before = self.settings.name(conv.claimed_by)
                return ActionResult(True, f"Claimed (was {before}'s).")
            return ActionResult(True, "Claimed: it's yours.")
        if req.kind is ActionKind.SNOOZE:
            until = req.until or req.at + DEFAULT_SNOOZE
            if until <= req.at:
                return ActionResult(False, "A snooze must end in the future.")
            await repo.set_snooze(session, conv.id, until)
            await repo.record_action(
                session,
                conv.id,
                req.kind.value,
                person,
                req.at,
                until=until,
                via=req.via,
                note=req.note,
            )
            outcome = NudgeUpdate(OutcomeKind.SNOOZED, person, req.at, after, until)
            await settle_rows(session, rows, outcome, now, tracks=None)
            local = until.astimezone(ZoneInfo(self.settings.timezone(person)))
            return ActionResult(True, f"Snoozed until {local:%a %H:%M}.")
        return ActionResult(False, f"Unknown action {req.kind}.")

    async def _not_waiting(self, session: AsyncSession, conversation_id: int) -> ActionResult:
        last = await repo.last_period(session, conversation_id)
        if last is None or last.ended_at is None:
            return ActionResult(False, "Nobody is waiting in that conversation.")
        who = self.settings.name(last.answered_by) if last.answered_by else "someone"
        if last.end_reason == "reply":
            return ActionResult(False, f"Already answered by {who}.")
        return ActionResult(False, f"Already marked as not needed by {who}.")

    async def _reply(self, req: ActionRequest, person: str) -> ActionResult:
        text = req.text.strip()
        if not text:
            return ActionResult(False, "A reply needs some text.")
        async with self.db.read() as session:
            conv = await repo.lock_conversation(session, req.conversation_id, lock=False)
            reply_to = await repo.last_customer_message(session, req.conversation_id)
            last_at = await repo.last_customer_message_at(session, req.conversation_id)
        if conv is None:
            return ActionResult(False, "That conversation no longer exists.")
        window = platforms.reply_window(conv.platform)
        closes = window_closes_at(window, last_at)
        if not window_open(closes, self.now()):
            # Refused here rather than failing at the platform (WhatsApp error 131047).
            assert closes is not None and window is not None
            return ActionResult(
                False,
                f"Not sent: {describe_window(closes, self.now())} (closed "
                f"{closes:%Y-%m-%d %H:%M} UTC, {window_span(window)} after the customer's "
                "last message).",
            )
        replier = self.repliers.get(conv.platform)
        if replier is None:
            return ActionResult(
                False, f"Replying from here is not possible for {conv.platform}; answer there."
            )
        target = ReplyTarget(conv.source, conv.platform, conv.channel, conv.thread, reply_to)
        try:
            posted = await replier.send_reply(target, text, person)
        except DeliveryError as exc:
            return ActionResult(False, f"The reply was not posted: {exc}")
        member = self.settings.config.person(person)
        identity = getattr(member, conv.platform, None) if member is not None else None
        message = InboundMessage(
            source=conv.source,
            platform=conv.platform,
            message_id=posted.ref,
            thread=conv.thread,
            channel=conv.channel,
            at=req.at,
            author=Author(str(identity or person), self.settings.name(person)),
            is_team=True,
            text=text,
            person=person,
        )
        await self.inbox.ingest([message])
        async with self.db.write() as session:
            await repo.record_action(
                session,
                conv.id,
                ActionKind.REPLY.value,
                person,
                req.at,
                note=text[:500],
                via=req.via,
            )
        return ActionResult(True, "Replied in the thread.")
