"""Waiting query: "oldest 50 waiting" over a big answered history, through the app and raw.

Conversations are generated straight into the migrated ``conversations`` table by the bare
driver (sqlite3 ``executemany`` in chunks; PostgreSQL ``COPY``), mostly answered
(``waiting_since`` NULL) with exactly ``WAITING`` waiting. The same query is then timed
through the HTTP API (the real ASGI app over httpx's ASGITransport, when ``bot.web.app``
exists), through the service function, and as raw SQL on the driver.
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

from bench.common import Latency, fresh_database, pg_connect, sqlite_connect

WAITING = 1_000
LIMIT = 50
TARGET_P50 = 0.020  # seconds
TOKEN = "bench-token"
INDEX = "ix_conversations_waiting"
PATH_API = "GET /api/waiting (ASGI)"
PATH_SERVICE = "list_waiting()"
PATH_RAW = "raw SQL (driver)"
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
RAW_SQL = (
    "SELECT id, source, platform, channel, thread, customer_id, customer_name, waiting_since, "
    "due_at, claimed_by, nudges_sent, last_text, url FROM conversations "
    f"WHERE waiting_since IS NOT NULL ORDER BY waiting_since, id LIMIT {LIMIT}"
)
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
            conn.execute("BEGIN IMMEDIATE")
            while chunk := [row for _, row in zip(range(_CHUNK), rows, strict=False)]:
                conn.executemany(insert, chunk)
            conn.execute("COMMIT")
        finally:
            conn.close()
    else:
        with pg_connect(url) as pg:
            with pg.cursor() as cur, cur.copy(f"COPY conversations ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            pg.commit()
            pg.autocommit = True
            pg.execute("VACUUM ANALYZE conversations")  # what autovacuum does after a bulk load
    return time.perf_counter() - start


def explain(url: str, backend: str) -> list[str]:
    if backend == "sqlite":
        conn = sqlite_connect(url)
        try:
            return [str(r[3]) for r in conn.execute(f"EXPLAIN QUERY PLAN {RAW_SQL}")]
        finally:
            conn.close()
    with pg_connect(url) as pg:
        return [str(r[0]) for r in pg.execute(f"EXPLAIN {RAW_SQL}")]


Call = Callable[[], Awaitable[None]]


def _check(rows: list[Any], what: str) -> None:
    if len(rows) != LIMIT:
        raise RuntimeError(f"{what} returned {len(rows)} rows, expected {LIMIT}")


def _web_app(rt: Any) -> Any:
    """The real ASGI app with the bench's API token, or None while ``bot.web.app`` is absent
    (the service function then stands in for the HTTP path)."""
    try:
        from bot.web.app import create_app
    except ImportError:
        return None
    os.environ["NUDGEBOT_API_TOKEN"] = TOKEN  # read once, when the app is created
    return create_app(rt)


async def _probes(url: str, backend: str, stack: AsyncExitStack) -> dict[str, Call]:
    """One call per measured path against the database at ``url``."""
    import httpx

    from bot.app import Runtime
    from bot.config import Config
    from bot.domain.routing import NO_ROUTING
    from bot.services.waiting import list_waiting

    rt = Runtime.from_config(Config(), url)
    stack.push_async_callback(rt.close)
    probes: dict[str, Call] = {}
    app = _web_app(rt)
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
            _check(response.json(), "/api/waiting")

        probes[PATH_API] = get
    now = datetime.now(UTC)

    async def service() -> None:
        _check(await list_waiting(rt.db, NO_ROUTING, now, limit=LIMIT), "list_waiting")

    probes[PATH_SERVICE] = service
    if backend == "sqlite":
        conn = sqlite_connect(url)
        stack.callback(conn.close)

        async def raw() -> None:
            _check(conn.execute(RAW_SQL).fetchall(), "raw SQL")
    else:
        pg = pg_connect(url)
        pg.autocommit = True
        stack.callback(pg.close)

        async def raw() -> None:
            _check(pg.execute(RAW_SQL).fetchall(), "raw SQL")

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
            plans[size] = explain(urls[size], backend)
        latencies = asyncio.run(_measure(urls, backend, iterations, warmup, rounds))
    return WaitingRun(fills, plans, latencies)
