"""Typed reads of decoded JSON from a platform: each accessor returns the documented type or
raises ``BadItem``, so an adapter can skip one malformed item and keep the rest of the page.

Ids are checked against a narrow alphabet because adapters put them into URL paths
(``/statuses/{id}/context``): a hostile id like ``../../admin`` never leaves this module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from bot.domain.polling import BadItem

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_TEXT = 20_000  # characters kept of any one text field


def obj(value: object, what: str = "item") -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise BadItem(f"{what} is {type(value).__name__}, not an object")
    return value


def arr(value: object, what: str = "list") -> list[object]:
    if not isinstance(value, list):
        raise BadItem(f"{what} is {type(value).__name__}, not a list")
    return value


def ident(m: Mapping[str, object], key: str) -> str:
    """An id given as a string or an integer (GitHub, Discourse) — never a bool or float."""
    value = m.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadItem(f"{key} is {type(value).__name__}, not an id")
    text = str(value)
    if not _ID.match(text):
        raise BadItem(f"{key} {text[:40]!r} is not an id")
    return text


def opt_ident(m: Mapping[str, object], key: str) -> str | None:
    return None if m.get(key) is None else ident(m, key)


def string(m: Mapping[str, object], key: str, default: str | None = None) -> str:
    value = m.get(key)
    if value is None and default is not None:
        return default
    if not isinstance(value, str):
        raise BadItem(f"{key} is {type(value).__name__}, not a string")
    return value[:MAX_TEXT]


def opt_string(m: Mapping[str, object], key: str) -> str | None:
    return None if m.get(key) is None else string(m, key)


def flag(m: Mapping[str, object], key: str, default: bool = False) -> bool:
    value = m.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadItem(f"{key} is {type(value).__name__}, not a boolean")
    return value


def integer(m: Mapping[str, object], key: str, default: int | None = None) -> int:
    value = m.get(key)
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadItem(f"{key} is {type(value).__name__}, not an integer")
    return value


def when(m: Mapping[str, object], key: str) -> datetime:
    """An ISO 8601 time (``2026-11-28T10:00:00Z``, ``…000+00:00``) as an aware UTC datetime."""
    raw = string(m, key)
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadItem(f"{key} {raw[:40]!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def opt_when(m: Mapping[str, object], key: str) -> datetime | None:
    return None if m.get(key) is None else when(m, key)
