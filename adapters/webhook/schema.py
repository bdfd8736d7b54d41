"""The import/webhook message schema (one JSON object per line or per POST).

Parsing is strict and names the offending field, so a bad line or request is rejected with
a message a person can act on, and nothing half-valid reaches the store.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from bot.domain.events import Author, InboundMessage

PersonResolver = Callable[[str], str | None]
_MAX_ID = 255
_MAX_TEXT = 40_000
_KEYS = {"thread", "id", "at", "author", "team", "text", "url", "channel"}


class SchemaError(ValueError):
    """A message that does not fit the schema; ``field`` names the culprit."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field


def _string(
    obj: Mapping[str, Any], key: str, *, required: bool, limit: int = _MAX_ID, name: str = ""
) -> str:
    field = name or key
    value = obj.get(key)
    if value is None:
        if required:
            raise SchemaError(field, "is required")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise SchemaError(field, f"must be a string, not {type(value).__name__}")
    text = str(value)
    if required and not text.strip():
        raise SchemaError(field, "must not be empty")
    if len(text) > limit:
        raise SchemaError(field, f"is longer than {limit} characters")
    if "\x00" in text:
        raise SchemaError(field, "contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800"): no database can store it
        raise SchemaError(field, "is not valid Unicode (unpaired surrogate escape)") from None
    return text


def parse_time(value: Any, field: str = "at") -> datetime:
    if not isinstance(value, str):
        raise SchemaError(field, "must be an ISO-8601 time string like 2026-11-28T10:00:00Z")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise SchemaError(field, f"{value[:40]!r} is not an ISO-8601 time") from None
    if parsed.tzinfo is None:
        raise SchemaError(field, "needs a time zone (end it with Z or +01:00)")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 lies before the first representable UTC time
        raise SchemaError(field, f"{value[:40]!r} is out of range") from None


def parse_message(
    obj: Any, *, source: str, platform: str = "webhook", resolve: PersonResolver | None = None
) -> InboundMessage:
    if not isinstance(obj, dict):
        raise SchemaError("", f"expected a JSON object, got {type(obj).__name__}")
    thread = _string(obj, "thread", required=True)
    message_id = _string(obj, "id", required=True)
    at = parse_time(obj.get("at"))
    author_raw = obj.get("author")
    if not isinstance(author_raw, dict):
        raise SchemaError("author", 'must be an object like {"id": "cust-9", "name": "Dana"}')
    author_id = _string(author_raw, "id", required=True, name="author.id")
    name = _string(author_raw, "name", required=False, name="author.name")
    team = obj.get("team", False)
    if not isinstance(team, bool):
        raise SchemaError("team", "must be true or false")
    text = _string(obj, "text", required=False, limit=_MAX_TEXT)
    url = _string(obj, "url", required=False, limit=2048)
    channel = _string(obj, "channel", required=False)
    person = resolve(author_id) if team and resolve else None
    return InboundMessage(
        source=source,
        platform=platform,
        message_id=message_id,
        thread=thread,
        at=at,
        author=Author(author_id, name),
        is_team=team,
        text=text,
        channel=channel,
        url=url,
        person=person,
    )


def parse_line(
    line: str | bytes,
    *,
    source: str,
    platform: str = "webhook",
    resolve: PersonResolver | None = None,
) -> InboundMessage:
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise SchemaError("", f"not valid JSON ({exc.__class__.__name__})") from None
    return parse_message(obj, source=source, platform=platform, resolve=resolve)
