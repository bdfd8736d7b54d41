"""The nudge ladder as a pure function of one waiting period and the nudges already planned.

A waiting period has two tracks of *slots*:

* **responsible** — slot 0 at the due time, then one every ``remind_every``, each to whoever
  is responsible at the slot's time (claimed → owner in hours → on call → owner → owners);
* **escalation** — one slot at ``escalate_after`` after the first nudge, to ``escalate_to``
  (people already responsible at that moment are left out: they hear it on their own track).

Every offset is counted on the policy's business clock, like the due time, so a
business-hours policy neither reminds nor escalates at night.

A slot becomes one *delivery* per recipient. A person outside their hours and not on call
gets their delivery at their next opening (``not_before``); while such a delivery waits, later
slots *merge* into it instead of queueing a second one, so nobody wakes up to a pile. A slot
whose deliveries all merge, or an escalation with nobody left to tell, is still recorded
(``placeholder``) so that the history alone says where the ladder stands.

The next responsible slot follows the *effective* time of the last one — the earliest moment
one of its deliveries could go out, and never before it was planned — so a planner that ran
late (downtime) sends one catch-up nudge, not every reminder it missed. A claim or a snooze
made after the last slot restarts the interval: a snooze puts the next slot exactly at its
end; a claim gives the claimer ``remind_every`` of peace (a claim before the due time keeps
the due time). Cancelled nudges (snoozed, re-planned after a config change) are not history:
their slot is planned again under a new sequence number.

This module holds the waiting period, the planning and what it yields; what the ladder is
given (policy, reachable targets, planned history) is in ``bot.domain.ladder_inputs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.domain.durations import parse_positive_duration
from bot.domain.ladder_inputs import LadderPolicy, People, Planned, Target, Track
from bot.domain.ports import Step

# Catch-up after downtime coalesces missed reminders; this bounds one planning call anyway.
MAX_SLOTS_PER_CALL = 16
NOBODY = "-"  # recipient key of a placeholder that reached nobody


@dataclass(frozen=True)
class PeriodFacts:
    """One waiting period and the actions that steer its ladder."""

    started_at: datetime
    due_at: datetime
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    snoozed_until: datetime | None = None
    snoozed_at: datetime | None = None


@dataclass(frozen=True)
class Delivery:
    target: Target
    step: Step
    not_before: datetime
    placeholder: bool = False


@dataclass(frozen=True)
class Slot:
    track: Track
    seq: int
    at: datetime
    deliveries: tuple[Delivery, ...]


def _live(history: Sequence[Planned], track: Track) -> list[Planned]:
    return [h for h in history if h.track is track and h.live]


def _last_slot(rows: Sequence[Planned]) -> list[Planned]:
    last = max(r.seq for r in rows)
    return [r for r in rows if r.seq == last]


def _restart(period: PeriodFacts, after: datetime) -> tuple[str, datetime] | None:
    """The latest claim or snooze made after ``after``, if any."""
    events: list[tuple[datetime, str]] = []
    if period.claimed_by and period.claimed_at and period.claimed_at > after:
        events.append((period.claimed_at, "claim"))
    if period.snoozed_until and period.snoozed_at and period.snoozed_at > after:
        events.append((period.snoozed_at, "snooze"))
    if not events:
        return None
    at, kind = max(events)
    return kind, at


def _responsible_next(
    policy: LadderPolicy, period: PeriodFacts, history: Sequence[Planned]
) -> tuple[datetime, timedelta] | None:
    """The next responsible slot's time, and the least gap a recipient must have had since
    their last nudge to get another (``remind_every`` on the regular cadence, nothing for the
    first slot or one a snooze or claim asked for)."""
    rows = _live(history, Track.RESPONSIBLE)
    every = policy.remind_every
    none = timedelta(0)
    if not rows:
        restart = _restart(period, period.started_at - timedelta(microseconds=1))
        if restart is None:
            return period.due_at, none
        kind, at = restart
        if kind == "snooze":
            assert period.snoozed_until is not None
            return max(period.due_at, period.snoozed_until), none
        if at <= period.due_at:
            return period.due_at, none
        return (policy.clock.add(at, every), none) if every else None
    last = _last_slot(rows)
    restart = _restart(period, min(r.created_at for r in last))
    if restart is not None:
        kind, at = restart
        if kind == "snooze":
            assert period.snoozed_until is not None
            return period.snoozed_until, none
        return (policy.clock.add(at, every), none) if every else None
    if every is None:
        return None
    return policy.clock.add(min(r.effective for r in last), every), every


def responsible_at(
    policy: LadderPolicy, period: PeriodFacts, history: Sequence[Planned]
) -> datetime | None:
    """When the next responsible slot is due; None when no further reminder comes."""
    found = _responsible_next(policy, period, history)
    return found[0] if found else None


def escalation_at(
    policy: LadderPolicy, period: PeriodFacts, history: Sequence[Planned]
) -> datetime | None:
    """When the escalation is due; None when there is none or it already happened."""
    if policy.escalate_after is None or policy.escalate_to is None:
        return None
    if _live(history, Track.ESCALATION):
        return None
    rows = _live(history, Track.RESPONSIBLE)
    if not rows:
        return None  # escalate_after counts from the first nudge
    first = min(r.seq for r in rows)
    start = min(r.effective for r in rows if r.seq == first)
    at = policy.clock.add(start, policy.escalate_after)
    until, snoozed_at = period.snoozed_until, period.snoozed_at
    if until is not None and snoozed_at is not None and snoozed_at >= period.started_at:
        at = max(at, until)  # a snooze holds the escalation too
    return at


def next_at(
    policy: LadderPolicy, period: PeriodFacts, history: Sequence[Planned]
) -> datetime | None:
    times = [
        t
        for t in (responsible_at(policy, period, history), escalation_at(policy, period, history))
        if t is not None
    ]
    return min(times) if times else None


def _next_seq(history: Sequence[Planned], track: Track) -> int:
    return max((h.seq for h in history if h.track is track), default=-1) + 1


def _responsible_slot(
    at: datetime, gap: timedelta, history: Sequence[Planned], people: People
) -> Slot | None:
    route = people.route(at)
    if not route.people:
        return None
    rows = _live(history, Track.RESPONSIBLE)
    out: list[Delivery] = []
    for person in route.people:
        target = Target.of(person, always=route.reason == "on_call")
        mine = [r for r in rows if r.recipient == target.key and not r.placeholder]
        # Still waiting to reach them (a held nudge due at this very instant included: two
        # for the same instant would be a pile), or reached them less than ``gap`` ago (the
        # cadence is set by whoever was reached first): merge instead of piling up.
        waiting = [r for r in mine if r.effective > at - gap or r.not_before >= at]
        if waiting:
            held = min(r.not_before for r in waiting)
            out.append(Delivery(target, Step.REMINDER, held, placeholder=True))
            continue
        step = Step.REMINDER if mine else Step.FIRST
        not_before = at if target.always else people.available_from(person, at)
        out.append(Delivery(target, step, not_before))
    return Slot(Track.RESPONSIBLE, _next_seq(history, Track.RESPONSIBLE), at, tuple(out))


def _escalation_slot(
    policy: LadderPolicy, at: datetime, history: Sequence[Planned], people: People
) -> Slot:
    assert policy.escalate_to is not None
    responsible = set(people.route(at).people)
    out: list[Delivery] = []
    for target in people.escalation(policy.escalate_to, at):
        if target.person is not None and target.person in responsible:
            continue
        if target.always or target.person is None:
            not_before = at
        else:
            not_before = people.available_from(target.person, at)
        out.append(Delivery(target, Step.ESCALATION, not_before))
    if not out:
        out.append(Delivery(Target(NOBODY), Step.ESCALATION, at, placeholder=True))
    return Slot(Track.ESCALATION, _next_seq(history, Track.ESCALATION), at, tuple(out))


def _as_planned(slot: Slot, now: datetime) -> list[Planned]:
    return [
        Planned(
            slot.track,
            slot.seq,
            d.target.key,
            slot.at,
            d.not_before,
            now,
            placeholder=d.placeholder,
        )
        for d in slot.deliveries
    ]


@dataclass(frozen=True)
class Plan:
    slots: tuple[Slot, ...]  # due now, in order
    next_at: datetime | None  # when to look again


def plan(
    policy: LadderPolicy,
    period: PeriodFacts,
    history: Sequence[Planned],
    people: People,
    now: datetime,
) -> Plan:
    """The slots due at ``now`` (to be written to the outbox) and the next time to look."""
    seen = list(history)
    slots: list[Slot] = []
    for _ in range(MAX_SLOTS_PER_CALL):
        r_next = _responsible_next(policy, period, seen)
        r_at, gap = r_next if r_next else (None, timedelta(0))
        e_at = escalation_at(policy, period, seen)
        candidates = [t for t in (r_at, e_at) if t is not None and t <= now]
        if not candidates:
            break
        # Responsible first on a tie: the escalation then knows who already heard.
        if r_at is not None and r_at <= now and (e_at is None or r_at <= e_at):
            slot = _responsible_slot(r_at, gap, seen, people)
            if slot is None:  # nobody to route to: the ladder waits for a config change
                return Plan(tuple(slots), None if e_at is None or e_at <= now else e_at)
        else:
            assert e_at is not None
            slot = _escalation_slot(policy, e_at, seen, people)
        slots.append(slot)
        seen.extend(_as_planned(slot, now))
    return Plan(tuple(slots), next_at(policy, period, seen))


# --- snooze targets ---------------------------------------------------------------------------

SNOOZE_CHOICES = ("30m", "2h", "tomorrow")
TOMORROW_AT = time(9, 0)


def snooze_until(choice: str, now: datetime, tz: ZoneInfo) -> datetime:
    """``30m``/``2h`` (any duration) from now, or ``tomorrow`` 09:00 in the person's zone."""
    if choice.strip().lower() != "tomorrow":
        return now + parse_positive_duration(choice)
    local = now.astimezone(tz)
    wall = datetime.combine(local.date() + timedelta(days=1), TOMORROW_AT)
    at = wall.replace(tzinfo=tz)
    # 09:00 exists on every DST change day in practice; normalise through UTC regardless.
    return at.astimezone(now.tzinfo) if now.tzinfo else at
