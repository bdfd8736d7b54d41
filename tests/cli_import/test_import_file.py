"""``import_file``: batches, blank lines, and bad lines reported by number with the schema's
own words, on the database under test."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text as sql

import bot.cli.importer as importer
from bot.app import Runtime
from bot.config import Config
from tests.plans import product_statements


def line(n: int, **changes: Any) -> str:
    obj = {
        "thread": f"ticket-{n % 3}",
        "id": f"msg-{n}",
        "at": f"2026-11-28T10:{n:02d}:00Z",
        "author": {"id": f"cust-{n % 3}", "name": "Dana"},
        "team": n % 2 == 1,
        "text": f"message {n}",
    }
    return json.dumps({**obj, **changes}) + "\n"


@pytest.fixture
async def runtime(db_url: str) -> AsyncIterator[Runtime]:
    runtime = Runtime.from_config(Config(), db_url)
    yield runtime
    await runtime.close()


async def test_good_bad_and_blank_lines(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importer, "BATCH", 2)  # several flushes, one of them partial
    text = "".join(
        [
            line(1),
            "\n",
            line(2, id=""),
            "{not json\n",
            line(3),
            "   \t\n",
            line(4, at="2026-11-28T10:00:00"),
            line(5, author={"name": "no id"}),
            line(6),
            line(7, id=77),  # numeric ids are valid: the detailed validator takes them
            line(8, text="caf\u00e9 \U0001f44d"),
            "[1, 2]\n",
            line(9),
        ]
    )
    report = await importer.import_file(runtime, io.StringIO(text), "bulk", "import")
    assert report.bad == [
        (3, "id: must not be empty"),
        (4, "not valid JSON (JSONDecodeError)"),
        (7, "at: needs a time zone (end it with Z or +01:00)"),
        (8, "author.id: is required"),
        (12, "expected a JSON object, got list"),
    ]
    assert (report.lines, report.imported, report.new) == (11, 6, 6)
    assert len(report.conversations) == 3

    before = await stored_state(runtime)
    again = await importer.import_file(runtime, io.StringIO(text), "bulk", "import")
    assert (again.lines, again.imported, again.new, len(again.bad)) == (11, 6, 0, 5)
    # The unique key alone would keep ``new`` at 0; the stored rows show whether the
    # re-import wrote or recounted anything.
    assert await stored_state(runtime) == before


async def test_reimport_after_more_history_adds_only_what_is_new(runtime: Runtime) -> None:
    """A second file repeating the first one's lines plus later ones: only the later lines
    land, and each conversation counts each message once."""
    first = "".join(line(n) for n in range(1, 7))
    await importer.import_file(runtime, io.StringIO(first), "bulk", "import")
    report = await importer.import_file(
        runtime, io.StringIO(first + line(7) + line(8)), "bulk", "import"
    )
    assert (report.imported, report.new) == (8, 2)
    state = await stored_state(runtime)
    assert len(state["messages"]) == 8
    by_thread = {row[0]: row[1:3] for row in state["conversations"]}
    expected = {
        f"ticket-{t}": (
            sum(1 for n in range(1, 9) if n % 3 == t and n % 2 == 0),  # customer lines
            sum(1 for n in range(1, 9) if n % 3 == t and n % 2 == 1),  # team lines
        )
        for t in range(3)
    }
    assert by_thread == expected == {"ticket-0": (1, 1), "ticket-1": (1, 2), "ticket-2": (2, 1)}


async def stored_state(runtime: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    """What an import leaves behind, in a stable order."""
    queries = {
        "messages": "SELECT source, message_id, conversation_id, at, is_team, text, deleted "
        "FROM messages ORDER BY source, message_id",
        "conversations": "SELECT thread, customer_messages, team_messages, version, waiting_since, "
        "last_text, started_at, first_response_at FROM conversations ORDER BY thread",
        "waiting_periods": "SELECT conversation_id, started_at, ended_at, end_reason "
        "FROM waiting_periods ORDER BY conversation_id, started_at",
    }
    async with runtime.db.read() as session:
        return {
            name: [tuple(r) for r in await session.execute(sql(query))]
            for name, query in queries.items()
        }


def test_each_author_is_resolved_once() -> None:
    asked: list[str] = []

    def resolve(author_id: str) -> str | None:
        asked.append(author_id)
        return "alice" if author_id == "U1" else None

    remembered = importer._remembering(resolve)
    got = [remembered(a) for a in ("U1", "x", "U1", "x", "U1")]
    assert got == ["alice", None, "alice", None, "alice"]
    assert asked == ["U1", "x"]


async def test_statistics_refreshed_as_the_tables_double(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tables an import grows are analysed after the first batch and each time they
    double since (stale statistics made PostgreSQL's key lookups scan)."""
    analysed: list[tuple[str, ...]] = []

    async def counting(tables: Any) -> None:  # not the real ANALYZE: see the next test
        analysed.append(tuple(tables))

    monkeypatch.setattr(runtime.db, "refresh_statistics", counting)
    monkeypatch.setattr(importer, "BATCH", 2)
    text = "".join(line(n) for n in range(1, 19))  # 9 batches of 2
    report = await importer.import_file(runtime, io.StringIO(text), "bulk", "import")
    assert report.new == 18
    assert len(analysed) == 4  # with 2 messages stored (from none), then 4, 8 and 16
    assert set(analysed[0]) == {"conversations", "messages", "waiting_periods"}


