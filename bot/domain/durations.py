"""Durations as people write them in config: ``45s``, ``15m``, ``4h``, ``2d``, ``1w``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Compound forms ("1h30m") are accepted because people write them; a bare number is not,
# since "15" could mean minutes or seconds and guessing would silently mistime nudges.
_PART = re.compile(r"(\d+)\s*([smhdw])")
_MAX_SECONDS = 100 * 366 * 86400
_WHOLE = re.compile(r"^\s*(?:\d+\s*[smhdw]\s*)+$")


class DurationError(ValueError):
    pass


def parse_duration(text: str | int | float) -> timedelta:
    if isinstance(text, bool):
        raise DurationError(f"{text!r} is not a duration; write e.g. 45s, 15m, 4h, 2d or 1w")
    if isinstance(text, int | float):
        shown = int(text) if text == text and abs(text) < 1e15 else 15
        raise DurationError(f"{text!r} has no unit; write e.g. {shown}s, {shown}m or {shown}h")
    raw = str(text).strip().lower()
    if not raw or not _WHOLE.match(raw):
        raise DurationError(f"{text!r} is not a duration; write e.g. 45s, 15m, 4h, 2d or 1w")
    seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(raw))
    if seconds > _MAX_SECONDS:
        raise DurationError(f"{text!r} is out of range (over a hundred years); is a unit wrong?")
    return timedelta(seconds=seconds)


def parse_positive_duration(text: str | int | float) -> timedelta:
    value = parse_duration(text)
    if value <= timedelta(0):
        raise DurationError(f"{text!r} must be longer than zero")
    return value


def format_duration(value: timedelta) -> str:
    """Short human form, largest two units: ``1h 05m``, ``3d 4h``, ``45s``."""
    total = int(value.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours}h" if hours else f"{sign}{days}d"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    if minutes:
        short = seconds and minutes < 10
        return f"{sign}{minutes}m {seconds:02d}s" if short else f"{sign}{minutes}m"
    return f"{sign}{seconds}s"


SINCE_HINT = "use a duration like 7d, 12h, 30m or an ISO date like 2026-11-01"


def parse_since(value: str, now: datetime) -> datetime:
    """A report's start: a look-back (``7d``) or an ISO date/time (UTC when it names no zone).

    Raises ``ValueError`` with a message for people; shared by the CLI and the API so both
    accept and refuse exactly the same input.
    """
    text = value.strip()
    if _WHOLE.match(text.lower()):
        try:
            start = now - parse_duration(text)
        except (DurationError, OverflowError) as exc:
            raise ValueError(f"{value[:40]!r} is out of range; {SINCE_HINT}") from exc
    else:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            start = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
        except ValueError:
            raise ValueError(f"{value[:40]!r} is not a time; {SINCE_HINT}") from None
        except OverflowError:
            raise ValueError(f"{value[:40]!r} is out of range; {SINCE_HINT}") from None
    if start > now:
        raise ValueError(f"{value[:40]!r} lies in the future")
    return start
