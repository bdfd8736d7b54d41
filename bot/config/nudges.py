"""``nudges:`` — per-person flood limits, at the top level and on any team member:
``{batch_after: 3, batch_window: 2m, max_messages_per_hour: 12}``."""

from __future__ import annotations

from bot.config import fields
from bot.config.errors import Issues
from bot.config.interpolate import UNRESOLVED
from bot.config.models import NudgeLimits, NudgeOverrides

NUDGES_KEYS = ("batch_after", "batch_window", "max_messages_per_hour")
_EXAMPLE = "nudges: {batch_after: 3, batch_window: 2m, max_messages_per_hour: 12}"


def _count(e: fields.Entry, key: str, minimum: int) -> int | None:
    value = e.get(key)
    if value is None or value is UNRESOLVED:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        e.issues.add(
            e.at(key),
            f"{fields.describe(value)} is not a whole number of at least {minimum}",
            f"write e.g. {key}: {getattr(NudgeLimits(), key)}",
        )
        return None
    return value


def parse_overrides(issues: Issues, path: str, raw: object) -> NudgeOverrides | None:
    """The keys as written (None for absent ones); None when any is invalid."""
    body = fields.mapping(issues, path, raw, _EXAMPLE)
    if body is None:
        return None
    mark = issues.count
    e = fields.Entry(issues, path, body, NUDGES_KEYS)
    batch_after = _count(e, "batch_after", 1)
    window = e.duration("batch_window")
    per_hour = _count(e, "max_messages_per_hour", 1)
    if issues.count != mark:
        return None
    return NudgeOverrides(
        batch_after=batch_after, batch_window=window, max_messages_per_hour=per_hour
    )


def parse_nudges(issues: Issues, raw: object) -> NudgeLimits | None:
    found = parse_overrides(issues, "nudges", raw)
    return None if found is None else found.over(NudgeLimits())
