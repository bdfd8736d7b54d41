"""A rotation's turns as an iCalendar feed, for people to subscribe to in a calendar app.

One VEVENT per turn (an override's turn included), in UTC. The UID is built from the
rotation, the turn's start and its person, so a calendar app sees the same turn as the same
event on every refresh, and a turn that changes hands becomes a new event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import icalendar

from bot.domain.turns import Turn

PAST = timedelta(weeks=2)
AHEAD = timedelta(weeks=12)
PRODID = "-//Nudgebot//On-call rotations//EN"


def turn_uid(rotation: str, turn: Turn) -> str:
    return f"{rotation}-{turn.start.astimezone(UTC):%Y%m%dT%H%M%SZ}-{turn.person}@nudgebot"


def export_ics(
    rotation: str,
    turns: Sequence[Turn],
    now: datetime,
    name_of: Callable[[str], str],
) -> bytes:
    """``turns`` as a VCALENDAR; turns of nobody (gaps) are left out."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"On call: {rotation}")
    calendar.add("x-wr-timezone", "UTC")
    stamp = now.astimezone(UTC).replace(microsecond=0)
    for turn in turns:
        if turn.person is None:
            continue
        event = icalendar.Event()
        event.add("uid", turn_uid(rotation, turn))
        event.add("dtstamp", stamp)
        event.add("dtstart", turn.start.astimezone(UTC))
        event.add("dtend", turn.end.astimezone(UTC))
        event.add("summary", f"On call: {name_of(turn.person)}")
        kind = "override" if turn.override else "turn"
        event.add("description", f"{rotation} rotation: {turn.person} ({kind})")
        event.add("categories", [rotation])
        event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    body: bytes = calendar.to_ical()
    return body
