"""The ladder as a pure function: no database, no clock but the arguments."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.clock import BusinessClock
from bot.domain.hours import parse_hours
from bot.domain.ladder import Delivery, PeriodFacts, Slot, next_at, plan, snooze_until
from bot.domain.ladder_inputs import EscalateTo, LadderPolicy, Planned, Target, Track
from bot.domain.ports import Step
from bot.domain.routing import Route

UTC_CLOCK = BusinessClock(None, ZoneInfo("UTC"))
T0 = datetime(2026, 6, 3, 10, 0, tzinfo=UTC)
M = timedelta(minutes=1)


@dataclass
class People:
    """Everyone in hours except those listed; routes to ``responsible``."""

    responsible: tuple[str, ...] = ("alice",)
    asleep_until: dict[str, datetime] = field(default_factory=dict)

    def route(self, at: datetime) -> Route:
        return Route(self.responsible, "owner")

    def available_from(self, person: str, at: datetime) -> datetime:
        return max(at, self.asleep_until.get(person, at))

    def escalation(self, to: EscalateTo, at: datetime) -> tuple[Target, ...]:
        return (Target.of(to.target or "boss"),)


def run(policy: LadderPolicy, period: PeriodFacts, people: People, until: datetime,
        step: timedelta = M) -> list[tuple[datetime, str, Step, datetime]]:  # fmt: skip
    """Tick every ``step`` until ``until``; (tick time, recipient, step, not_before) sent."""
    history: list[Planned] = []
    out = []
    now = period.started_at
    while now <= until:
        result = plan(policy, period, history, people, now)
        for slot in result.slots:
            for d in slot.deliveries:
                history.append(Planned(slot.track, slot.seq, d.target.key, slot.at, d.not_before,
                                       now, placeholder=d.placeholder))  # fmt: skip
                if not d.placeholder:
                    out.append((now, d.target.key, d.step, d.not_before))
        now += step
    return out


def test_first_reminders_and_one_escalation() -> None:
    policy = LadderPolicy(UTC_CLOCK, 30 * M, 60 * M, EscalateTo("person", "boss"))
    period = PeriodFacts(T0, T0 + 15 * M)
    sent = run(policy, period, People(), T0 + 150 * M)
    assert [(t - T0, who, s) for t, who, s, _ in sent] == [
        (15 * M, "person:alice", Step.FIRST),
        (45 * M, "person:alice", Step.REMINDER),
        (75 * M, "person:alice", Step.REMINDER),
        (75 * M, "person:boss", Step.ESCALATION),
        (105 * M, "person:alice", Step.REMINDER),
        (135 * M, "person:alice", Step.REMINDER),
    ]


def test_a_sleeping_recipient_gets_one_nudge_when_they_wake() -> None:
    wake = T0 + 8 * 60 * M
    people = People(("alice", "bob"), asleep_until={"bob": wake})
    policy = LadderPolicy(UTC_CLOCK, 30 * M)
    sent = run(policy, PeriodFacts(T0, T0 + 15 * M), people, wake + 31 * M)
    bob = [(nb, s) for _, who, s, nb in sent if who == "person:bob"]
    alice = [s for _, who, s, _ in sent if who == "person:alice"]
    assert bob[0] == (wake, Step.FIRST)  # one waiting nudge, not sixteen
    assert all(nb > wake and s is Step.REMINDER for nb, s in bob[1:])
    assert all(b[0] - a[0] >= 30 * M for a, b in pairwise(bob))
    assert alice[0] is Step.FIRST and len(alice) >= 16  # alice is reminded all along


def test_claim_after_a_slot_restarts_the_interval() -> None:
    policy = LadderPolicy(UTC_CLOCK, 30 * M)
    first = Planned(Track.RESPONSIBLE, 0, "person:alice", T0 + 15 * M, T0 + 15 * M, T0 + 15 * M)
    period = PeriodFacts(T0, T0 + 15 * M, claimed_by="bob", claimed_at=T0 + 40 * M)
    assert next_at(policy, period, [first]) == T0 + 70 * M


def test_claim_before_the_due_time_keeps_the_due_time() -> None:
    policy = LadderPolicy(UTC_CLOCK, 30 * M)
    period = PeriodFacts(T0, T0 + 15 * M, claimed_by="bob", claimed_at=T0 + 5 * M)
    assert next_at(policy, period, []) == T0 + 15 * M


def test_snooze_puts_the_next_slot_at_its_end_even_without_reminders() -> None:
    policy = LadderPolicy(UTC_CLOCK, None)
    first = Planned(Track.RESPONSIBLE, 0, "person:alice", T0 + 15 * M, T0 + 15 * M, T0 + 15 * M)
    period = PeriodFacts(T0, T0 + 15 * M, snoozed_until=T0 + 3 * 60 * M, snoozed_at=T0 + 20 * M)
    assert next_at(policy, period, [first]) == T0 + 3 * 60 * M
    assert next_at(policy, PeriodFacts(T0, T0 + 15 * M), [first]) is None


def test_a_cancelled_slot_is_planned_again() -> None:
    policy = LadderPolicy(UTC_CLOCK, 30 * M)
    gone = Planned(Track.RESPONSIBLE, 0, "person:alice", T0 + 15 * M, T0 + 15 * M, T0, live=False)
    result = plan(policy, PeriodFacts(T0, T0 + 15 * M), [gone], People(), T0 + 16 * M)
    assert [(s.seq, s.at) for s in result.slots] == [(1, T0 + 15 * M)]


def test_business_clock_offsets() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    clock = BusinessClock(parse_hours("Mon-Fri 09:00-18:00"), berlin)
    policy = LadderPolicy(clock, 30 * M, 60 * M, EscalateTo("person", "boss"))
    friday = datetime(2026, 6, 5, 17, 45, tzinfo=berlin)
    first = Planned(Track.RESPONSIBLE, 0, "person:alice", friday, friday, friday)
    period = PeriodFacts(friday, friday)
    assert next_at(policy, period, [first]) == datetime(2026, 6, 8, 9, 15, tzinfo=berlin)


def test_snooze_targets() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    now = datetime(2026, 3, 28, 22, 30, tzinfo=UTC)  # Saturday night; DST starts Sunday
    assert snooze_until("30m", now, berlin) == now + 30 * M
    assert snooze_until("2h", now, berlin) == now + 120 * M
    # 23:30 Saturday in Berlin: tomorrow 09:00 is summer time already (07:00 UTC).
    assert snooze_until("tomorrow", now, berlin) == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    late = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)  # 00:30 Sunday in Berlin: its tomorrow
    assert snooze_until("tomorrow", late, berlin) == datetime(2026, 3, 30, 9, 0, tzinfo=berlin)


@settings(max_examples=60, deadline=None)
@given(
    due=st.integers(0, 600),
    every=st.one_of(st.none(), st.integers(1, 120)),
    escalate=st.one_of(st.none(), st.integers(0, 240)),
    tick=st.integers(1, 45),
)
def test_never_early_never_twice(
    due: int, every: int | None, escalate: int | None, tick: int
) -> None:
    """Whatever the tick rate: nothing before its time, each (track, seq, recipient) once, at
    most one escalation, and reminders never closer than remind_every."""
    policy = LadderPolicy(
        UTC_CLOCK,
        every * M if every else None,
        escalate * M if escalate is not None else None,
        EscalateTo("person", "boss") if escalate is not None else None,
    )
    period = PeriodFacts(T0, T0 + due * M)
    sent = run(policy, period, People(), T0 + 16 * 60 * M, step=tick * M)
    assert all(t >= nb and t >= period.due_at for t, _, _, nb in sent)
    assert sum(s is Step.ESCALATION for _, _, s, _ in sent) <= (1 if escalate is not None else 0)
    alice = [t for t, who, _, _ in sent if who == "person:alice"]
    assert alice and alice[0] - period.due_at < tick * M
    if every:
        assert all(b - a >= every * M for a, b in pairwise(alice))
    else:
        assert len(alice) == 1


def test_an_escalation_that_reaches_nobody_is_a_placeholder_keyed_dash() -> None:
    """Escalating to the person already responsible reaches nobody new: the slot is still
    recorded (so it is not planned again) as a placeholder with the recipient key "-"."""
    policy = LadderPolicy(UTC_CLOCK, None, 60 * M, EscalateTo("person", "alice"))
    period = PeriodFacts(T0, T0 + 15 * M)
    history = [Planned(Track.RESPONSIBLE, 0, "person:alice", T0 + 15 * M, T0 + 15 * M,
                       T0 + 15 * M)]  # fmt: skip
    result = plan(policy, period, history, People(), T0 + 75 * M)
    (slot,) = result.slots
    (delivery,) = slot.deliveries
    assert slot.track is Track.ESCALATION
    assert (delivery.target.key, delivery.placeholder) == ("-", True)
    assert delivery.step is Step.ESCALATION and delivery.not_before == T0 + 75 * M


def test_ladder_records_are_frozen_with_absent_actions_as_none() -> None:
    from dataclasses import FrozenInstanceError

    period = PeriodFacts(T0, T0 + 15 * M)
    assert (period.claimed_by, period.claimed_at) == (None, None)
    assert (period.snoozed_until, period.snoozed_at) == (None, None)
    delivery = Delivery(Target.of("alice"), Step.FIRST, T0)
    assert delivery.placeholder is False
    slot = Slot(Track.RESPONSIBLE, 0, T0, (delivery,))
    result = plan(EVERY_30, period, [], People(), T0)
    records = ((period, "due_at"), (delivery, "not_before"), (slot, "at"), (result, "next_at"))
    for record, field_name in records:
        with pytest.raises(FrozenInstanceError):
            setattr(record, field_name, T0)


# Claims and snoozes restart the cadence only when made after the last slot was planned (or,
# before any slot, at or after the period's start). The slot below was planned at 15 min
# for a recipient available from 20 min, so the regular cadence gives 20 + 30 = 50 min and a
# restart at 15 min would give 45 min.
ASLEEP = Planned(Track.RESPONSIBLE, 0, "person:alice", T0 + 15 * M, T0 + 20 * M, T0 + 15 * M)
EVERY_30 = LadderPolicy(UTC_CLOCK, 30 * M)


def test_a_claim_made_as_the_slot_was_planned_does_not_restart() -> None:
    claim = PeriodFacts(T0, T0 + 15 * M, claimed_by="bob", claimed_at=T0 + 15 * M)
    assert next_at(EVERY_30, claim, [ASLEEP]) == T0 + 50 * M
    later = PeriodFacts(T0, T0 + 15 * M, claimed_by="bob", claimed_at=T0 + 15 * M + M)
    assert next_at(EVERY_30, later, [ASLEEP]) == T0 + 46 * M


def test_old_claims_and_snoozes_do_not_restart() -> None:
    old_claim = PeriodFacts(T0, T0 + 15 * M, claimed_by="bob", claimed_at=T0 + 5 * M)
    assert next_at(EVERY_30, old_claim, [ASLEEP]) == T0 + 50 * M
    old_snooze = PeriodFacts(T0, T0 + 15 * M, snoozed_until=T0 + 4 * 60 * M,
                             snoozed_at=T0 + 5 * M)  # fmt: skip
    assert next_at(EVERY_30, old_snooze, [ASLEEP]) == T0 + 50 * M
    same_time = PeriodFacts(T0, T0 + 15 * M, snoozed_until=T0 + 4 * 60 * M,
                            snoozed_at=T0 + 15 * M)  # fmt: skip
    assert next_at(EVERY_30, same_time, [ASLEEP]) == T0 + 50 * M


def test_a_snooze_before_the_first_slot_moves_it() -> None:
    until = T0 + 3 * 60 * M
    at_start = PeriodFacts(T0, T0 + 15 * M, snoozed_until=until, snoozed_at=T0)
    assert next_at(EVERY_30, at_start, []) == until
    before = PeriodFacts(T0, T0 + 15 * M, snoozed_until=until,
                         snoozed_at=T0 - timedelta(microseconds=1))  # fmt: skip
    assert next_at(EVERY_30, before, []) == T0 + 15 * M  # an earlier period's snooze
    short = PeriodFacts(T0, T0 + 15 * M, snoozed_until=T0 + 5 * M, snoozed_at=T0 + 1 * M)
    assert next_at(EVERY_30, short, []) == T0 + 15 * M  # never before the due time


def test_a_claim_at_the_due_time_keeps_it() -> None:
    at_due = PeriodFacts(T0, T0 + 15 * M, claimed_by="bob", claimed_at=T0 + 15 * M)
    assert next_at(EVERY_30, at_due, []) == T0 + 15 * M
    after_due = PeriodFacts(T0, T0 + 15 * M, claimed_by="bob", claimed_at=T0 + 16 * M)
    assert next_at(EVERY_30, after_due, []) == T0 + 46 * M


def test_a_snooze_ending_early_nudges_again_without_waiting_the_interval() -> None:
    """The snooze asked for the nudge: the recipient, nudged 5 minutes before, gets it."""
    first = Planned(Track.RESPONSIBLE, 0, "person:alice", T0 + 15 * M, T0 + 15 * M, T0 + 15 * M)
    period = PeriodFacts(T0, T0 + 15 * M, snoozed_until=T0 + 20 * M, snoozed_at=T0 + 16 * M)
    result = plan(EVERY_30, period, [first], People(), T0 + 20 * M)
    got = [(s.seq, s.at, [(d.target.key, d.step, d.placeholder) for d in s.deliveries])
           for s in result.slots]  # fmt: skip
    assert got == [(1, T0 + 20 * M, [("person:alice", Step.REMINDER, False)])]


def test_an_escalation_needs_both_a_delay_and_a_target() -> None:
    """Half an escalation policy escalates to nobody: the first slot then the reminders only."""
    first = Planned(Track.RESPONSIBLE, 0, "person:alice", T0 + 15 * M, T0 + 15 * M, T0 + 15 * M)
    period = PeriodFacts(T0, T0 + 15 * M)
    no_target = LadderPolicy(UTC_CLOCK, 30 * M, 10 * M, None)
    no_delay = LadderPolicy(UTC_CLOCK, 30 * M, None, EscalateTo("person", "boss"))
    for policy in (no_target, no_delay):
        assert next_at(policy, period, [first]) == T0 + 45 * M
        sent = run(policy, period, People(), T0 + 60 * M)
        assert [(t - T0, who, s) for t, who, s, _ in sent] == [
            (15 * M, "person:alice", Step.FIRST),
            (45 * M, "person:alice", Step.REMINDER),
        ]


ESCALATE_60 = LadderPolicy(UTC_CLOCK, 30 * M, 60 * M, EscalateTo("person", "boss"))
FIRST_AT_15 = Planned(Track.RESPONSIBLE, 0, "person:alice", T0 + 15 * M, T0 + 15 * M, T0 + 15 * M)


def _escalation(period: PeriodFacts) -> datetime | None:
    """When the escalation slot comes, reminders aside (the policy escalates at 75 min)."""
    result = plan(ESCALATE_60, period, [FIRST_AT_15], People(), T0 + 10 * 60 * M)
    return next((s.at for s in result.slots if s.track is Track.ESCALATION), None)


def test_a_snooze_in_this_period_holds_the_escalation_until_it_ends() -> None:
    until = T0 + 3 * 60 * M
    assert _escalation(PeriodFacts(T0, T0 + 15 * M)) == T0 + 75 * M
    held = PeriodFacts(T0, T0 + 15 * M, snoozed_until=until, snoozed_at=T0 + 20 * M)
    assert _escalation(held) == until
    at_start = PeriodFacts(T0, T0 + 15 * M, snoozed_until=until, snoozed_at=T0)
    assert _escalation(at_start) == until
    # a snooze of an earlier period (made before this one started) holds nothing
    earlier = PeriodFacts(T0, T0 + 15 * M, snoozed_until=until,
                          snoozed_at=T0 - timedelta(microseconds=1))  # fmt: skip
    assert _escalation(earlier) == T0 + 75 * M
    # a snooze that ends before the escalation is due does not move it earlier
    short = PeriodFacts(T0, T0 + 15 * M, snoozed_until=T0 + 30 * M, snoozed_at=T0 + 20 * M)
    assert _escalation(short) == T0 + 75 * M


def test_each_track_numbers_its_slots_from_zero() -> None:
    """The sequence number is part of a nudge's key in the outbox: 0, 1, 2 … per track."""
    history: list[Planned] = []
    got = []
    for now in (T0 + 15 * M, T0 + 45 * M, T0 + 75 * M):
        for slot in plan(ESCALATE_60, PeriodFacts(T0, T0 + 15 * M), history, People(), now).slots:
            got.append((slot.track, slot.seq, slot.at))
            history += [Planned(slot.track, slot.seq, d.target.key, slot.at, d.not_before, now)
                        for d in slot.deliveries]  # fmt: skip
    assert got == [
        (Track.RESPONSIBLE, 0, T0 + 15 * M),
        (Track.RESPONSIBLE, 1, T0 + 45 * M),
        (Track.RESPONSIBLE, 2, T0 + 75 * M),
        (Track.ESCALATION, 0, T0 + 75 * M),
    ]


