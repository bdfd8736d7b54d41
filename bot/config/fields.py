"""Readers for single values: each returns the typed value, or None after recording an issue.

A value that is ``UNRESOLVED`` (its environment variable was missing) yields None without a
second issue: the interpolation step already explained it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from datetime import timedelta
from functools import cache
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from bot.config.errors import Issues, child, closest, item, split_message
from bot.config.interpolate import UNRESOLVED
from bot.domain.durations import DurationError, parse_duration, parse_positive_duration
from bot.domain.hours import HoursError, WeeklyHours, parse_hours

ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DURATION_FIX = "write e.g. 45s, 15m, 4h, 2d or 1w"


def describe(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"text {shown!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__} value"


def text(issues: Issues, path: str, value: object, example: str) -> str | None:
    """A string; numbers are accepted as their text since YAML reads ``C123`` and ``123`` alike."""
    if value is UNRESOLVED:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    issues.add(path, f"expected text, got {describe(value)}", f"write e.g. {example}")
    return None


def flag(issues: Issues, path: str, value: object) -> bool | None:
    if value is UNRESOLVED:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"  # from ${VAR}
    issues.add(path, f"expected true or false, got {describe(value)}", "write true or false")
    return None


def sequence(issues: Issues, path: str, value: object, example: str) -> list[object] | None:
    if value is UNRESOLVED:
        return None
    if isinstance(value, list):
        return value
    issues.add(path, f"expected a list, got {describe(value)}", f"write e.g. {example}")
    return None


def text_list(
    issues: Issues, path: str, value: object, example: str, *, key: str
) -> tuple[str, ...] | None:
    items = sequence(issues, path, value, f"{key}: {example}")
    if items is None:
        return None
    out: list[str] = []
    ok = True
    for i, raw in enumerate(items):
        got = text(issues, item(path, i), raw, example)
        if got is None or not got.strip():
            if got is not None:
                issues.add(item(path, i), "empty entry", "remove it or fill it in")
            ok = False
            continue
        out.append(got.strip())
    return tuple(out) if ok else None


def mapping(issues: Issues, path: str, value: object, example: str) -> dict[object, object] | None:
    """A mapping; ``None`` (an empty section such as ``team:``) counts as empty."""
    if value is None:
        return {}
    if value is UNRESOLVED:
        return None
    if isinstance(value, dict):
        return value
    issues.add(path, f"expected a mapping, got {describe(value)}", f"write e.g. {example}")
    return None


def entry_id(issues: Issues, path: str, key: object, kind: str) -> str | None:
    """Validate a team/rotation/policy/source id (a mapping key)."""
    name = str(key) if isinstance(key, int | str) and not isinstance(key, bool) else None
    if name is not None and ID.match(name):
        return name
    issues.add(
        child(path, key),
        f"{describe(key)} is not a valid {kind} id",
        "use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit",
    )
    return None


def duration(
    issues: Issues, path: str, value: object, *, positive: bool = True
) -> timedelta | None:
    if value is UNRESOLVED:
        return None
    if not isinstance(value, str | int | float):
        issues.add(path, f"expected a duration, got {describe(value)}", DURATION_FIX)
        return None
    try:
        return parse_positive_duration(value) if positive else parse_duration(value)
    except DurationError as error:
        message, fix = split_message(str(error), DURATION_FIX)
        issues.add(path, message, fix)
    except (ValueError, OverflowError):  # NaN, infinity, or beyond timedelta's range
        issues.add(path, f"{describe(value)} is not a usable duration", DURATION_FIX)
    return None


def hours(issues: Issues, path: str, value: object) -> WeeklyHours | None:
    if value is UNRESOLVED:
        return None
    if not isinstance(value, str):
        issues.add(
            path, f"expected an hours spec, got {describe(value)}", "write e.g. Mon-Fri 09:00-17:30"
        )
        return None
    try:
        return parse_hours(value)
    except HoursError as error:
        message, fix = split_message(str(error), "write e.g. Mon-Fri 09:00-17:30")
        issues.add(path, message, fix)
        return None


@cache
def _zone_names() -> tuple[str, ...]:
    return tuple(sorted(available_timezones()))


def zone(issues: Issues, path: str, value: object) -> str | None:
    name = text(issues, path, value, "Europe/Berlin")
    if name is None:
        return None
    name = name.strip()
    try:
        ZoneInfo(name)
        return name
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        pass
    folded = {n.lower(): n for n in _zone_names()}
    guess = folded.get(name.lower()) or closest(name, _zone_names())
    hint = f"did you mean {guess}? " if guess else ""
    issues.add(
        path,
        f"unknown time zone {name!r}",
        f"{hint}Use an IANA name such as Europe/Berlin, America/New_York or UTC",
    )
    return None


def reference(
    issues: Issues,
    path: str,
    value: object,
    *,
    kind: str,
    known: Collection[str],
    section: str,
    fix_else: str,
) -> str | None:
    """A reference to a defined person, rotation or policy."""
    name = text(issues, path, value, f"an id from {section}:")
    if name is None:
        return None
    name = name.strip()
    if name in known:
        return name
    guess = closest(name, known)
    if guess:
        fix = f"did you mean {guess!r}? Otherwise add {name} under {section}: or {fix_else}"
    else:
        fix = f"add {name} under {section}: or {fix_else}"
    issues.add(path, f"unknown {kind} {name!r}", fix)
    return None


def freeze(value: object) -> Any:
    """Deep read-only copy of free-form data (a source's ``extra`` keys)."""
    if isinstance(value, dict):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, set):
        return frozenset(freeze(v) for v in value)
    return value


