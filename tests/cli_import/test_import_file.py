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
async def rt(db_url: str) -> AsyncIterator[Runtime]:
    runtime = Runtime.from_config(Config(), db_url)
    yield runtime
    await runtime.close()


async def test_good_bad_and_blank_lines(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
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
    report = await importer.import_file(rt, io.StringIO(text), "bulk", "import")
    assert report.bad == [
        (3, "id: must not be empty"),
        (4, "not valid JSON (JSONDecodeError)"),
        (7, "at: needs a time zone (end it with Z or +01:00)"),
        (8, "author.id: is required"),
        (12, "expected a JSON object, got list"),
    ]
    assert (report.lines, report.imported, report.new) == (11, 6, 6)
    assert len(report.conversations) == 3

    again = await importer.import_file(rt, io.StringIO(text), "bulk", "import")
    assert (again.lines, again.imported, again.new, len(again.bad)) == (11, 6, 0, 5)


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
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tables an import grows are analysed after the first batch and each time they
    double since (stale statistics made PostgreSQL's key lookups scan)."""
    analysed: list[tuple[str, ...]] = []

    async def counting(tables: Any) -> None:  # not the real ANALYZE: see the next test
        analysed.append(tuple(tables))

    monkeypatch.setattr(rt.db, "refresh_statistics", counting)
    monkeypatch.setattr(importer, "BATCH", 2)
    text = "".join(line(n) for n in range(1, 19))  # 9 batches of 2
    report = await importer.import_file(rt, io.StringIO(text), "bulk", "import")
    assert report.new == 18
    assert len(analysed) == 4  # with 2 messages stored (from none), then 4, 8 and 16
    assert set(analysed[0]) == {"conversations", "messages", "waiting_periods"}


async def test_refresh_statistics_analyses_on_postgresql(rt: Runtime) -> None:
    """On a table of its own: statistics left on the shared tables would steer the query
    plans other tests look at."""
    if rt.db.is_sqlite:
        await rt.db.refresh_statistics(["messages"])  # a no-op: SQLite needs none
        return
    async with rt.db.engine.begin() as conn:
        await conn.execute(sql("CREATE TABLE analyse_probe (n int)"))
        await conn.execute(sql("INSERT INTO analyse_probe SELECT generate_series(1, 100)"))
    try:
        await rt.db.refresh_statistics(["analyse_probe"])
        async with rt.db.engine.connect() as conn:
            analysed = await conn.scalar(
                sql("SELECT reltuples FROM pg_class WHERE relname = 'analyse_probe'")
            )
        assert analysed == 100  # -1 until the table is analysed
    finally:
        async with rt.db.engine.begin() as conn:
            await conn.execute(sql("DROP TABLE analyse_probe"))
