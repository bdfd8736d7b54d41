"""Who is responsible (DESIGN.md): claimed → owner in hours → on call → owner → every owner."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.routing import Route, responsible

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