class Entry:
    """One mapping whose keys are checked against a fixed list (a member, a rotation, …)."""

    def __init__(
        self,
        issues: Issues,
        path: str,
        raw: Mapping[object, object],
        known: Sequence[str],
        *,
        extras: bool = False,
    ) -> None:
        self.issues = issues
        self.path = path
        self.raw = raw
        self.extra: dict[str, object] = {}
        for key in raw:
            if isinstance(key, str) and key in known:
                continue
            guess = closest(str(key), known, cutoff=0.75 if extras else 0.6)
            if extras and isinstance(key, str) and guess is None:
                # Adapters may read platform-specific keys that this layer does not know.
                self.extra[key] = raw[key]
                continue
            fix = f"did you mean {guess!r}?" if guess else f"valid keys: {', '.join(known)}"
            issues.add(child(path, key), f"unknown key {str(key)!r}", fix)

    def get(self, key: str) -> object:
        """The value, or None when absent or written empty (``key:``)."""
        return self.raw.get(key)

    def has(self, key: str) -> bool:
        return self.raw.get(key) is not None

    def at(self, key: str) -> str:
        return child(self.path, key)

    # Each reader returns None both when the key is absent and when it is invalid; callers
    # tell the two apart by whether the entry added issues.

    def text(self, key: str, example: str) -> str | None:
        if not self.has(key):
            return None
        got = text(self.issues, self.at(key), self.raw[key], example)
        return got.strip() if got is not None else None

    def text_list(self, key: str, example: str) -> tuple[str, ...] | None:
        if not self.has(key):
            return None
        return text_list(self.issues, self.at(key), self.raw[key], example, key=key)

    def flag(self, key: str) -> bool | None:
        return flag(self.issues, self.at(key), self.raw[key]) if self.has(key) else None

    def duration(self, key: str, *, positive: bool = True) -> timedelta | None:
        if not self.has(key):
            return None
        return duration(self.issues, self.at(key), self.raw[key], positive=positive)

    def hours(self, key: str) -> WeeklyHours | None:
        return hours(self.issues, self.at(key), self.raw[key]) if self.has(key) else None

    def zone(self, key: str) -> str | None:
        return zone(self.issues, self.at(key), self.raw[key]) if self.has(key) else None

    def require(self, key: str, fix: str) -> bool:
        """Record a missing required key; ``key:`` with no value counts as missing."""
        if self.has(key):
            return True
        self.issues.add(self.at(key), f"{key} is required", fix)
        return False
