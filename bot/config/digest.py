"""``digest:`` — when owners get the weekly digest: ``{at: "Mon 09:00", enabled: true}``.

The time is read on each owner's own clock (their ``timezone``), so a team spread over zones
gets it at nine in the morning everywhere.
"""

from __future__ import annotations

from bot.config import fields
from bot.config.errors import Issues
from bot.config.models import DigestSettings
from bot.domain.rotation import parse_handoff
from bot.domain.turns import RotationError

DIGEST_KEYS = ("at", "enabled")
_FIX = "write e.g. at: Mon 09:00 (a weekday and a time, in each owner's time zone)"


def parse_digest(issues: Issues, raw: object) -> DigestSettings | None:
    body = fields.mapping(issues, "digest", raw, 'digest: {at: "Mon 09:00"}')
    if body is None:
        return None
    mark = issues.count
    e = fields.Entry(issues, "digest", body, DIGEST_KEYS)
    enabled = e.flag("enabled")
    settings = DigestSettings()
    at = e.text("at", "Mon 09:00")
    if at is not None:
        try:
            weekday, when = parse_handoff(at)
        except RotationError:
            issues.add(e.at("at"), f"{at!r} is not a weekday and time", _FIX)
        else:
            if weekday is None:
                issues.add(e.at("at"), f"{at!r} names no weekday; the digest is weekly", _FIX)
            else:
                settings = DigestSettings(weekday=weekday, at=when)
    if issues.count != mark:
        return None
    return DigestSettings(
        weekday=settings.weekday,
        at=settings.at,
        enabled=settings.enabled if enabled is None else enabled,
    )
