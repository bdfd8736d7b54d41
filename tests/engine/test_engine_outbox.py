"""The outbox: retries, Retry-After, permanent failures, leases after a crash, restarts with a
changed config, and claims that never hand one row to two claimers."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.domain.ports import DeliveryError, Outcome, Step
from storage import outbox_repo as outbox
from storage.db import Database, connect
from storage.models import Conversation, Nudge
from storage.outbox_repo import LEASE
from tests.engine.engine_kit import Clock, Harness, berlin, make_config, person

T0 = berlin("2026-06-03 10:00")
DUE = T0 + timedelta(minutes=15)


async def due_harness(db: Database, **config: object) -> Harness:
    h = Harness(db, Clock(T0), make_config(**config))  # type: ignore[arg-type]
    await h.customer("t1", T0)
    return h


async def test_retry_after_is_honoured(db: Database) -> None:
    h = await due_harness(db)
    h.messenger.fail_next(1, DeliveryError("rate limited", retry_after=30))
    await h.tick(DUE)
    assert h.sent == []
    (row,) = await h.rows()
    assert row.state == "pending" and row.attempts == 1 and "rate limited" in row.last_error
    assert row.next_attempt_at is not None and row.next_attempt_at >= DUE + timedelta(seconds=30)
    assert row.next_attempt_at <= DUE + timedelta(seconds=33)  # at most 10 % jitter on top
    await h.tick(DUE + timedelta(seconds=29))
    assert h.sent == []
    await h.tick(DUE + timedelta(seconds=34))
    assert len(h.sent) == 1
    (row,) = await h.rows()
    assert row.state == "sent" and row.attempts == 2 and row.sent_at == DUE + timedelta(seconds=34)


async def test_transient_errors_back_off_exponentially(db: Database) -> None:
    h = await due_harness(db)
    h.messenger.fail_next(3)
    await h.tick(DUE)
    waits = []
    for _ in range(3):
        (row,) = await h.rows()
        assert row.next_attempt_at is not None
        waits.append((row.next_attempt_at - h.clock()).total_seconds())
        await h.tick(row.next_attempt_at)
    assert len(h.sent) == 1
    # base 5 s, doubled per attempt, jittered within [50 %, 100 %]
    assert 2.5 <= waits[0] <= 5 and 5 <= waits[1] <= 10 and 10 <= waits[2] <= 20


async def test_permanent_error_fails_at_once_and_retries_stop(db: Database) -> None:
    h = await due_harness(db)
    h.messenger.fail_next(1, DeliveryError("user_not_found", permanent=True))
    await h.tick(DUE)
    (row,) = await h.rows()
    assert row.state == "failed" and row.next_attempt_at is None and row.attempts == 1
    await h.tick(DUE + timedelta(minutes=5))
    assert [c.ok for c in h.messenger.calls] == [False]
    await h.tick(DUE + timedelta(minutes=30))  # the ladder itself goes on
    assert [v.step for v in h.sent] == [Step.REMINDER]


async def test_gives_up_after_max_attempts(db: Database) -> None:
    h = await due_harness(db, remind_every=None)
    h.messenger.fail_next(10)
    await h.tick(DUE)
    for _ in range(10):
        (row,) = await h.rows()
        if row.next_attempt_at is None:
            break
        await h.tick(row.next_attempt_at)
    (row,) = await h.rows()
    assert row.state == "failed" and row.attempts == 5 and h.sent == []


async def test_crash_between_claim_and_send_resends_exactly_once(db: Database) -> None:
    h = await due_harness(db, remind_every=None)
    await h.tick(DUE - timedelta(seconds=1))  # nothing due yet: nothing planned
    h.clock.set(DUE)
    async with db.write() as s:  # plan the row, as a tick would…
        ids = [c for c in [await h.cid("t1")]]
        await h.engine.planner.plan(s, ids, DUE)
    async with db.write() as s:  # …then a replica claims it and dies before sending
        (claimed,) = await outbox.claim_deliveries(s, DUE, 10)
    await h.tick(DUE + timedelta(seconds=1))
    await h.tick(DUE + LEASE - timedelta(seconds=1))
    assert h.sent == []  # the lease still holds it
    await h.tick(DUE + LEASE)
    assert len(h.sent) == 1
    await h.tick(DUE + LEASE + timedelta(minutes=10))
    assert len(h.sent) == 1
    (row,) = await h.rows()
    assert row.state == "sent" and row.attempts == 2
    # The dead replica's late report is refused: its lease token (attempt 1) is stale.
    async with db.write() as s:
        assert not await outbox.mark_sent(s, claimed.id, claimed.attempt, "late", DUE)


async def test_late_report_from_an_earlier_attempt_is_refused_while_a_later_one_sends(
    db: Database,
) -> None:
    """The attempt number is the lease token: with the row still ``sending`` under attempt 2,
    attempt 1's late report (sent, retry or failure) must change nothing; only attempt 2's
    own report is recorded. The state check alone cannot tell the two apart here."""
    h = await due_harness(db, remind_every=None)
    h.clock.set(DUE)
    async with db.write() as s:
        await h.engine.planner.plan(s, [await h.cid("t1")], DUE)
    async with db.write() as s:
        (first,) = await outbox.claim_deliveries(s, DUE, 10)
    async with db.write() as s:  # attempt 1's lease ran out: another replica claims the row
        (second,) = await outbox.claim_deliveries(s, DUE + LEASE, 10)
    assert (first.id, first.attempt) == (second.id, 1) and second.attempt == 2
    async with db.write() as s:
        assert not await outbox.mark_sent(s, first.id, first.attempt, "late", DUE + LEASE)
        assert not await outbox.mark_retry(s, first.id, first.attempt, DUE + LEASE, "late")
        assert not await outbox.mark_failed(s, first.id, first.attempt, "late")
    (row,) = await h.rows()
    assert (row.state, row.attempts, row.platform_ref, row.last_error) == ("sending", 2, None, "")
    async with db.write() as s:
        assert await outbox.mark_sent(s, second.id, second.attempt, "slack:7", DUE + LEASE)
    (row,) = await h.rows()
    assert (row.state, row.attempts, row.platform_ref) == ("sent", 2, "slack:7")


async def test_answer_while_sending_is_shown_once_the_send_is_recorded(db: Database) -> None:
    h = await due_harness(db, remind_every=None)
    h.clock.set(DUE)
    async with db.write() as s:
        await h.engine.planner.plan(s, [await h.cid("t1")], DUE)
    async with db.write() as s:
        (claimed,) = await outbox.claim_deliveries(s, DUE, 10)
    await h.team("t1", DUE + timedelta(seconds=1), "bob")  # answered mid-send
    async with db.write() as s:
        assert await outbox.mark_sent(s, claimed.id, claimed.attempt, "slack:42", DUE)
    await h.tick(DUE + timedelta(seconds=2))
    assert [(ref, u.outcome) for ref, u in h.messenger.updates] == [("slack:42", Outcome.ANSWERED)]


async def test_update_in_place_retries(db: Database) -> None:
    h = await due_harness(db, remind_every=None)
    await h.tick(DUE)
    await h.team("t1", DUE + timedelta(minutes=3), "bob")
    h.messenger.fail_next(1, DeliveryError("slow down", retry_after=10))
    await h.tick(DUE + timedelta(minutes=3))
    assert h.messenger.updates == []
    await h.tick(DUE + timedelta(minutes=3, seconds=12))
    assert [u.outcome for _, u in h.messenger.updates] == [Outcome.ANSWERED]
    (row,) = await h.rows()
    assert row.update_state == "done" and row.update_next_at is None


async def test_restart_with_a_changed_config_follows_it(db: Database) -> None:
    team = {
        "alice": person("alice", owner=True, hours="Mon-Fri 09:00-17:00", timezone="Europe/Berlin"),
        "bob": person("bob", timezone="Europe/Berlin"),
    }
    night = berlin("2026-06-03 22:00")
    h = Harness(db, Clock(night), make_config(team=team))
    cid = await h.customer("t1", night)
    await h.tick(night + timedelta(minutes=15))
    (row,) = await h.rows()  # alice's nudge waits for her morning
    assert row.state == "pending" and row.not_before == berlin("2026-06-04 09:00")
    # Restart: the source now belongs to bob (no hours), and replies are due within 5m.
    h.clock.set(night + timedelta(minutes=20))
    assert await h.restart(make_config(team=team, owner="bob", reply_within="5m")) == 1
    async with db.read() as s:
        due = await s.scalar(select(Conversation.due_at).where(Conversation.id == cid))
    assert due == night + timedelta(minutes=5)
    await h.tick(night + timedelta(minutes=20))
    assert h.sent_to() == [("bob", Step.FIRST)]
    states = sorted(r.state for r in await h.rows())
    assert states == ["cancelled", "sent"]
    await h.tick(berlin("2026-06-04 09:00"))
    assert h.sent_to() == [("bob", Step.FIRST), ("bob", Step.REMINDER)]


async def test_restart_with_the_same_config_sends_nothing_twice(db: Database) -> None:
    h = await due_harness(db)
    await h.tick(DUE)
    await h.restart(h.config)
    await h.tick(DUE + timedelta(minutes=1))
    await h.restart(h.config)
    await h.tick(DUE + timedelta(minutes=29))
    assert len(h.sent) == 1
    await h.tick(DUE + timedelta(minutes=30))
    assert [v.step for v in h.sent] == [Step.FIRST, Step.REMINDER]


async def test_an_earlier_message_arriving_late_keeps_the_ladder(db: Database) -> None:
    h = await due_harness(db, remind_every="1h")
    await h.tick(DUE)
    await h.customer("t1", T0 - timedelta(minutes=5), "Hello?")  # older, delivered late
    (row,) = await h.rows()
    assert row.period_start == T0 - timedelta(minutes=5) and row.state == "sent"
    await h.tick(DUE + timedelta(minutes=5))
    assert len(h.sent) == 1 and h.messenger.updates == []


async def test_concurrent_claims_never_share_a_row(db_url: str) -> None:
    db = connect(db_url)
    try:
        h = Harness(db, Clock(T0), make_config(remind_every=None))
        for n in range(60):
            await h.customer(f"t{n}", T0)
        async with db.write() as s:
            ids = list((await s.scalars(select(Conversation.id))).all())
            await h.engine.planner.plan(s, ids, DUE)
        others = [connect(db_url) for _ in range(4)]

        async def claimer(d: Database) -> list[int]:
            got: list[int] = []
            while True:
                async with d.write() as s:
                    rows = await outbox.claim_deliveries(s, DUE, 7)
                if not rows:
                    return got
                got.extend(r.id for r in rows)

        results = await asyncio.gather(*(claimer(d) for d in others))
        for d in others:
            await d.dispose()
        claimed = [i for r in results for i in r]
        assert len(claimed) == 60 == len(set(claimed))
        async with db.write() as s:  # and each exactly once: leases hold
            assert await outbox.claim_deliveries(s, DUE, 100) == []
            await s.execute(update(Nudge).values(state="cancelled", next_attempt_at=None))
    finally:
        await db.dispose()


async def _claimed_row(db: Database) -> tuple[Harness, outbox.Claimed]:
    h = await due_harness(db, remind_every=None)
    h.clock.set(DUE)
    async with db.write() as s:
        await h.engine.planner.plan(s, [await h.cid("t1")], DUE)
    async with db.write() as s:
        (claimed,) = await outbox.claim_deliveries(s, DUE, 10)
    return h, claimed


async def test_the_outbox_reports_its_next_work_and_its_states(db: Database) -> None:
    h = await due_harness(db, remind_every=None)
    async with db.read() as s:
        assert await outbox.next_work_at(s) is None
        assert await outbox.counts_by_state(s) == {}
    async with db.write() as s:
        await h.engine.planner.plan(s, [await h.cid("t1")], DUE)
    async with db.read() as s:
        assert await outbox.next_work_at(s) == DUE
        assert await outbox.counts_by_state(s) == {"pending": 1}
    async with db.write() as s:
        assert await outbox.mark_sent_many(s, []) == 0


async def test_retry_and_failure_of_the_holder_are_recorded_with_a_bounded_error(
    db: Database,
) -> None:
    h, claimed = await _claimed_row(db)
    long_error = "e" * 5000
    async with db.write() as s:
        assert await outbox.mark_retry(s, claimed.id, claimed.attempt, DUE + LEASE, long_error)
    (row,) = await h.rows()
    assert (row.state, row.next_attempt_at, len(row.last_error)) == ("pending", DUE + LEASE, 2000)
    async with db.write() as s:
        (again,) = await outbox.claim_deliveries(s, DUE + LEASE, 10)
        assert await outbox.mark_failed(s, again.id, again.attempt, long_error)
    (row,) = await h.rows()
    assert (row.state, row.next_attempt_at, len(row.last_error)) == ("failed", None, 2000)


async def test_a_retry_of_a_row_whose_conversation_moved_on_cancels_it(db: Database) -> None:
    h, claimed = await _claimed_row(db)
    async with db.write() as s:
        await s.execute(update(Nudge).where(Nudge.id == claimed.id).values(outcome="answered"))
    async with db.write() as s:
        assert await outbox.mark_retry(s, claimed.id, claimed.attempt, DUE + LEASE, "timeout")
    (row,) = await h.rows()
    assert (row.state, row.next_attempt_at, row.update_state) == ("cancelled", None, None)


async def test_an_update_is_claimed_exactly_when_it_falls_due(db: Database) -> None:
    from dataclasses import FrozenInstanceError

    from storage import outbox_updates_repo as outbox_updates

    h = await due_harness(db, remind_every=None)
    await h.tick(DUE)
    await h.team("t1", DUE + timedelta(minutes=3), "bob")  # the sent nudge now owes an edit
    (row,) = await h.rows()
    due = row.update_next_at
    assert due is not None and row.update_state == "pending"
    async with db.write() as s:
        assert await outbox_updates.claim_updates(s, due - timedelta(microseconds=1), 10) == []
        (claimed,) = await outbox_updates.claim_updates(s, due, 10)
        # the claim holds the row for one lease, then a new attempt may take it over
        lease = LEASE  # claim_updates' default, storage.outbox_repo.LEASE
        assert (
            await outbox_updates.claim_updates(s, due + lease - timedelta(microseconds=1), 9) == []
        )
        (again,) = await outbox_updates.claim_updates(s, due + lease, 10)
    assert claimed.id == again.id == row.id
    assert (claimed.attempt, again.attempt) == (row.update_attempts + 1, row.update_attempts + 2)
    with pytest.raises(FrozenInstanceError):
        claimed.attempt = 9  # type: ignore[misc]


def test_a_lease_outlives_two_failed_renewals() -> None:
    """The sender renews its lease every RENEW_EVERY: two renewals may fail (a slow commit)
    before the lease runs out and another worker may claim, and send, the same row again."""
    assert timedelta(0) < 3 * outbox.RENEW_EVERY <= LEASE


async def _owed_update(db: Database) -> tuple[Harness, Nudge]:
    """A delivered nudge whose conversation was answered: it now owes an in-place edit."""
    h = await due_harness(db, remind_every=None)
    await h.tick(DUE)
    await h.team("t1", DUE + timedelta(minutes=3), "bob")
    (row,) = await h.rows()
    assert row.update_state == "pending" and row.update_next_at is not None
    assert row.platform_ref is not None and row.outcome == "answered"
    return h, row


async def test_only_rows_with_a_message_and_an_outcome_are_handed_out_for_an_edit(
    db: Database,
) -> None:
    """An edit needs the delivered message (``platform_ref``) and the outcome to show; who
    caused the outcome (``outcome_by``) is optional. A row without either is not handed out."""
    from storage import outbox_updates_repo as outbox_updates

    _, row = await _owed_update(db)
    due = row.update_next_at
    assert due is not None

    async def owe(**values: object) -> list[int]:
        async with db.write() as s:
            await s.execute(
                update(Nudge)
                .where(Nudge.id == row.id)
                .values(update_state="pending", update_next_at=due, **values)
            )
        async with db.write() as s:
            return [c.id for c in await outbox_updates.claim_updates(s, due, 10)]

    assert await owe(outcome_by=None) == [row.id]
    assert await owe(outcome_by="bob", platform_ref=None) == []
    assert await owe(platform_ref=row.platform_ref, outcome=None) == []
    assert await owe(outcome="answered") == [row.id]


async def test_an_edit_is_recorded_only_by_the_claim_that_holds_it(db: Database) -> None:
    """``finish_update`` says whether it recorded anything: a claim whose lease ran out and was
    taken over records nothing; the holder's failure is final and its error bounded."""
    from storage import outbox_updates_repo as outbox_updates

    h, row = await _owed_update(db)
    due = row.update_next_at
    assert due is not None
    async with db.write() as s:
        (first,) = await outbox_updates.claim_updates(s, due, 10)
    async with db.write() as s:  # the first claim's lease ran out: another sender takes it
        (second,) = await outbox_updates.claim_updates(s, due + LEASE, 10)
    long_error = "e" * 5000
    async with db.write() as s:
        assert not await outbox_updates.finish_update(s, first, due + LEASE)
        assert not await outbox_updates.finish_update(s, first, due + LEASE, failed=True)
    (row,) = await h.rows()
    assert (row.update_state, row.update_attempts) == ("sending", second.attempt)
    async with db.write() as s:
        assert await outbox_updates.finish_update(
            s, second, due + LEASE, error=long_error, failed=True
        )
    (row,) = await h.rows()
    assert (row.update_state, row.update_next_at, row.last_error) == ("failed", None, "e" * 2000)
    async with db.write() as s:  # recorded once: a second report of the same claim is refused
        assert not await outbox_updates.finish_update(s, second, due + LEASE)