def test_a_held_nudge_for_one_responsible_person_does_not_hold_the_others() -> None:
    """Alice sleeps until 8 h: her slots merge into her waiting nudge; Bob, awake, still gets
    every reminder (the merge is per recipient)."""
    wake = T0 + 8 * 60 * M
    people = People(("alice", "bob"), asleep_until={"alice": wake})
    sent = run(LadderPolicy(UTC_CLOCK, 30 * M), PeriodFacts(T0, T0 + 15 * M), people, T0 + 80 * M)
    assert [(t - T0, who, s, nb) for t, who, s, nb in sent] == [
        (15 * M, "person:alice", Step.FIRST, wake),
        (15 * M, "person:bob", Step.FIRST, T0 + 15 * M),
        (45 * M, "person:bob", Step.REMINDER, T0 + 45 * M),
        (75 * M, "person:bob", Step.REMINDER, T0 + 75 * M),
    ]


@dataclass
class Team(People):
    """Escalates to several targets at once: Alice (responsible), on-call Carol, a channel,
    Dave and the boss; Carol and Dave sleep until ``wake``."""

    def escalation(self, to: EscalateTo, at: datetime) -> tuple[Target, ...]:
        return (Target.of("alice"), Target.of("carol", always=True), Target("channel:C1"),
                Target.of("dave"), Target.of("boss"))  # fmt: skip


