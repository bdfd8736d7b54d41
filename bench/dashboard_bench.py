"""Dashboard at scale: the first page of ``GET /`` and of ``GET /api/waiting`` with WAITING
conversations waiting over a history of TOTAL conversations, beside the raw keyset query.

The history is written straight into the migrated tables by the bare driver (sqlite3
``executemany`` in one transaction; PostgreSQL ``COPY``): per conversation one row in
``conversations``, one waiting period and one customer message, and for answered ones a team
reply — spread over a year, so the dashboard's 30-day window holds about a twelfth of it.
Waiting ones are spread over five sources on three platforms with owners and a rotation, so
the person filter and the counts route for real. Paths (ASGI app over httpx's
ASGITransport, so no sockets):

- ``GET /``: the whole dashboard (stats, chart, trend, on call, the first waiting page); its
  history figures are kept a minute (bot.services.dashboard_history), so this is the warm
  page; ``GET /?since=Nd`` with a new N each call is the cold one that computes them
- ``GET /?rows=1``: what the page's script fetches every 30 s
- ``GET /api/waiting?limit=50``: the first API page; ``…&person=P&overdue=true`` filtered
- raw SQL: the first keyset page on the driver (the floor: no app, no routing, no counts)
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import Latency, fresh_database, pg_connect, sqlite_connect

TOTAL = 1_000_000
WAITING = 20_000
LIMIT = 50
TARGET_P50 = 0.300  # seconds
TOKEN = "bench-token-0123456789"
NOW = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
SOURCES = (
    ("shop", "slack", "C0SHOP0001"),
    ("partners", "slack", "C0PARTNER1"),
    ("community", "telegram", "-1001234567890"),
    ("website", "webhook", ""),
    ("mobile", "webhook", ""),
)
CONFIG = """\
timezone: Europe/Berlin
team:
  alice: {name: Alice, slack: U0ALICE01, owner: true, hours: Mon-Fri 09:00-17:30}
  bob: {name: Bob, slack: U0BOB0002}
  carol: {name: Carol, telegram: 333333333}
rotations:
  support: {members: [bob, carol], shift: 1w, handoff: Mon 09:00, start: 2026-11-02}
policies:
  standard: {reply_within: 15m}
sources:
  shop: {platform: slack, channels: [C0SHOP0001], owner: alice, rotation: support, policy: standard}
  partners: {platform: slack, channels: [C0PARTNER1], owner: bob, policy: standard}
  community: {platform: telegram, chats: [-1001234567890], rotation: support, policy: standard}
  website: {platform: webhook, secret: s3cret, owner: carol, policy: standard}
  mobile: {platform: webhook, secret: s3cret, rotation: support, policy: standard}
