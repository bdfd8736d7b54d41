"""Keep an unreadable inbound payload as a dead letter: one WARNING line, one row.

Every route that has authenticated a payload and then cannot read it comes here (Telegram
updates PTB rejects, Slack and webhook bodies that do not parse), so "nothing silent" holds
whatever the platform: ``nudgebot dead-letters`` lists them, ``/metrics`` counts them.
"""

from __future__ import annotations

import logging

from bot.domain.ports import DeadLetter
from storage import dead_letters_repo
from storage.db import Database

log = logging.getLogger("nudgebot.dead_letters")


async def keep_dead_letter(db: Database, letter: DeadLetter) -> None:
    """Raises when the row could not be written: the caller must then answer non-2xx."""
    await dead_letters_repo.keep(db, letter)
    log.warning(
        "kept a %s payload for source %r as a dead letter (%d bytes): %s — see `nudgebot "
        "dead-letters`",
        letter.platform, letter.source or "?", len(letter.payload), letter.reason,
    )  # fmt: skip
