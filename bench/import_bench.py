"""Import throughput: ``import_file`` end to end against a raw ``executemany`` of the same rows.

The import side is the real bulk path (parse each JSONL line, ``ingest`` in batches of 5000,
recompute every touched conversation) into a fresh migrated database. The baseline stores
the very same message rows with the bare driver into an identical fresh ``messages`` table
(same migration, so same indexes and unique key), in one transaction: the floor any import
path pays for writing the rows, without parsing, conversations or state.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from bench.common import fresh_database, pg_connect, sqlite_connect
from bench.profiling import ThreadProfile
from bench.statements import count_statements, describe

SOURCE = "bench"
PLATFORM = "import"
TARGET_RATE = 20_000  # msg/s on SQLite
TARGET_RATIO = 0.3  # of the raw insert
PROFILED = 20_000  # messages in the --profile run
_VOCABULARY = (
    "order delivery refund invoice account password login error payment card shipping "
    "tracking number please help thanks update status still waiting week since yesterday "
    "app crash version android iphone email address changed subscription cancel plan "
    "price discount code support ticket reply soon could you check again"
)
_WORDS = tuple(_VOCABULARY.split())
_PROJECT_CODE = r"/(bot|storage|adapters)/"
_START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _sentence(rng: random.Random) -> str:
    target = rng.randint(40, 120)  # mean ~80 characters
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < target:
        words.append(rng.choice(_WORDS))
    return " ".join(words).capitalize() + "?"


def generate(count: int, seed: int = 42) -> list[dict[str, Any]]:
    """``count`` messages in the import schema: threads of 3-7 (mean 5) messages, customer and
    team alternating, threads overlapping in time, the file ordered by platform time."""
    rng = random.Random(seed)
    messages: list[dict[str, Any]] = []
    thread = 0
    while len(messages) < count:
        thread += 1
        at = _START + timedelta(seconds=60 * thread)
        length = min(rng.choice((3, 4, 5, 5, 6, 7)), count - len(messages))
        for turn in range(length):
            team = turn % 2 == 1
            who = f"agent-{rng.randint(1, 8)}" if team else f"cust-{thread}"
            messages.append(
                {
                    "thread": f"ticket-{thread}",
                    "id": f"msg-{len(messages) + 1}",
                    "at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "author": {"id": who, "name": who.replace("-", " ").title()},
                    "team": team,
                    "text": _sentence(rng),
                    "url": f"https://support.example.com/t/{thread}#{len(messages) + 1}",
                }
            )
            at += timedelta(seconds=rng.randint(120, 3600))
    messages.sort(key=lambda m: (m["at"], m["id"]))
    return messages


def write_jsonl(messages: list[dict[str, Any]], path: Path) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for m in messages:
            handle.write(json.dumps(m, ensure_ascii=False) + "\n")


def expected_waiting(messages: list[dict[str, Any]]) -> int:
    last: dict[str, bool] = {}
    for m in messages:
        last[m["thread"]] = m["team"]
    return sum(1 for team in last.values() if not team)


@dataclass
class ImportRun:
    backend: str
    messages: int
    seconds: float
    conversations: int
    waiting: int
    statements: Counter[str]  # SQL statements sent during the timed import, by kind
    rows: Counter[str]  # rows the executemany statements among them carried, by kind
    # Every row the import wrote, as stored (table -> columns, rows), for the second baseline.
    stored: dict[str, tuple[list[str], list[tuple[Any, ...]]]] | None = None

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def describe_statements(self, top: int = 4) -> str:
        return describe(self.statements, self.rows, top)


async def _import(url: str, path: Path) -> ImportRun:
    from bot.app import Runtime  # imported late: bot.config may still be under construction
    from bot.cli.importer import import_file
    from bot.config import Config
    from storage.models import Conversation

    runtime = Runtime.from_config(Config(), url)
    statements: Counter[str] = Counter()
    rows: Counter[str] = Counter()
    try:
        async with runtime.db.read() as session:  # open the pool outside the timed region
            await session.execute(text("SELECT 1"))

        # SQLite writes go through a second engine (``Database.write_engine``): count both.
        engines = [
            e.sync_engine for e in (runtime.db.engine, runtime.db.write_engine) if e is not None
        ]
        with path.open(encoding="utf-8") as handle, count_statements(engines, statements, rows):
            start = time.perf_counter()
            report = await import_file(runtime, handle, SOURCE, PLATFORM)
            seconds = time.perf_counter() - start
        async with runtime.db.read() as session:
            waiting = await session.scalar(
                select(func.count()).where(Conversation.waiting_since.is_not(None))
            )
    finally:
        await runtime.close()
    if report.bad or report.new != report.lines:
        raise RuntimeError(
            f"import went wrong: {report.new} new of {report.lines}, {report.bad[:3]}"
        )
    conversations = len(report.conversations)
    return ImportRun("", report.new, seconds, conversations, int(waiting or 0), statements, rows)


_WRITTEN = ("conversations", "messages", "waiting_periods")  # parents first: foreign keys


def _dump(backend: str, url: str) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Every row of the tables an import writes, as the driver reads them back."""
    out: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}
    if backend == "sqlite":
        conn = sqlite_connect(url)
        try:
            for table in _WRITTEN:
                cur = conn.execute(f"SELECT * FROM {table}")
                out[table] = ([d[0] for d in cur.description], cur.fetchall())
        finally:
            conn.close()
        return out
    with pg_connect(url) as pg, pg.cursor() as cur:
        for table in _WRITTEN:
            cur.execute(f"SELECT * FROM {table}")
            out[table] = ([d.name for d in cur.description or ()], cur.fetchall())
    return out


