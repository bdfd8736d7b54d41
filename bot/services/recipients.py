"""Where a team member's messages go — nudges, digests, hand-offs: one lookup for all three,
so a platform added to the registry is reached the same way everywhere."""

from __future__ import annotations

from bot.config import Config
from bot.domain.ports import Recipient


def recipient_of(config: Config, person_id: str) -> Recipient | None:
    """Their ``notify`` platform and their address there; None without one (or unknown)."""
    person = config.person(person_id.removeprefix("person:"))
    found = person.nudge_address() if person is not None else None
    if person is None or found is None:
        return None
    platform, address = found
    return Recipient(platform, address, person.id, person.timezone)
