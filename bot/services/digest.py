"""The weekly digest's content: last week against the week before, the slowest
conversations, who is on call.

Weeks are whole local weeks (Monday 00:00) on the reader's clock. Every figure comes from
``report()`` — the function behind ``stats --json`` — over that week, so the digest and
``nudgebot stats --since <Monday> --json`` agree. The text is the Markdown-light of
``Messenger.send_text``; the adapters render it for Slack and Telegram. Its formatting is
this template's: every name, source and URL inserted goes through ``md_literal`` /
``md_link`` (bot.domain.untrusted), so a customer called ``**[x](https://evil)**`` is text.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.domain.durations import format_duration
from bot.domain.localtime import SHORT, labelled
from bot.domain.untrusted import md_link
from bot.domain.untrusted import md_literal as lit
from bot.services.engagement import WEEK, local_midnight, monday_of, week_key
from bot.services.oncall import OncallService
from bot.services.stats import report
from storage.db import Database
from storage.report_queries import SlowPeriod, slowest_periods

# `oncall --json` at an instant: {"at", "rotations": {ID: {"on_call", "since", "until", "next"}}}
OnCallReport = Callable[[datetime], Awaitable[Mapping[str, Any]]]
SLOWEST = 5


def oncall_reporter(service: OncallService) -> OnCallReport:
    """``oncall --json`` at an instant from the rotations service, with the database's
    overrides and calendars as they are now."""

    async def report(at: datetime) -> Mapping[str, Any]:
        await service.prepare()
        return service.report(at)

    return report


@dataclass(frozen=True)
class Digest:
    person: str | None
    week: str  # the ISO week reported on, e.g. 2026-W48
    since: datetime
    until: datetime
    last: dict[str, Any]  # report() of the week
    before: dict[str, Any]  # report() of the week before
    slowest: tuple[SlowPeriod, ...]
    oncall: Mapping[str, Any] | None
    text: str


def _seconds(value: object) -> str:
    if not isinstance(value, int | float):
        return "–"
    return format_duration(timedelta(seconds=float(value)))


def _percent(value: object) -> str:
    return f"{float(value):.0%}" if isinstance(value, int | float) else "–"


def _delta(now: int, before: int) -> str:
    diff = now - before
    return "±0" if diff == 0 else f"{diff:+d}"


def _conversations(r: Mapping[str, Any]) -> tuple[int, int]:
    weeks = r["engagement"]["weeks"]
    return sum(w["conversations"] for w in weeks), sum(w["answered"] for w in weeks)


class DigestWriter:
    def __init__(self, db: Database, config: Config, oncall: OnCallReport | None = None) -> None:
        self.db = db
        self.config = config
        self.oncall = oncall

    def zone(self, person: str | None) -> ZoneInfo:
        found = self.config.person(person) if person else None
        return ZoneInfo(found.timezone if found is not None else self.config.timezone)

    def name(self, person: str | None) -> str:
        """A member by name (``Alice``, never ``person:alice``); anyone else as given."""
        return self.config.display_name(person) if person else ""

    async def compose(self, person: str | None, now: datetime) -> Digest:
        """The digest for ``person`` (None: the team, on the config's clock) as of ``now``:
        about the last whole local week before ``now``."""
        tz = self.zone(person)
        monday = monday_of(now, tz) - WEEK
        since, until = local_midnight(monday, tz), local_midnight(monday + WEEK, tz)
        earlier = local_midnight(monday - WEEK, tz)
        last = await report(self.db, since, until, now, tz=tz)
        before = await report(self.db, earlier, since, now, tz=tz)
        async with self.db.read() as session:
            slow = await slowest_periods(session, since, until, now, SLOWEST)
        oncall = await self.oncall(now) if self.oncall is not None else None
        week = week_key(monday)
        text = self.render(person, week, monday, last, before, slow, oncall, tz)
        return Digest(person, week, since, until, last, before, tuple(slow), oncall, text)

    def render(
        self,
        person: str | None,
        week: str,
        monday: Any,
        last: Mapping[str, Any],
        before: Mapping[str, Any],
        slow: list[SlowPeriod],
        oncall: Mapping[str, Any] | None,
        tz: ZoneInfo,
    ) -> str:
        sunday = monday + timedelta(days=6)
        span = f"{monday:%a %d %b} – {sunday:%a %d %b %Y}"
        who = f" for {lit(self.name(person))}" if person else ""
        started, answered = _conversations(last)
        started_before, answered_before = _conversations(before)
        lines = [
            f"**Weekly digest{who}** · {week} ({span}, {lit(tz.key)})",
            "",
            f"**Replies** {last['replies']} ({_delta(last['replies'], before['replies'])} vs "
            f"the week before) · **broadcasts** {last['broadcasts']} "
            f"({_delta(last['broadcasts'], before['broadcasts'])})",
            f"**Conversations** {started} started, {answered} answered "
            f"({_percent(answered / started if started else None)})"
            f" · week before {started_before} started, {answered_before} answered",
            self._times("First response", last["first_response"], before["first_response"]),
            self._times("Reply time", last["reply"], before["reply"]),
            f"**SLA met** {_percent(last['sla_met_ratio'])} "
            f"(week before {_percent(before['sla_met_ratio'])}) · "
            f"**still unanswered** {last['unanswered']}",
            "",
            "**Slowest conversations**",
        ]
        if not slow:
            lines.append("None: nobody waited last week.")
        for i, s in enumerate(slow, 1):
            waited = format_duration(timedelta(seconds=s.seconds))
            outcome = (
                f"answered by {lit(self.name(s.answered_by) or 'the team')}"
                if s.ended_at is not None
                else "still waiting"
            )
            where = f"{lit(s.customer or 'someone')} in {lit(s.source)}"
            link = f" · {md_link('open', s.url)}" if s.url else ""
            lines.append(f"{i}. {where}: {waited}, {outcome}{link}")
        lines += ["", "**On call this week**", *self._oncall(oncall, tz)]
        return "\n".join(lines)

    @staticmethod
    def _times(label: str, now: Mapping[str, Any], before: Mapping[str, Any]) -> str:
        return (
            f"**{label}** median {_seconds(now['median_seconds'])}, p90 "
            f"{_seconds(now['p90_seconds'])} over {now['count']} (week before: median "
            f"{_seconds(before['median_seconds'])}, p90 {_seconds(before['p90_seconds'])})"
        )

    def _oncall(self, oncall: Mapping[str, Any] | None, tz: ZoneInfo) -> list[str]:
        if oncall is None:
            if not self.config.rotations:
                return ["No rotations are configured."]
            return ["(the on-call schedule is not available in this build)"]
        rotations = oncall.get("rotations") or {}
        if not rotations:
            return ["No rotations are configured."]
        out = []
        for rotation, turn in sorted(rotations.items()):
            person = turn.get("on_call")
            now = lit(self.name(person)) if person else "nobody"
            until = lit(_local(turn.get("until"), tz))
            nxt = turn.get("next")
            if isinstance(nxt, Mapping):  # a turn object rather than a person id
                nxt = nxt.get("person") or nxt.get("on_call")
            then = f", then {lit(self.name(str(nxt)))}" if nxt else ""
            out.append(f"{lit(rotation)}: {now}" + (f" until {until}" if until else "") + then)
        return out


def _local(value: object, tz: ZoneInfo) -> str:
    if not isinstance(value, str) or not value:
        return ""
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return labelled(at, tz, SHORT) if at.tzinfo else value