def run_import(backend: str, path: Path, keep_rows: bool = False) -> ImportRun:
    with fresh_database(backend) as url:
        run = asyncio.run(_import(url, path))
        if keep_rows:
            run.stored = _dump(backend, url)
    run.backend = backend
    return run


def raw_insert_all(
    backend: str, stored: dict[str, tuple[list[str], list[tuple[Any, ...]]]]
) -> float:
    """Seconds for one ``executemany`` per table of every row the import wrote (conversations
    with their computed state, messages, waiting periods), in one transaction: the floor for
    writing what the import writes, without parsing or computing any of it."""
    sqlite = backend == "sqlite"
    mark = "?" if sqlite else "%s"
    inserts = []
    for table in _WRITTEN:
        columns, rows = stored[table]
        marks = ", ".join([mark] * len(columns))
        inserts.append((f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows))
    return _timed(backend, [], inserts)


def profile_import(path: Path, top: int = 15) -> str:
    """cProfile of the SQLite import, event-loop thread and aiosqlite's worker thread merged."""
    with fresh_database("sqlite") as url, ThreadProfile() as prof:
        asyncio.run(_import(url, path))
    return prof.report(top, focus=_PROJECT_CODE)


# --- baseline: the same message rows through the bare driver -------------------------------

_MESSAGE_COLUMNS = (
    "source, message_id, conversation_id, at, author_id, author_name, person, is_team, text, "
    "url, deleted, edited_at"
)


def _rows(messages: list[dict[str, Any]], *, sqlite: bool) -> Iterator[tuple[Any, ...]]:
    for m in messages:
        at = datetime.strptime(m["at"], "%Y-%m-%dT%H:%M:%SZ")  # naive UTC, as the app stores
        yield (
            SOURCE,
            m["id"],
            int(m["thread"].removeprefix("ticket-")),
            at.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else at,  # SQLAlchemy's SQLite format
            m["author"]["id"],
            m["author"]["name"],
            None,
            m["team"],
            m["text"],
            m["url"],
            False,
            None,
        )


def _conversations(messages: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    threads = sorted({int(m["thread"].removeprefix("ticket-")) for m in messages})
    return [
        (t, SOURCE, f"ticket-{t}", PLATFORM, "", f"ticket-{t}", "", "", 0, 0, 0, 0) for t in threads
    ]


_CONV_INSERT = (
    "INSERT INTO conversations (id, source, thread_key, platform, channel, thread, url, "
    "last_text, customer_messages, team_messages, nudges_sent, version) VALUES ({})"
)


def raw_insert(backend: str, messages: list[dict[str, Any]]) -> float:
    """Seconds for one ``executemany`` of every message row, in one transaction."""
    sqlite = backend == "sqlite"
    rows = list(_rows(messages, sqlite=sqlite))
    conversations = _conversations(messages)
    mark = "?" if sqlite else "%s"
    insert = f"INSERT INTO messages ({_MESSAGE_COLUMNS}) VALUES ({', '.join([mark] * 12)})"
    parents = (_CONV_INSERT.format(", ".join([mark] * 12)), conversations)
    return _timed(backend, [parents], [(insert, rows)])  # the parents, for the foreign key


Inserts = list[tuple[str, list[tuple[Any, ...]]]]


def _timed(backend: str, untimed: Inserts, timed: Inserts) -> float:
    """Seconds for ``timed`` (one ``executemany`` each, in one transaction) on a fresh
    database, after ``untimed`` in a transaction of their own."""
    with fresh_database(backend) as url:
        if backend == "sqlite":
            conn = sqlite_connect(url)
            try:
                start = 0.0
                for batch in (untimed, timed):
                    start = time.perf_counter()
                    conn.execute("BEGIN IMMEDIATE")
                    for sql, rows in batch:
                        conn.executemany(sql, rows)
                    conn.execute("COMMIT")
                return time.perf_counter() - start
            finally:
                conn.close()
        with pg_connect(url) as pg:
            start = 0.0
            for batch in (untimed, timed):
                start = time.perf_counter()
                with pg.cursor() as cur:
                    for sql, rows in batch:
                        cur.executemany(sql, rows)
                pg.commit()
            return time.perf_counter() - start
