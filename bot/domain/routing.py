"""Who is responsible for a conversation at an instant (DESIGN.md, "Responsible person")."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Route:
    """The people to nudge, and why (shown to users so routing is never a mystery)."""

    people: tuple[str, ...]
    reason: str  # claimed | owner | on_call | owner_out_of_hours | owners | nobody

    @property
    def primary(self) -> str | None:
        return self.people[0] if self.people else None


def responsible(
    at: datetime,
    *,
    claimed_by: str | None,
    owner: str | None,
    rotation: str | None,
    owners: Sequence[str],
    in_hours: Callable[[str, datetime], bool],
    on_call: Callable[[str, datetime], str | None],
) -> Route:
    """Claimed → owner in hours → on call → owner → every owner.

    The owner outside their hours still ranks above "every owner": a source with an owner
    and nobody on call stays that owner's, and their nudge waits for their hours.
    """
    if claimed_by:
        return Route((claimed_by,), "claimed")
    if owner and in_hours(owner, at):
        return Route((owner,), "owner")
    if rotation:
        person = on_call(rotation, at)
        if person:
            return Route((person,), "on_call")
    if owner:
        return Route((owner,), "owner_out_of_hours")
    if owners:
        return Route(tuple(owners), "owners")
    return Route((), "nobody")


@dataclass(frozen=True)
class Routing:
    """Everything ``responsible`` needs about sources and people, bound once per config."""

    source_owner: dict[str, str]
    source_rotation: dict[str, str]
    owners: tuple[str, ...]
    in_hours: Callable[[str, datetime], bool]
    on_call: Callable[[str, datetime], str | None]

    def route(self, source: str, claimed_by: str | None, at: datetime) -> Route:
        return responsible(
            at,
            claimed_by=claimed_by,
            owner=self.source_owner.get(source),
            rotation=self.source_rotation.get(source),
            owners=self.owners,
            in_hours=self.in_hours,
            on_call=self.on_call,
        )


def _always(_person: str, _at: datetime) -> bool:
    return True


def _nobody(_rotation: str, _at: datetime) -> str | None:
    return None


NO_ROUTING = Routing({}, {}, (), _always, _nobody)
