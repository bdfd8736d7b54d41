"""The lookups the inbox threads Telegram messages with (``storage.thread_queries``), against
the real database: one statement must answer a mixed batch exactly as separate queries would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import Runtime
from bot.domain.events import Author, InboundMessage, Kind
from bot.domain.ports import ChannelMessage, LatestQuery
from bot.wiring.core import CoreService
from storage import thread_queries
from tests.telegram.tg_kit import T0, load_test_config

MIN = timedelta(minutes=1)


@pytest.fixture
async def core(tmp_path: Path, db_url: str) -> AsyncIterator[CoreService]:
    runtime = Runtime.from_config(load_test_config(tmp_path), db_url, now=lambda: T0)
    yield CoreService(runtime)
    await runtime.close()


async def latest_messages(
    core: CoreService, queries: list[LatestQuery]
) -> list[ChannelMessage | None]:
    async with core.runtime.db.read() as session:
        return await thread_queries.latest_messages(session, queries)


async def threads_of(core: CoreService, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    async with core.runtime.db.read() as session:
        return await thread_queries.threads_of(session, keys)


def msg(n: int, author: str, minutes: int, *, channel: str = "-100", thread: str = "t1",
        team: bool = False, source: str = "community", kind: Kind = Kind.MESSAGE,
        ) -> InboundMessage:  # fmt: skip
    return InboundMessage(
        source=source, platform="telegram", message_id=f"{channel}:{n}", thread=thread,
        at=T0 + minutes * MIN, author=Author(author, author), is_team=team, text=f"m{n}",
        channel=channel, person="alice" if team else None, kind=kind,
    )  # fmt: skip


async def test_latest_messages_answers_a_mixed_batch(core: CoreService) -> None:
    await core.ingest([
        msg(1, "dana", 0), msg(2, "eve", 1, thread="t2"), msg(3, "dana", 5),
        msg(4, "alice", 6, team=True), msg(5, "dana", 5, channel="-200", thread="x"),
        msg(6, "dana", 7, source="dms", channel="-100", thread="d"),
    ])  # fmt: skip
    await core.ingest([msg(3, "dana", 5, kind=Kind.DELETE)])
    q = LatestQuery
    queries = [
        q("community", "-100", at=T0 + 10 * MIN, since=T0, author_id="dana"),  # 3 deleted → 1
        q("community", "-100", at=T0 + 10 * MIN, since=T0),  # anyone: alice's at 6
        q("community", "-100", at=T0 + 10 * MIN, since=T0, is_team=False),  # eve's at 1
        q("community", "-100", at=T0 + 10 * MIN, since=T0 + 2 * MIN, author_id="dana"),  # none
        q("community", "-100", at=T0 + 30 * MIN, since=T0, author_id="eve", exclude="-100:2"),
        q("community", "-200", at=T0 + 10 * MIN, since=T0, author_id="dana"),
        q("community", "-100", at=T0 + 10 * MIN, since=T0, is_team=True),
    ]
    found = await latest_messages(core, queries)
    assert [f.message_id if f else None for f in found] == [
        "-100:1", "-100:4", "-100:2", None, None, "-200:5", "-100:4"]  # fmt: skip
    first = found[0]
    assert first is not None
    assert (first.thread, first.at, first.is_team, first.author_id) == ("t1", T0, False, "dana")
    assert first.waiting is False  # alice answered t1
    assert found[2] is not None and found[2].waiting  # t2 waits
    assert await latest_messages(core, []) == []


async def test_threads_of_across_sources(core: CoreService) -> None:
    await core.ingest([msg(1, "dana", 0), msg(1, "dana", 0, source="dms", thread="d")])
    keys = [("community", "-100:1"), ("dms", "-100:1"), ("community", "-100:9")]
    assert await threads_of(core, keys) == {("community", "-100:1"): "t1", ("dms", "-100:1"): "d"}
    assert await threads_of(core, []) == {}
