"""``rotations:`` — who is on call, as turns in a fixed order or from an iCal feed."""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.config import fields
from bot.config.errors import Issues, child, item
from bot.config.interpolate import UNRESOLVED
from bot.config.models import DEFAULT_ICAL_REFRESH, Handoff, Override, Rotation

ROTATION_KEYS = (
    "members",
    "shift",
    "handoff",
    "start",
    "timezone",
    "overrides",
    "ical",
    "refresh",
)
OVERRIDE_KEYS = ("who", "from", "to")
_TURN_KEYS = ("members", "shift", "handoff", "start")
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_HANDOFF = re.compile(r"^(?:([A-Za-z]+)\s+)?(\d{1,2}):(\d{2})$")
_URL = re.compile(r"^(?:https?|webcal)://", re.IGNORECASE)
_HANDOFF_FIX = "write e.g. 'Mon 09:00' (weekly) or '09:00' (every day)"
_DATETIME_FIX = "write e.g. 2026-12-24 00:00 (rotation time zone) or 2026-12-24T00:00+01:00"


def _weekday(word: str) -> int | None:
    word = word.lower()
    for index, day in enumerate(_DAYS):
        if len(word) >= 3 and day.startswith(word):
            return index
    return None


def _handoff(e: fields.Entry) -> Handoff | None:
    got = e.text("handoff", "Mon 09:00")
    if got is None:
        return None
    m = _HANDOFF.match(got)
    if m:
        weekday = _weekday(m.group(1)) if m.group(1) else None
        hour, minute = int(m.group(2)), int(m.group(3))
        if (weekday is not None or not m.group(1)) and hour < 24 and minute < 60:
            return Handoff(weekday, time(hour, minute))
    e.issues.add(e.at("handoff"), f"{got!r} is not a handoff time", _HANDOFF_FIX)
    return None


def _start(e: fields.Entry) -> date | None:
    value = e.get("start")
    if value is None or value is UNRESOLVED:
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    e.issues.add(e.at("start"), f"{fields.describe(value)} is not a date", "write e.g. 2026-11-02")
    return None


def _moment(issues: Issues, path: str, value: object, tz: ZoneInfo) -> datetime | None:
    if value is UNRESOLVED:
        return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)
    issues.add(path, f"{fields.describe(value)} is not a date and time", _DATETIME_FIX)
    return None


def _overrides(e: fields.Entry, team: Collection[str], tz: ZoneInfo) -> tuple[Override, ...]:
    example = "[{who: bob, from: 2026-12-24 00:00, to: 2026-12-27 00:00}]"
    items = fields.sequence(e.issues, e.at("overrides"), e.get("overrides"), example) or []
    out: list[Override] = []
    for i, raw in enumerate(items):
        path = item(e.at("overrides"), i)
        body = fields.mapping(e.issues, path, raw, "{who: bob, from: …, to: …}")
        if body is None:
            continue
        o = fields.Entry(e.issues, path, body, OVERRIDE_KEYS)
        mark = e.issues.count
        for key in OVERRIDE_KEYS:
            o.require(key, f"write e.g. {example}")
        who = o.get("who")
        person = None
        if who is not None:
            person = fields.reference(
                e.issues,
                o.at("who"),
                who,
                kind="person",
                known=team,
                section="team",
                fix_else="name someone else",
            )
        start = _moment(e.issues, o.at("from"), o.get("from"), tz) if o.has("from") else None
        end = _moment(e.issues, o.at("to"), o.get("to"), tz) if o.has("to") else None
        if start is not None and end is not None and end <= start:
            e.issues.add(o.at("to"), "to is not after from", "swap them, or fix the dates")
        elif person and start and end and e.issues.count == mark:
            out.append(Override(who=person, start=start, end=end))
    return tuple(out)


def _members(e: fields.Entry, team: Collection[str]) -> tuple[str, ...]:
    items = fields.sequence(e.issues, e.at("members"), e.get("members"), "members: [alice, bob]")
    if items is None:
        return ()
    if not items:
        e.issues.add(e.at("members"), "no members", "list who takes turns, e.g. [alice, bob]")
    out: list[str] = []
    for i, raw in enumerate(items):
        path = item(e.at("members"), i)
        person = fields.reference(
            e.issues,
            path,
            raw,
            kind="person",
            known=team,
            section="team",
            fix_else=f"remove {raw} from the rotation",
        )
        if person is None:
            continue
        if person in out:
            e.issues.add(path, f"{person} is listed twice", "list each member once")
            continue
        out.append(person)
    return tuple(out)


