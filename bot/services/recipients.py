"""Where a team member's messages go — nudges, digests, hand-offs: one lookup for all three,
so a platform added to the registry is reached the same way everywhere — and one way to
send plain text there (digests, hand-offs)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from bot.config import Config
from bot.domain.ports import Delivered, DeliveryError, Messenger, Recipient

__all__ = ["messenger_send", "recipient_of"]


def recipient_of(config: Config, person_id: str) -> Recipient | None:
    """Their ``notify`` platform and their address there; None without one (or unknown)."""
    person = config.person(person_id.removeprefix("person:"))
    found = person.nudge_address() if person is not None else None
    if person is None or found is None:
        return None
    platform, address = found
    return Recipient(platform, address, person.id, person.timezone)


def messenger_send(
    messengers: Mapping[str, Messenger],
) -> Callable[[Recipient, str], Awaitable[Delivered]]:
    """``send`` through the runtime's messengers by platform, looked up at send time
    (adapters attach late)."""

    async def send(recipient: Recipient, text: str) -> Delivered:
        messenger = messengers.get(recipient.platform)
        if messenger is None:
            raise DeliveryError(f"no {recipient.platform} messenger is running")
        return await messenger.send_text(recipient, text)

    return send