"""
RAW_SQL = (
    "SELECT id, source, platform, channel, thread, customer_id, customer_name, waiting_since, "
    "due_at, claimed_by, last_text, url FROM conversations "
    f"WHERE waiting_since IS NOT NULL ORDER BY waiting_since, id LIMIT {LIMIT + 1}"
)
PATH_PAGE = "GET / (first page)"
PATH_COLD = "GET /?since=Nd (cold: figures computed)"
COLD_CALLS = 3
PATH_ROWS = "GET /?rows=1 (refresh)"
PATH_API = "GET /api/waiting?limit=50"
PATH_FILTERED = "GET /api/waiting?person=bob&overdue=true"
PATH_RAW = "raw keyset SQL (driver)"
_CHUNK = 20_000
_CONV = [
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
]
_PERIOD = [
    "id",
    "conversation_id",
    "source",
    "started_at",
    "ended_at",
    "end_reason",
    "answered_by",
    "due_at",
]
_MESSAGE = [
    "id",
    "source",
    "message_id",
    "conversation_id",
    "at",
    "author_id",
    "author_name",
    "person",
    "is_team",
    "text",
    "url",
    "deleted",
]


@dataclass
class Rows:
    conversations: list[tuple[Any, ...]]
    periods: list[tuple[Any, ...]]
    messages: list[tuple[Any, ...]]


def _generate(total: int, waiting: int, sqlite: bool) -> Iterator[Rows]:
    """Chunks of rows, oldest conversation first; the last ``waiting`` ones still wait
    (spread over the last two days), the rest answered after 1–240 minutes."""
    rng = random.Random(16)
    fmt: Callable[[datetime | None], Any] = (
        (lambda d: d.strftime("%Y-%m-%d %H:%M:%S.%f") if d else None)
        if sqlite
        else (lambda d: d.replace(tzinfo=None) if d else None)
    )
    naive_now = NOW
    span = timedelta(days=365).total_seconds()
    recent = timedelta(days=2).total_seconds()
    out = Rows([], [], [])
    message_id = 0
    for i in range(1, total + 1):
        source, platform, channel = SOURCES[i % len(SOURCES)]
        is_waiting = i > total - waiting
        if is_waiting:
            started = naive_now - timedelta(seconds=recent * (total - i + 1) / max(waiting, 1))
        else:
            started = naive_now - timedelta(seconds=span * (total - i + 1) / total + recent)
        due = started + timedelta(minutes=15)
        answered = None if is_waiting else started + timedelta(minutes=rng.randint(1, 240))
        agent = ("alice", "bob", "carol")[i % 3]
        out.conversations.append((
            i, source, f"t{i}", platform, channel, f"t{i}", f"https://support.example/t/{i}",
            f"cust-{i}", f"Customer {i}", fmt(started), fmt(started if is_waiting else None),
            fmt(due if is_waiting else None), fmt(answered or started),
            "Could you check my order again please, it is still not here?", fmt(answered),
            None if is_waiting else agent, 1, 0 if is_waiting else 1, 0, 1,
        ))  # fmt: skip
        out.periods.append((
            i, i, source, fmt(started), fmt(answered), None if is_waiting else "reply",
            None if is_waiting else agent, fmt(due),
        ))  # fmt: skip
        message_id += 1
        out.messages.append((
            message_id, source, f"m{message_id}", i, fmt(started), f"cust-{i}", f"Customer {i}",
            None, False, "Where is my order?", "", False,
        ))  # fmt: skip
        if answered is not None:
            message_id += 1
            out.messages.append((
                message_id, source, f"m{message_id}", i, fmt(answered), agent, agent, agent, True,
                "On its way!", "", False,
            ))  # fmt: skip
        if len(out.conversations) >= _CHUNK:
            yield out
            out = Rows([], [], [])
    if out.conversations:
        yield out


def populate(url: str, backend: str, total: int, waiting: int) -> float:
    """Fill a migrated database; returns the seconds it took (indexes included)."""
    start = time.perf_counter()
    tables = (("conversations", _CONV), ("waiting_periods", _PERIOD), ("messages", _MESSAGE))
    if backend == "sqlite":
        conn = sqlite_connect(url)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for chunk in _generate(total, waiting, sqlite=True):
                for (table, cols), rows in zip(
                    tables, (chunk.conversations, chunk.periods, chunk.messages), strict=True
                ):
                    marks = ", ".join("?" * len(cols))
                    conn.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})",
                                     rows)  # fmt: skip
            conn.execute("COMMIT")
            conn.execute("ANALYZE")
        finally:
            conn.close()
    else:
        with pg_connect(url) as pg:
            with pg.cursor() as cur:
                for chunk in _generate(total, waiting, sqlite=False):
                    for (table, cols), rows in zip(
                        tables, (chunk.conversations, chunk.periods, chunk.messages), strict=True
                    ):
                        with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                            for row in rows:
                                copy.write_row(row)
            pg.commit()
            pg.autocommit = True
            pg.execute("VACUUM ANALYZE conversations, waiting_periods, messages")
    return time.perf_counter() - start


Call = Callable[[], Awaitable[None]]


async def _probes(url: str, backend: str, stack: AsyncExitStack, folder: Path) -> dict[str, Call]:
    import httpx

    from bot.app import Runtime
    from bot.config import load_config
    from bot.web.app import create_app

    path = folder / "nudgebot.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    runtime = Runtime.from_config(load_config(str(path)), url, now=lambda: NOW)
    stack.push_async_callback(runtime.close)
    os.environ["NUDGEBOT_API_TOKEN"] = TOKEN  # read once, when the app is created
    app = create_app(runtime)
    client = await stack.enter_async_context(
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
    )
    headers = {"Authorization": f"Bearer {TOKEN}"}

    def get(path: str, check: Callable[[httpx.Response], bool]) -> Call:
        async def call() -> None:
            response = await client.get(path, headers=headers)
            if response.status_code != 200 or not check(response):
                raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")

        return call

    windows = iter(range(31, 10_000))

    async def cold() -> None:
        await get(f"/?since={next(windows)}d", lambda r: 'class="row-link"' in r.text)()

    probes: dict[str, Call] = {
        PATH_COLD: cold,
        PATH_PAGE: get("/", lambda r: r.text.count('class="row-link"') == LIMIT),
        PATH_ROWS: get("/?rows=1", lambda r: r.text.count('class="row-link"') == LIMIT),
        PATH_API: get(f"/api/waiting?limit={LIMIT}", lambda r: len(r.json()) == LIMIT),
        PATH_FILTERED: get(
            f"/api/waiting?limit={LIMIT}&person=bob&overdue=true",
            lambda r: len(r.json()) == LIMIT,
        ),
    }
    if backend == "sqlite":
        conn = sqlite_connect(url)
        stack.callback(conn.close)

        async def raw() -> None:
            if len(conn.execute(RAW_SQL).fetchall()) != LIMIT + 1:
                raise RuntimeError("raw SQL: wrong row count")
    else:
        pg = pg_connect(url)
        pg.autocommit = True
        stack.callback(pg.close)

        async def raw() -> None:
            if len(pg.execute(RAW_SQL).fetchall()) != LIMIT + 1:
                raise RuntimeError("raw SQL: wrong row count")

    probes[PATH_RAW] = raw
    return probes


@dataclass
class DashboardRun:
    fill_seconds: float
    latencies: dict[str, Latency]


async def _measure(url: str, backend: str, iterations: int, warmup: int) -> dict[str, Latency]:
    with tempfile.TemporaryDirectory(prefix="nudgebot_dash_") as folder:
        async with AsyncExitStack() as stack:
            probes = await _probes(url, backend, stack, Path(folder))
            samples: dict[str, list[float]] = {path: [] for path in probes}
            for path, call in probes.items():
                for _ in range(warmup if path != PATH_COLD else 0):
                    await call()
            # Paths take turns, one call each, so the machine's load spreads over all of them.
            for i in range(iterations):
                for path, call in probes.items():
                    if path == PATH_COLD and i >= COLD_CALLS:
                        continue  # seconds each: a few show it
                    start = time.perf_counter()
                    await call()
                    samples[path].append(time.perf_counter() - start)
    return {path: Latency(s) for path, s in samples.items()}


def run_dashboard(
    backend: str, total: int, waiting: int, iterations: int, warmup: int
) -> DashboardRun:
    with fresh_database(backend) as url:
        fill = populate(url, backend, total, waiting)
        return DashboardRun(fill, asyncio.run(_measure(url, backend, iterations, warmup)))
