"""Who is responsible (DESIGN.md): claimed → owner in hours → on call → owner → every owner."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import UTC, datetime

import pytest

from bot.app import build_routing
from bot.config import Config
from bot.domain.routing import NO_ROUTING, Route, responsible
from bot.services.nudge_settings import NudgeSettings
from tests.engine.engine_kit import SOURCE, make_config, person

AT = datetime(2026, 6, 3, 22, 0, tzinfo=UTC)


def route(
    *,
    claimed_by: str | None = None,
    owner: str | None = "alice",
    rotation: str | None = "support",
    on_call: str | None = "bob",
    owner_in_hours: bool = True,
    owners: tuple[str, ...] = ("alice", "carol"),
) -> Route:
    def in_hours(person: str, _at: datetime) -> bool:
        return owner_in_hours if person == owner else True

    def who(rotation_id: str, _at: datetime) -> str | None:
        return on_call if rotation_id == "support" else None

    return responsible(
        AT, claimed_by=claimed_by, owner=owner, rotation=rotation, owners=owners,
        in_hours=in_hours, on_call=who,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ({"claimed_by": "dave", "owner_in_hours": False}, Route(("dave",), "claimed")),
        ({}, Route(("alice",), "owner")),
        ({"owner_in_hours": False}, Route(("bob",), "on_call")),
        ({"owner": None}, Route(("bob",), "on_call")),
        ({"owner_in_hours": False, "on_call": None}, Route(("alice",), "owner_out_of_hours")),
        ({"owner_in_hours": False, "rotation": None}, Route(("alice",), "owner_out_of_hours")),
        ({"owner": None, "on_call": None}, Route(("alice", "carol"), "owners")),
        ({"owner": None, "rotation": None}, Route(("alice", "carol"), "owners")),
        ({"owner": None, "rotation": None, "owners": ()}, Route((), "nobody")),
    ],
)
def test_the_responsibility_chain(case: dict[str, object], expected: Route) -> None:
    assert route(**case) == expected  # type: ignore[arg-type]


# A Tokyo owner working 09:00-17:00 Tokyo time (00:00-08:00 UTC). Each instant below is in
# their hours in exactly one of the two zones, so evaluating them in UTC flips every answer.
TOKYO_MORNING = datetime(2026, 6, 3, 1, 0, tzinfo=UTC)  # Wed 10:00 Tokyo, 01:00 UTC
TOKYO_EVENING = datetime(2026, 6, 3, 10, 0, tzinfo=UTC)  # Wed 19:00 Tokyo, 10:00 UTC
NEXT_TOKYO_MORNING = datetime(2026, 6, 4, 0, 0, tzinfo=UTC)  # Thu 09:00 Tokyo


def _tokyo_config() -> Config:
    tokyo = person("kenji", owner=True, timezone="Asia/Tokyo", hours="Mon-Fri 09:00-17:00")
    return make_config(team={"kenji": tokyo, "bob": person("bob")}, owner="kenji")


@pytest.mark.parametrize(
    ("at", "reason"), [(TOKYO_MORNING, "owner"), (TOKYO_EVENING, "owner_out_of_hours")]
)
def test_an_owners_hours_are_read_in_the_owners_zone(at: datetime, reason: str) -> None:
    routing = build_routing(_tokyo_config())
    assert routing.route(SOURCE, None, at) == Route(("kenji",), reason)


@pytest.mark.parametrize(
    ("at", "available"),
    [(TOKYO_MORNING, TOKYO_MORNING), (TOKYO_EVENING, NEXT_TOKYO_MORNING)],
)
def test_a_persons_nudge_waits_for_their_own_morning(at: datetime, available: datetime) -> None:
    config = _tokyo_config()
    people = NudgeSettings.build(config, build_routing(config)).people(SOURCE, None)
    assert people.available_from("kenji", at) == available


def test_primary_is_the_first_person_or_nobody() -> None:
    assert Route(("carol", "alice"), "owners").primary == "carol"
    assert Route((), "nobody").primary is None


def test_routes_and_routing_are_frozen() -> None:
    route_ = Route(("alice",), "owner")
    with pytest.raises(FrozenInstanceError):
        route_.reason = "claimed"  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        NO_ROUTING.owners = ("mallory",)  # type: ignore[misc]


def test_no_routing_finds_nobody_but_keeps_a_claim() -> None:
    """What a config without owners or rotations routes by: everyone counts as in hours."""
    assert NO_ROUTING.route("any", None, AT) == Route((), "nobody")
    assert NO_ROUTING.route("any", "dave", AT) == Route(("dave",), "claimed")
    assert NO_ROUTING.in_hours("anyone", AT) is True
    assert NO_ROUTING.on_call("support", AT) is None