async def test_an_edit_in_flight_keeps_its_claim_while_it_is_renewed(db: Database) -> None:
    """``renew_updates`` extends the lease of the (row, attempt) pairs still held and of no
    other: a renewed edit is not claimed again when its first lease would have ended."""
    from storage import outbox_updates_repo as outbox_updates

    h, row = await _owed_update(db)
    due = row.update_next_at
    assert due is not None
    async with db.write() as s:
        (claimed,) = await outbox_updates.claim_updates(s, due, 10)
    held = [(claimed.id, claimed.attempt)]
    later = due + LEASE / 2
    async with db.write() as s:
        assert await outbox_updates.renew_updates(s, [], later) == 0
        assert (
            await outbox_updates.renew_updates(s, [(claimed.id, claimed.attempt - 1)], later) == 0
        )
        assert await outbox_updates.renew_updates(s, held, later) == 1
    (row,) = await h.rows()
    assert (row.update_state, row.update_next_at) == ("sending", later + LEASE)
    async with db.write() as s:
        assert await outbox_updates.claim_updates(s, due + LEASE, 10) == []
        assert (
            await outbox_updates.claim_updates(s, later + LEASE - timedelta(microseconds=1), 10)
            == []
        )
    async with db.write() as s:
        assert await outbox_updates.finish_update(s, claimed, later)
    (row,) = await h.rows()
    assert (row.update_state, row.update_next_at) == ("done", None)
    async with db.write() as s:  # finished: nothing is held any more
        assert await outbox_updates.renew_updates(s, held, later) == 0
    (row,) = await h.rows()
    assert row.update_next_at is None


