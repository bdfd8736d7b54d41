"""Chat names for the dashboard through the adapter's own Bot: ``getChat`` once per chat,
kept in the database, asked again after a day; a chat the bot cannot see keeps its id."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.services.channel_names import ChannelNames
from tests.telegram.tg_kit import harness

GROUP, PRIVATE, GONE = "-1001234567890", "555", "-1009999999999"


async def test_get_chat_once_cached_refreshed_daily(tmp_path: Path, db_url: str) -> None:
    async with harness(tmp_path, db_url) as tg:
        tg.fake.unknown_chats.add(int(GONE))
        names = ChannelNames(tg.runtime.db, tg.runtime.namers, tg.clock)
        pairs = [("telegram", GROUP), ("telegram", PRIVATE), ("telegram", GONE), ("webhook", "x")]
        assert await names.names(pairs) == {}  # nothing known yet; a lookup starts
        await names.idle()
        assert await names.names(pairs) == {
            ("telegram", GROUP): f"Chat {GROUP}",
            ("telegram", PRIVATE): "User555",
            ("telegram", GONE): GONE,  # "chat not found": the id stays, no error
        }
        await names.idle()
        asked = [c.params["chat_id"] for c in tg.fake.calls if c.method == "getChat"]
        assert sorted(map(str, asked)) == sorted([GROUP, PRIVATE, GONE])  # once each
        tg.clock.advance(timedelta(days=1))
        await names.names(pairs)
        await names.idle()
        assert len([c for c in tg.fake.calls if c.method == "getChat"]) == 6


async def test_a_failing_lookup_is_logged_and_not_retried_at_once(
    tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with harness(tmp_path, db_url) as tg:
        tg.fake.fail_next(1, code=500, methods={"getChat"})
        names = ChannelNames(tg.runtime.db, tg.runtime.namers, tg.clock)
        await names.names([("telegram", GROUP)])
        await names.idle()
        assert await names.names([("telegram", GROUP)]) == {}  # not stored
        [line] = [r for r in caplog.records if r.name == "nudgebot.names"]
        assert f"telegram name lookup for {GROUP} failed" in line.getMessage()
        await names.idle()
        assert len([c for c in tg.fake.calls if c.method == "getChat"]) == 1  # no hammering
        tg.clock.advance(timedelta(minutes=11))
        await names.names([("telegram", GROUP)])
        await names.idle()
        assert await names.names([("telegram", GROUP)]) == {("telegram", GROUP): f"Chat {GROUP}"}
