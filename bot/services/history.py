"""A conversation's history as people see it: messages, actions (who, when) and nudges."""

from __future__ import annotations

from storage.actions_repo import Event, events
from storage.db import Database


async def conversation_history(db: Database, conversation_id: int) -> list[Event]:
    """Everything that happened in a conversation, oldest first."""
    async with db.read() as session:
        return await events(session, conversation_id)