def test_an_escalation_reaches_every_target_but_the_responsible_each_when_reachable() -> None:
    wake = T0 + 8 * 60 * M
    people = Team(asleep_until={"carol": wake, "dave": wake})
    policy = LadderPolicy(UTC_CLOCK, None, 60 * M, EscalateTo("rotation", "team"))
    result = plan(policy, PeriodFacts(T0, T0 + 15 * M), [FIRST_AT_15], people, T0 + 75 * M)
    (slot,) = result.slots
    assert slot.track is Track.ESCALATION
    at = T0 + 75 * M
    assert [(d.target.key, d.step, d.not_before, d.placeholder) for d in slot.deliveries] == [
        ("person:carol", Step.ESCALATION, at, False),  # on call: at any hour
        ("channel:C1", Step.ESCALATION, at, False),  # a channel: no hours of its own
        ("person:dave", Step.ESCALATION, wake, False),  # asleep: at his next opening
        ("person:boss", Step.ESCALATION, at, False),
    ]


def test_with_nobody_to_route_to_the_ladder_waits_for_the_escalation_or_a_change() -> None:
    """No responsible person (a config gap): no slot; look again at a future escalation, and
    once that is due too, only after a change (next_at None)."""
    nobody = People(responsible=())
    period = PeriodFacts(T0, T0 + 15 * M)
    before = plan(ESCALATE_60, period, [FIRST_AT_15], nobody, T0 + 45 * M)
    assert (before.slots, before.next_at) == ((), T0 + 75 * M)
    due = plan(ESCALATE_60, period, [FIRST_AT_15], nobody, T0 + 75 * M)
    assert (due.slots, due.next_at) == ((), None)
    no_escalation = plan(EVERY_30, period, [FIRST_AT_15], nobody, T0 + 45 * M)
    assert (no_escalation.slots, no_escalation.next_at) == ((), None)


