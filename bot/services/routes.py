"""Routing built from the config: owners, rotations and each person's working hours.

Kept apart from ``bot.app`` (which re-exports it) so that the read-only commands can route
conversations without loading the nudge engine and the adapters that the app wires."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.domain.routing import Routing


def _person_in_hours(config: Config) -> Callable[[str, datetime], bool]:
    def in_hours(person_id: str, at: datetime) -> bool:
        person = config.person(person_id)
        if person is None or person.hours is None:
            return True
        return person.hours.contains(at.astimezone(ZoneInfo(person.timezone)).replace(tzinfo=None))

    return in_hours


def _no_rotation(_rotation: str, _at: datetime) -> str | None:
    return None


def build_routing(
    config: Config, on_call: Callable[[str, datetime], str | None] = _no_rotation
) -> Routing:
    return Routing(
        source_owner={s.id: s.owner for s in config.sources.values() if s.owner},
        source_rotation={s.id: s.rotation for s in config.sources.values() if s.rotation},
        owners=config.owners(),
        in_hours=_person_in_hours(config),
        on_call=on_call,
    )