async def test_a_delivery_in_flight_keeps_its_claim_while_it_is_renewed(db: Database) -> None:
    """``renew`` extends the lease of the (row, attempt) pairs still sending and of no other:
    a renewed delivery is not claimed again when its first lease would have ended."""
    h, claimed = await _claimed_row(db)
    held = [(claimed.id, claimed.attempt)]
    later = DUE + LEASE / 2
    async with db.write() as s:
        assert await outbox.renew(s, [], later) == 0
        assert await outbox.renew(s, [(claimed.id, claimed.attempt - 1)], later) == 0
        assert await outbox.renew(s, held, later) == 1
    (row,) = await h.rows()
    assert (row.state, row.lease_until, row.next_attempt_at) == (
        "sending",
        later + LEASE,
        later + LEASE,
    )
    async with db.write() as s:
        assert await outbox.claim_deliveries(s, DUE + LEASE, 10) == []
        assert await outbox.mark_sent(s, claimed.id, claimed.attempt, "slack:1", later)
    async with db.write() as s:  # sent: nothing is held any more
        assert await outbox.renew(s, held, later + LEASE) == 0
    (row,) = await h.rows()
    assert (row.state, row.lease_until, row.next_attempt_at) == ("sent", None, None)


async def test_void_claims_frees_every_claim_in_flight_and_nothing_else(db: Database) -> None:
    """At start on SQLite every claim belongs to a dead process: a delivery and an edit that
    were in flight are due at once (their attempts kept); rows at rest are left alone."""
    from storage import outbox_updates_repo as outbox_updates

    h = await due_harness(db, remind_every=None)
    await h.customer("t2", T0)
    await h.tick(DUE)  # t1 and t2 sent
    await h.team("t1", DUE + timedelta(minutes=1), "bob")  # t1's nudge owes an edit
    await h.customer("t3", T0 + timedelta(minutes=5))
    later = DUE + timedelta(minutes=5)
    async with db.write() as s:
        await h.engine.planner.plan(s, [await h.cid("t3")], later)
    async with db.write() as s:
        (edit,) = await outbox_updates.claim_updates(s, later, 10)
        (send,) = await outbox.claim_deliveries(s, later, 10)
    before = {r.id: r for r in await h.rows()}
    restart = later + timedelta(seconds=1)
    async with db.write() as s:
        assert await outbox.void_claims(s, restart) == 1
    after = {r.id: r for r in await h.rows()}
    assert (after[send.id].state, after[send.id].attempts) == ("sending", send.attempt)
    assert (after[send.id].lease_until, after[send.id].next_attempt_at) == (restart, restart)
    assert (after[edit.id].update_state, after[edit.id].update_next_at) == ("sending", restart)
    at_rest = [i for i in after if i not in (send.id, edit.id)]
    assert at_rest and all(
        (after[i].state, after[i].next_attempt_at, after[i].lease_until, after[i].update_next_at)
        == (before[i].state, before[i].next_attempt_at, before[i].lease_until,
            before[i].update_next_at)
        for i in at_rest
    )  # fmt: skip
    async with db.write() as s:
        assert [c.id for c in await outbox.claim_deliveries(s, restart, 10)] == [send.id]
        assert [c.id for c in await outbox_updates.claim_updates(s, restart, 10)] == [edit.id]
