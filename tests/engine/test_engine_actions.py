"""Actions on a nudge and what they do to the ladder and to nudges already sent."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.domain.events import ActionKind
from bot.domain.ports import Outcome, Step
from bot.services.history import conversation_history
from storage.db import Database
from storage.models import ActionRecord
from tests.engine.engine_kit import Clock, Harness, berlin, make_config

FIRST, REMINDER = Step.FIRST, Step.REMINDER
T0 = berlin("2026-06-03 10:00")  # a Wednesday; the test policy runs 24/7


async def started(db: Database, **config: object) -> tuple[Harness, int]:
    h = Harness(db, Clock(T0), make_config(**config))  # type: ignore[arg-type]
    cid = await h.customer("t1", T0)
    await h.tick(T0 + timedelta(minutes=15))
    assert h.sent_to() == [("alice", FIRST)]
    return h, cid


async def test_answered_updates_sent_nudges_in_place(db: Database) -> None:
    h, cid = await started(db)
    await h.tick(T0 + timedelta(minutes=45))
    assert len(h.sent) == 2
    await h.team("t1", T0 + timedelta(minutes=48), "bob", "Shipped today!")
    await h.tick(T0 + timedelta(minutes=48, seconds=1))
    updates = h.messenger.updates
    assert sorted(ref for ref, _ in updates) == sorted(c.ref for c in h.messenger.calls
                                                       if c.kind == "nudge")  # fmt: skip
    for _, update in updates:
        assert (update.outcome, update.by) == (Outcome.ANSWERED, "Bob")
        assert update.after_seconds == 48 * 60
    await h.tick(T0 + timedelta(hours=5))
    assert len(h.sent) == 2 and len(h.messenger.updates) == 2  # nothing more, nothing twice
    assert await h.next_nudge_at(cid) is None


async def test_answer_before_due_cancels_nothing_sent_and_plans_nothing(db: Database) -> None:
    h = Harness(db, Clock(T0), make_config())
    cid = await h.customer("t1", T0)
    await h.team("t1", T0 + timedelta(minutes=5), "alice")
    assert await h.next_nudge_at(cid) is None
    await h.tick(T0 + timedelta(hours=2))
    assert h.sent == [] and await h.rows() == []


async def test_snooze_moves_the_next_nudge_and_holds_the_escalation(db: Database) -> None:
    from bot.config import Escalation

    h, cid = await started(db, escalate_after="30m", escalate_to=Escalation("person", "bob"))
    h.clock.set(T0 + timedelta(minutes=20))
    until = T0 + timedelta(minutes=20, hours=2)
    result = await h.act(cid, ActionKind.SNOOZE, "alice", until=until)
    assert result.ok and "Snoozed until" in result.message
    await h.tick(T0 + timedelta(minutes=20, seconds=1))
    assert [u.outcome for _, u in h.messenger.updates] == [Outcome.SNOOZED]
    assert h.messenger.updates[0][1].until == until
    for minutes in (45, 75, 105, 135):  # reminders and the escalation would have been due
        await h.tick(T0 + timedelta(minutes=minutes))
    assert h.sent_to() == [("alice", FIRST)]
    await h.tick(until)
    assert sorted(h.sent_to()[1:]) == [("alice", REMINDER), ("bob", Step.ESCALATION)]
    await h.tick(until + timedelta(minutes=29))
    assert len(h.sent) == 3
    await h.tick(until + timedelta(minutes=30))
    assert h.sent_to()[-1] == ("alice", REMINDER)


async def test_claim_makes_the_claimer_responsible(db: Database) -> None:
    h, cid = await started(db)
    h.clock.set(T0 + timedelta(minutes=20))
    result = await h.act(cid, ActionKind.CLAIM, "bob")
    assert result.ok
    await h.tick(T0 + timedelta(minutes=20, seconds=1))
    ((_, update),) = h.messenger.updates
    assert (update.outcome, update.by, update.after_seconds) == (Outcome.CLAIMED, "Bob", 20 * 60)
    await h.tick(T0 + timedelta(minutes=45))  # alice's reminder is gone: bob claimed it
    assert h.sent_to() == [("alice", FIRST)]
    await h.tick(T0 + timedelta(minutes=50))  # the claimer gets remind_every of peace
    assert h.sent_to() == [("alice", FIRST), ("bob", FIRST)]
    assert h.sent[-1].responsible == ("bob",)
    # Answered later: every nudge sent for it shows the answer, the claimed one included.
    await h.team("t1", T0 + timedelta(minutes=55), "bob")
    await h.tick(T0 + timedelta(minutes=55, seconds=1))
    outcomes = [u.outcome for _, u in h.messenger.updates]
    assert outcomes == [Outcome.CLAIMED, Outcome.ANSWERED, Outcome.ANSWERED]


async def test_not_needed_ends_the_period(db: Database) -> None:
    h, cid = await started(db)
    h.clock.set(T0 + timedelta(minutes=16))
    result = await h.act(cid, ActionKind.NOT_NEEDED, "alice")
    assert result.ok
    await h.tick(T0 + timedelta(minutes=16, seconds=1))
    ((_, update),) = h.messenger.updates
    assert (update.outcome, update.by) == (Outcome.NOT_NEEDED, "Alice")
    await h.tick(T0 + timedelta(hours=3))
    assert len(h.sent) == 1 and await h.next_nudge_at(cid) is None
    again = await h.act(cid, ActionKind.CLAIM, "bob")
    assert not again.ok and "not needed by Alice" in again.message


async def test_not_needed_cancels_a_nudge_waiting_for_hours(db: Database) -> None:
    from tests.engine.engine_kit import person

    team = {"alice": person("alice", owner=True, hours="Mon-Fri 09:00-17:00",
                            timezone="Europe/Berlin")}  # fmt: skip
    night = berlin("2026-06-03 22:00")
    h = Harness(db, Clock(night), make_config(team=team))
    cid = await h.customer("t1", night)
    await h.tick(night + timedelta(minutes=15))
    assert [r.state for r in await h.rows()] == ["pending"]  # waiting for alice's morning
    assert (await h.act(cid, ActionKind.NOT_NEEDED, "alice")).ok
    await h.tick(berlin("2026-06-04 09:00"))
    assert h.sent == [] and [r.state for r in await h.rows()] == ["cancelled"]


async def test_reply_posts_through_the_replier_and_ends_waiting(db: Database) -> None:
    h, cid = await started(db)
    h.clock.set(T0 + timedelta(minutes=18))
    result = await h.act(cid, ActionKind.REPLY, "bob", text="It ships today.")
    assert result.ok
    (reply,) = h.messenger.replies
    assert reply.target is not None and reply.target.thread == "t1"
    await h.tick(T0 + timedelta(minutes=18, seconds=1))
    ((_, update),) = h.messenger.updates
    assert (update.outcome, update.by, update.after_seconds) == (Outcome.ANSWERED, "Bob", 18 * 60)


async def test_every_action_is_recorded_and_in_the_history(db: Database) -> None:
    h, cid = await started(db)
    h.clock.set(T0 + timedelta(minutes=16))
    await h.act(cid, ActionKind.CLAIM, "bob")
    h.clock.set(T0 + timedelta(minutes=17))
    await h.act(cid, ActionKind.SNOOZE, "bob", until=T0 + timedelta(hours=1))
    h.clock.set(T0 + timedelta(minutes=18))
    await h.act(cid, ActionKind.NOT_NEEDED, "bob")
    async with db.read() as s:
        kinds = (await s.scalars(select(ActionRecord.kind).order_by(ActionRecord.at))).all()
    assert kinds == ["claim", "snooze", "not_needed"]
    events = await conversation_history(db, cid)
    assert [(e.kind, e.what) for e in events if e.kind != "message"] == [
        ("nudge", "first"), ("action", "claim"), ("action", "snooze"), ("action", "not_needed"),
    ]  # fmt: skip


async def test_strangers_cannot_act(db: Database) -> None:
    h, cid = await started(db)
    result = await h.act(cid, ActionKind.CLAIM, "mallory")
    assert not result.ok


async def test_waiting_rows_count_nudges_sent(db: Database) -> None:
    from bot.services.waiting import list_waiting

    h, _cid = await started(db)
    await h.tick(T0 + timedelta(minutes=45))
    (row,) = await list_waiting(db, h.runtime.routing, h.clock())
    assert row.nudges_sent == 2