async def test_refresh_statistics_analyses_on_postgresql(runtime: Runtime) -> None:
    """On a table of its own: statistics left on the shared tables would steer the query
    plans other tests look at."""
    if runtime.db.is_sqlite:
        # SQLite's planner needs no statistics, and sqlite_stat1 would steer the plans the
        # plan tests check: nothing may be sent.
        sent = await product_statements(
            runtime.db, lambda: runtime.db.refresh_statistics(["messages"])
        )
        assert sent == []
        async with runtime.db.read() as session:
            stat = await session.scalar(
                sql("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
            )
        assert stat == 0
        return
    async with runtime.db.engine.begin() as conn:
        await conn.execute(sql("CREATE TABLE analyse_probe (n int)"))
        await conn.execute(sql("INSERT INTO analyse_probe SELECT generate_series(1, 100)"))
    try:
        await runtime.db.refresh_statistics(["analyse_probe"])
        async with runtime.db.engine.connect() as conn:
            analysed = await conn.scalar(
                sql("SELECT reltuples FROM pg_class WHERE relname = 'analyse_probe'")
            )
        assert analysed == 100  # -1 until the table is analysed
    finally:
        async with runtime.db.engine.begin() as conn:
            await conn.execute(sql("DROP TABLE analyse_probe"))


def _msg(n: int, thread: str) -> str:
    return json.dumps(
        {"thread": thread, "id": f"m{n}", "at": f"2026-11-28T10:{n:02d}:00Z",
         "author": {"id": f"c-{thread}"}, "text": f"message {n}"}
    ) + "\n"  # fmt: skip


async def test_threads_going_on_at_a_cut_are_carried_into_the_next_batch(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread still going on at a batch's end is written whole with the next batch, not
    in two halves (the second half would read the first back and rewrite it)."""
    import bot.inbox.store as ingest_service

    recomputed: list[int] = []
    real = ingest_service._recompute

    async def counting(session: Any, ids: Any, *args: Any) -> None:
        recomputed.extend(ids)
        await real(session, ids, *args)

    monkeypatch.setattr(ingest_service, "_recompute", counting)
    monkeypatch.setattr(importer, "BATCH", 4)
    monkeypatch.setattr(importer, "HOLD", 1)
    # "a" runs across the first cut (after line 4); "b" and "c" end before it.
    text = "".join(
        [_msg(1, "b"), _msg(2, "a"), _msg(3, "c"), _msg(4, "a"), _msg(5, "a"), _msg(6, "d")]
    )
    report = await importer.import_file(runtime, io.StringIO(text), "bulk", "import")
    assert (report.imported, report.new, len(report.conversations)) == (6, 6, 4)
    assert recomputed == []  # "a" was never written in two halves
    async with runtime.db.read() as session:
        stored = await session.execute(
            sql("SELECT thread, customer_messages FROM conversations ORDER BY thread")
        )
        assert [tuple(r) for r in stored] == [("a", 3), ("b", 1), ("c", 1), ("d", 1)]


def test_carrying_is_capped_at_half_a_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    from adapters.webhook.schema import parse_line

    monkeypatch.setattr(importer, "HOLD", 2)
    batch = [parse_line(_msg(n, "one" if n % 2 else "two"), source="s") for n in range(1, 9)]
    now, carried = importer._cut(batch)
    assert (now, carried) == (batch, [])  # both threads are recent: everything goes now
    batch = [parse_line(_msg(n, "old" if n < 7 else "new"), source="s") for n in range(1, 9)]
    now, carried = importer._cut(batch)
    assert [m.message_id for m in carried] == ["m7", "m8"] and len(now) == 6