@pytest.mark.parametrize(
    "period",
    [
        PeriodFacts(T0, T0 + 15 * M, snoozed_until=T0 + 8 * 60 * M, snoozed_at=T0 + 20 * M),
        PeriodFacts(T0, T0 + 15 * M, claimed_by="alice", claimed_at=T0 + 7 * 60 * M + 30 * M),
    ],
    ids=["snooze-ends-as-she-wakes", "claim-interval-ends-as-she-wakes"],
)
def test_a_slot_at_the_instant_a_held_nudge_falls_due_merges_into_it(period: PeriodFacts) -> None:
    """Alice sleeps until 8 h; her first nudge waits for then. A slot with no gap (the end of
    a snooze, a claim's interval) falling at that very instant must not queue a second nudge
    to her for the same instant: it merges into the held one, as any later slot does while a
    delivery waits (one nudge when she wakes, not two). The engine cancels pending nudges on a
    claim or snooze, so it does not reach this today; the ladder's own rule is pinned here."""
    wake = T0 + 8 * 60 * M
    held = Planned(Track.RESPONSIBLE, 0, "person:alice", T0 + 15 * M, wake, T0 + 15 * M)
    people = People(asleep_until={"alice": wake})
    result = plan(EVERY_30, period, [held], people, wake)
    got = [(s.seq, s.at, [(d.target.key, d.not_before, d.placeholder) for d in s.deliveries])
           for s in result.slots]  # fmt: skip
    assert got == [(1, wake, [("person:alice", wake, True)])]
