"""The GitHub poller's cursor: per list, where it was read up to."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.domain.payload import arr, obj, when
from bot.domain.polling import BadItem

log = logging.getLogger("nudgebot.github")
KEYS = ("issues", "comments", "discussions")


def iso(value: datetime) -> str:
    """GitHub's ``since`` format: whole seconds, UTC."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Mark:
    """Where a list was read up to: ``since`` (inclusive, whole seconds) and the ids already
    stored that were updated in exactly that second, so they are not handed over again."""

    since: str
    seen: tuple[str, ...] = ()

    def dump(self) -> dict[str, object]:
        return {"since": self.since, "seen": list(self.seen)}


def _mark(data: Mapping[str, object]) -> Mark:
    seen = arr(data.get("seen") or [], "seen")
    return Mark(iso(when(data, "since")), tuple(str(i) for i in seen if isinstance(i, str | int)))


def load(cursor: str | None, source: str) -> dict[str, Mark]:
    if cursor is None:
        return {}
    try:
        data = obj(json.loads(cursor))
        return {k: _mark(obj(data[k])) for k in KEYS if k in data}
    except (ValueError, BadItem):
        log.warning("%s: unreadable cursor %r; starting over from the backfill", source, cursor)
        return {}