def _ical(e: fields.Entry, base_dir: Path | None) -> str | None:
    got = e.text("ical", "https://example.com/schedule.ics")
    if got is None:
        return None
    if _URL.match(got):
        return got
    if "://" in got:
        e.issues.add(
            e.at("ical"),
            f"{got!r} is not an http(s) URL or a file path",
            "use an https:// URL or a path to an .ics file",
        )
        return None
    path = Path(got).expanduser()
    # Relative to the config file, so the bot finds it whatever directory it starts in.
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.is_file():
        e.issues.add(
            e.at("ical"),
            f"calendar file {str(path)!r} not found",
            "fix the path (relative paths start at the config file) or use a URL",
        )
        return None
    return str(path)


def parse_rotation(
    issues: Issues,
    path: str,
    rotation_id: str,
    raw: object,
    *,
    team: Collection[str],
    default_tz: str,
    base_dir: Path | None,
) -> Rotation | None:
    body = fields.mapping(issues, path, raw, "{members: [alice, bob], shift: 1w, …}")
    if body is None:
        return None
    mark = issues.count
    e = fields.Entry(issues, path, body, ROTATION_KEYS)
    tz_name = e.zone("timezone") or default_tz
    try:
        tz = ZoneInfo(tz_name)
    except (KeyError, ValueError, OSError):
        tz = ZoneInfo("UTC")  # the bad name is already reported; keep checking the rest
    if e.has("ical"):
        for key in _TURN_KEYS:
            if e.has(key):
                issues.add(
                    e.at(key),
                    f"{key} cannot be combined with ical",
                    f"remove {key} (the calendar decides the turns), or remove ical",
                )
        ical = _ical(e, base_dir)
        refresh = e.duration("refresh")
        overrides = _overrides(e, team, tz) if e.has("overrides") else ()
        if issues.count != mark:
            return None
        return Rotation(
            id=rotation_id,
            timezone=tz_name,
            overrides=overrides,
            ical=ical,
            refresh=refresh or DEFAULT_ICAL_REFRESH,
        )
    fixes = {
        "members": "list who takes turns, e.g. members: [alice, bob] (or use ical: URL)",
        "shift": "add e.g. shift: 1w (the length of one turn)",
        "handoff": "add e.g. handoff: Mon 09:00 (when turns change)",
        "start": "add e.g. start: 2026-11-02 (the first turn starts at the first handoff then)",
    }
    for key, fix in fixes.items():
        e.require(key, fix)
    if e.has("refresh"):
        issues.add(e.at("refresh"), "refresh only applies to ical rotations", "remove it")
    members = _members(e, team) if e.has("members") else ()
    shift = e.duration("shift")
    handoff = _handoff(e)
    start = _start(e)
    overrides = _overrides(e, team, tz) if e.has("overrides") else ()
    if issues.count != mark or shift is None or handoff is None or start is None:
        return None
    return Rotation(
        id=rotation_id,
        timezone=tz_name,
        members=members,
        shift=shift,
        handoff=handoff,
        start=start,
        overrides=overrides,
    )


def parse_rotations(
    issues: Issues, raw: object, *, team: Collection[str], default_tz: str, base_dir: Path | None
) -> dict[str, Rotation]:
    body = fields.mapping(issues, "rotations", raw, "rotations: {support: {members: [alice]}}")
    out: dict[str, Rotation] = {}
    for key, value in (body or {}).items():
        rotation_id = fields.entry_id(issues, "rotations", key, "rotation")
        if rotation_id is None:
            continue
        rotation = parse_rotation(
            issues,
            child("rotations", rotation_id),
            rotation_id,
            value,
            team=team,
            default_tz=default_tz,
            base_dir=base_dir,
        )
        if rotation is not None:
            out[rotation_id] = rotation
    return out
