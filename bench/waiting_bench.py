"""Waiting query: "oldest 50 waiting" over a big answered history, through the app and raw.

Conversations are generated straight into the migrated ``conversations`` table by the bare
driver (sqlite3 ``executemany`` in chunks; PostgreSQL ``COPY``), mostly answered
(``waiting_since`` NULL) with exactly ``WAITING`` waiting, and every conversation gets the
nudges production would have left (``NUDGES_ANSWERED`` sent in its answered period; a waiting
one ``SENT_NOW`` in its current period and ``NUDGES_EARLIER`` from an earlier one), because
the product's query counts each row's nudges of the current period. The same query is then
timed through the HTTP API (the real ASGI app over httpx's ASGITransport, when
``bot.web.app`` exists), through the service function, and raw: the very statement the
product sends (recorded from ``storage.conversation_queries.waiting`` as compiled for the
dialect, with its parameters) executed on the bare driver.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event

from bench.common import Latency, fresh_database, pg_connect, sqlite_connect

WAITING = 1_000
LIMIT = 50
TARGET_P50 = 0.020  # seconds
TOKEN = "bench-token"
INDEX = "ix_conversations_waiting"
PATH_API = "GET /api/waiting (ASGI)"
PATH_SERVICE = "list_waiting()"
PATH_RAW = "same SQL, bare driver"
_COLUMNS = (
    "id",
    "source",
    "thread_key",
    "platform",
    "channel",
    "thread",
    "url",
    "customer_id",
    "customer_name",
    "started_at",
    "waiting_since",
    "due_at",
    "last_message_at",
    "last_text",
    "first_response_at",
    "first_responder",
    "customer_messages",
    "team_messages",
    "nudges_sent",
    "version",
)
NUDGES_ANSWERED = 3  # first, reminder, escalation of the period the team answered
SENT_NOW = 2  # a waiting conversation: first and reminder sent in the current period…
NUDGES_EARLIER = 2  # …and two from an earlier period, which must not be counted
_NUDGE_COLUMNS = (
    "conversation_id", "period_start", "track", "seq", "recipient_key", "step",
    "recipient_person", "recipient_platform", "recipient_address", "slot_at", "not_before",
    "created_at", "state", "attempts", "last_error", "platform_ref", "sent_at",
    "update_version", "update_attempts",
)  # fmt: skip
_STEPS = ("first", "reminder", "escalation")
_NOW = datetime(2026, 11, 28, 12, 0)
_CHUNK = 50_000


def _conversation_rows(total: int, *, sqlite: bool) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(7)
    step = total // WAITING
    fmt: Callable[[datetime | None], Any] = (
        (lambda d: d.strftime("%Y-%m-%d %H:%M:%S.%f") if d else None) if sqlite else (lambda d: d)
    )
    for i in range(1, total + 1):
        source = f"source-{i % 5}"
        started = _NOW - timedelta(minutes=total - i + rng.randint(0, 600))
        waiting = i % step == 0 and i // step <= WAITING
        since = started + timedelta(minutes=rng.randint(0, 120)) if waiting else None
        answered = None if waiting else started + timedelta(minutes=rng.randint(1, 240))
        yield (
            i,
            source,
            f"t{i:08d}",
            "import",
            "",
            f"t{i:08d}",
            f"https://support.example.com/t/{i}",
            f"cust-{i}",
            f"Customer {i}",
            fmt(started),
            fmt(since),
            fmt(since + timedelta(minutes=15) if since else None),
            fmt(since or answered),
            "Could you check my order again please, it is still not here?",
            fmt(answered),
            None if waiting else "agent-1",
            2,
            0 if waiting else 2,
            0,
            1,
        )


def _nudge_rows(total: int, *, sqlite: bool) -> Iterator[tuple[Any, ...]]:
    """The nudges of every conversation of ``_conversation_rows`` (same seed, same times)."""
    fmt: Callable[[datetime], Any] = (
        (lambda d: d.strftime("%Y-%m-%d %H:%M:%S.%f")) if sqlite else (lambda d: d)
    )
    for row in _conversation_rows(total, sqlite=False):
        cid, started, since = row[0], row[9], row[10]
        periods = (
            [(started, NUDGES_ANSWERED)]
            if since is None
            else [(started - timedelta(days=1), NUDGES_EARLIER), (since, SENT_NOW)]
        )
        for period, count in periods:
            for seq in range(count):
                at = period + timedelta(minutes=15 * (seq + 1))
                yield (
                    cid, fmt(period), "responsible", seq, "person:alice", _STEPS[seq],
                    "alice", "slack", "U0ALICE", fmt(at), fmt(at), fmt(at), "sent", 1, "",
                    f"slack:C1:{cid}.{seq}", fmt(at), 0, 0,
                )  # fmt: skip


def expected_nudges(total: int) -> int:
    waiting = min(WAITING, total)
    return (total - waiting) * NUDGES_ANSWERED + waiting * (SENT_NOW + NUDGES_EARLIER)


def populate(url: str, backend: str, total: int) -> float:
    """Fill a migrated database with ``total`` conversations; returns seconds taken."""
    start = time.perf_counter()
    rows = _conversation_rows(total, sqlite=backend == "sqlite")
    names = ", ".join(_COLUMNS)
    if backend == "sqlite":
        conn = sqlite_connect(url)
        try:
            insert = (
                f"INSERT INTO conversations ({names}) VALUES ({', '.join('?' * len(_COLUMNS))})"
            )
            nudges = _nudge_rows(total, sqlite=True)
            marks = ", ".join("?" * len(_NUDGE_COLUMNS))
            insert_nudge = f"INSERT INTO nudges ({', '.join(_NUDGE_COLUMNS)}) VALUES ({marks})"
            conn.execute("BEGIN IMMEDIATE")
            while chunk := [row for _, row in zip(range(_CHUNK), rows, strict=False)]:
                conn.executemany(insert, chunk)
            while chunk := [row for _, row in zip(range(_CHUNK), nudges, strict=False)]:
                conn.executemany(insert_nudge, chunk)
            conn.execute("COMMIT")
            stored = conn.execute("SELECT count(*) FROM nudges").fetchone()[0]
        finally:
            conn.close()
    else:
        with pg_connect(url) as pg:
            with pg.cursor() as cur, cur.copy(f"COPY conversations ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            columns = ", ".join(_NUDGE_COLUMNS)
            with pg.cursor() as cur, cur.copy(f"COPY nudges ({columns}) FROM STDIN") as copy:
                for row in _nudge_rows(total, sqlite=False):
                    copy.write_row(row)
            pg.commit()
            pg.autocommit = True
            # What autovacuum does after a bulk load.
            pg.execute("VACUUM ANALYZE conversations")
            pg.execute("VACUUM ANALYZE nudges")
            stored = pg.execute("SELECT count(*) FROM nudges").fetchone()[0]  # type: ignore[index]
    if stored != expected_nudges(total):
        raise RuntimeError(f"{stored} nudges stored, expected {expected_nudges(total)}")
    return time.perf_counter() - start


async def product_statement(url: str) -> tuple[str, Any]:
    """The statement ``storage.conversation_queries.waiting(limit=LIMIT)`` sends, as the
    driver gets it."""
    from bot.app import Runtime
    from bot.config import Config
    from storage.conversation_queries import waiting

    runtime = Runtime.from_config(Config(), url)
    seen: list[tuple[str, Any]] = []

    def record(*args: Any) -> None:  # before_cursor_execute(conn, cursor, statement, params…)
        if args[2].lstrip().upper().startswith("SELECT"):
            seen.append((args[2], args[3]))

    engine = runtime.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        async with runtime.db.read() as session:
            await waiting(session, limit=LIMIT)
    finally:
        event.remove(engine, "before_cursor_execute", record)
        await runtime.close()
    if len(seen) != 1:
        raise RuntimeError(
            f"storage.conversation_queries.waiting sent {len(seen)} SELECTs, expected one"
        )
    return seen[0]


def explain(url: str, backend: str, statement: tuple[str, Any]) -> list[str]:
    sql, params = statement
    if backend == "sqlite":
        conn = sqlite_connect(url)
        try:
            return [str(r[3]) for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
        finally:
            conn.close()
    with pg_connect(url) as pg:
        return [str(r[0]) for r in pg.execute(f"EXPLAIN {sql}", params)]


Call = Callable[[], Awaitable[None]]


def _check(rows: list[Any], what: str, sent: Callable[[Any], int]) -> None:
    if len(rows) != LIMIT:
        raise RuntimeError(f"{what} returned {len(rows)} rows, expected {LIMIT}")
    counted = {sent(row) for row in rows}
    if counted != {SENT_NOW}:  # the current period's nudges, not the earlier period's
        raise RuntimeError(f"{what} counted {counted} nudges sent, expected {SENT_NOW}")


def _web_app(runtime: Any) -> Any:
    """The real ASGI app with the bench's API token, or None while ``bot.web.app`` is absent
    (the service function then stands in for the HTTP path)."""
    try:
        from bot.web.app import create_app
    except ImportError:
        return None
    os.environ["NUDGEBOT_API_TOKEN"] = TOKEN  # read once, when the app is created
    return create_app(runtime)


async def _probes(url: str, backend: str, stack: AsyncExitStack) -> dict[str, Call]:
    """One call per measured path against the database at ``url``."""
    import httpx

    from bot.app import Runtime
    from bot.config import Config
    from bot.domain.routing import NO_ROUTING
    from bot.services.waiting import list_waiting

    runtime = Runtime.from_config(Config(), url)
    stack.push_async_callback(runtime.close)
    probes: dict[str, Call] = {}
    app = _web_app(runtime)
    if app is not None:
        transport = httpx.ASGITransport(app=app)
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://bench")
        )
        headers = {"Authorization": f"Bearer {TOKEN}"}

        async def get() -> None:
            response = await client.get(f"/api/waiting?limit={LIMIT}", headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"/api/waiting: {response.status_code} {response.text}")
            _check(response.json(), "/api/waiting", lambda r: r["nudges_sent"])

        probes[PATH_API] = get
    now = datetime.now(UTC)

    async def service() -> None:
        rows = await list_waiting(runtime.db, NO_ROUTING, now, limit=LIMIT)
        _check(rows, "list_waiting", lambda r: r.nudges_sent)

    probes[PATH_SERVICE] = service
    sql, params = await product_statement(url)
    sent_column = (
        10  # the nudge count's place in the select list (storage.conversation_queries.waiting)
    )
    if backend == "sqlite":
        conn = sqlite_connect(url)
        stack.callback(conn.close)

        async def raw() -> None:
            _check(conn.execute(sql, params).fetchall(), "raw SQL", lambda r: r[sent_column])
    else:
        pg = pg_connect(url)
        pg.autocommit = True
        stack.callback(pg.close)

        async def raw() -> None:
            rows = pg.execute(sql, params).fetchall()
            _check(rows, "raw SQL", lambda r: r[sent_column])

    probes[PATH_RAW] = raw
    return probes


async def _measure(
    urls: dict[int, str], backend: str, iterations: int, warmup: int, rounds: int
) -> dict[str, dict[int, Latency]]:
    """Sizes and paths take turns in ``rounds`` blocks, so load that comes and goes on a
    shared machine spreads over all of them instead of skewing one."""
    async with AsyncExitStack() as stack:
        probes = {size: await _probes(url, backend, stack) for size, url in urls.items()}
        samples: dict[str, dict[int, list[float]]] = {}
        for size, calls in probes.items():
            for path, call in calls.items():
                samples.setdefault(path, {})[size] = []
                for _ in range(warmup):
                    await call()
        per_round = -(-iterations // rounds)
        for _ in range(rounds):
            for size, calls in probes.items():
                for path, call in calls.items():
                    for _ in range(per_round):
                        start = time.perf_counter()
                        await call()  # raw paths never suspend: this times the driver call
                        samples[path][size].append(time.perf_counter() - start)
    return {
        path: {size: Latency(s) for size, s in by_size.items()} for path, by_size in samples.items()
    }


@dataclass
class WaitingRun:
    fill_seconds: dict[int, float]
    plans: dict[int, list[str]]
    latencies: dict[str, dict[int, Latency]]  # path -> size -> latency


def run_waiting(
    backend: str, sizes: Sequence[int], iterations: int, warmup: int, rounds: int = 5
) -> WaitingRun:
    """Build one database per size, then time every path on every size, interleaved."""
    fills: dict[int, float] = {}
    plans: dict[int, list[str]] = {}
    with ExitStack() as stack:
        urls: dict[int, str] = {}
        for size in sizes:
            urls[size] = stack.enter_context(fresh_database(backend))
            fills[size] = populate(urls[size], backend, size)
            plans[size] = explain(urls[size], backend, asyncio.run(product_statement(urls[size])))
        latencies = asyncio.run(_measure(urls, backend, iterations, warmup, rounds))
    return WaitingRun(fills, plans, latencies)
