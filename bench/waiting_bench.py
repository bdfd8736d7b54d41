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
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import Latency, fresh_database, pg_connect, sqlite_connect

WAITING = 1_000
LIMIT = 50
TARGET_P50 = 0.020  # seconds
TOKEN = "bench-token"
INDEX = "ix_conversations_waiting"
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


def _time_sync(call: Callable[[], object], iterations: int, warmup: int) -> Latency:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return Latency(samples)


async def _time_async(
    call: Callable[[], Awaitable[object]], iterations: int, warmup: int
) -> Latency:
    for _ in range(warmup):
        await call()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return Latency(samples)


def raw_latency(url: str, backend: str, iterations: int, warmup: int) -> Latency:
    def check(rows: list[Any]) -> None:
        if len(rows) != LIMIT:
            raise RuntimeError(f"raw query returned {len(rows)} rows, expected {LIMIT}")

    if backend == "sqlite":
        conn = sqlite_connect(url)
        try:
            return _time_sync(lambda: check(conn.execute(RAW_SQL).fetchall()), iterations, warmup)
        finally:
            conn.close()
    with pg_connect(url) as pg:
        pg.autocommit = True
        return _time_sync(lambda: check(pg.execute(RAW_SQL).fetchall()), iterations, warmup)


def app_factory() -> Callable[[Any], Any] | None:
    try:
        from bot.web.app import create_app
    except ImportError:
        return None
    return create_app  # type: ignore[no-any-return]


async def _app_latencies(url: str, iterations: int, warmup: int) -> dict[str, Latency]:
    import httpx

    from bot.app import Runtime
    from bot.config import Config
    from bot.domain.routing import NO_ROUTING
    from bot.services.waiting import list_waiting

    rt = Runtime.from_config(Config(), url)
    now = datetime.now(UTC)
    out: dict[str, Latency] = {}
    try:
        create_app = app_factory()
        if create_app is not None:
            os.environ["NUDGEBOT_API_TOKEN"] = TOKEN
            transport = httpx.ASGITransport(app=create_app(rt))
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

                async def get() -> None:
                    response = await client.get(f"/api/waiting?limit={LIMIT}", headers=headers)
                    if response.status_code != 200:
                        raise RuntimeError(f"/api/waiting: {response.status_code} {response.text}")
                    body = response.json()
                    rows = body if isinstance(body, list) else body.get("waiting", body)
                    if len(rows) != LIMIT:
                        raise RuntimeError(f"/api/waiting returned {len(rows)} rows")

                out["GET /api/waiting (ASGI)"] = await _time_async(get, iterations, warmup)

        async def service() -> None:
            rows = await list_waiting(rt.db, NO_ROUTING, now, limit=LIMIT)
            if len(rows) != LIMIT:
                raise RuntimeError(f"list_waiting returned {len(rows)} rows")

        out["list_waiting()"] = await _time_async(service, iterations, warmup)
    finally:
        await rt.close()
    return out


def run_waiting(
    backend: str, total: int, iterations: int, warmup: int
) -> tuple[float, list[str], dict[str, Latency]]:
    """Build a database of ``total`` conversations; returns fill seconds, plan and latencies."""
    with fresh_database(backend) as url:
        fill = populate(url, backend, total)
        plan = explain(url, backend)
        latencies = asyncio.run(_app_latencies(url, iterations, warmup))
        latencies["raw SQL (driver)"] = raw_latency(url, backend, iterations, warmup)
    return fill, plan, latencies
