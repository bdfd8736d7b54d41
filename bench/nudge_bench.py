"""Nudges on time: lateness under load, and what a tick costs when nothing is due.

``python -m bench.nudge_bench [--db sqlite|postgresql|both] [--quick]``

* **Lateness** — 10,000 waiting conversations come due over 60 s; one process runs the real
  engine under the real scheduler (APScheduler ``AsyncIOScheduler``: a ``date`` wake-up at the
  earliest due time plus the safety tick) with a messenger that notes the wall time of each
  send. Lateness = that time − the nudge's due time. Target: p99 ≤ 1 s.
* **Idle tick** — ``NudgeEngine.tick()`` with nothing due, over 10,000 and 1,000,000
  conversations (each with a sent nudge in the outbox, 1,000 of them waiting with their next
  nudge tomorrow). Target ≤ 5 ms, and the ratio 1M / 10k near 1: a tick reads what is due
  (three partial indexes), not history.

Rows are written straight into the migrated tables by the bare driver (executemany on SQLite,
COPY on PostgreSQL): this measures the scheduler and the outbox, not ingest. For context:
Zendesk automations run hourly; Chatwoot and Zammad check SLAs every 5 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import (
    BACKENDS,
    Table,
    fresh_database,
    load,
    machine,
    percentile,
    pg_available,
    pg_connect,
    sqlite_connect,
    verdict,
)
from bot.app import build_routing, build_rules, compose_nudging
from bot.config import Config, NudgeLimits, Person, Policy, Source
from bot.domain.ports import Delivered, NudgeUpdate, NudgeView, Recipient
from bot.scheduler import Scheduler
from bot.services.nudge_engine import Delivery, NudgeEngine
from bot.services.nudge_settings import NudgeSettings
from storage.db import connect

SOURCE = "bench"
DUE = 10_000
WINDOW = 60.0  # seconds over which they come due
LEAD = 5.0  # seconds between the last row written and the first due time
TARGET_P99 = 1.0
TARGET_TICK = 0.005
WAITING = 1_000
_CONV = (
    "id", "source", "thread_key", "platform", "channel", "thread", "url", "customer_id",
    "customer_name", "started_at", "waiting_since", "due_at", "last_message_at", "last_text",
    "customer_messages", "team_messages", "nudges_sent", "version", "next_nudge_at",
)  # fmt: skip
_MSG = (
    "source", "message_id", "conversation_id", "at", "author_id", "author_name", "is_team",
    "text", "url", "deleted",
)  # fmt: skip
_NUDGE = (
    "conversation_id", "period_start", "track", "seq", "recipient_key", "step",
    "recipient_person", "recipient_platform", "recipient_address", "slot_at", "not_before",
    "created_at", "state", "attempts", "last_error", "platform_ref", "sent_at",
    "update_version", "update_attempts",
)  # fmt: skip
_CHUNK = 50_000


def config() -> Config:
    alice = Person(id="alice", name="Alice", slack="U0ALICE01", owner=True)
    policy = Policy(id="fast", reply_within=timedelta(seconds=30))
    source = Source(id=SOURCE, platform="webhook", owner="alice", policy="fast")
    # Every nudge is measured on its own: 10,000 for one person would otherwise become one
    # summary message (nudges.batch_after). The batching checks still run on every claim.
    unbatched = NudgeLimits(
        batch_after=1_000_000, batch_window=timedelta(seconds=60), max_messages_per_hour=1_000_000
    )
    return Config(team={"alice": alice}, policies={"fast": policy}, sources={SOURCE: source},
                  nudges=unbatched)  # fmt: skip


class Stopwatch:
    """A messenger that only notes when each nudge was handed to it."""

    platform = "slack"

    def __init__(self) -> None:
        self.lateness: list[float] = []
        self.done = asyncio.Event()
        self.expected = 0

    async def send_nudge(self, view: NudgeView) -> Delivered:
        assert view.due_at is not None
        self.lateness.append(time.time() - view.due_at.timestamp())
        if len(self.lateness) >= self.expected:
            self.done.set()
        return Delivered(f"bench:{view.nudge_id}")

    async def update_nudge(self, ref: str, view: NudgeView, update: NudgeUpdate) -> None:
        return None

    async def send_text(self, recipient: Recipient, text: str) -> Delivered:
        return Delivered("bench:text")


# --- writing rows with the bare driver --------------------------------------------------------


def _fmt(sqlite: bool) -> Any:
    if sqlite:
        return lambda d: d.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if d else None
    return lambda d: d.astimezone(UTC).replace(tzinfo=None) if d else None


def _write(
    url: str, backend: str, table: str, columns: tuple[str, ...], rows: Iterator[Any]
) -> None:
    names = ", ".join(columns)
    if backend == "sqlite":
        conn = sqlite_connect(url)
        try:
            conn.execute("BEGIN IMMEDIATE")
            sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"
            while chunk := [r for _, r in zip(range(_CHUNK), rows, strict=False)]:
                conn.executemany(sql, chunk)
            conn.execute("COMMIT")
        finally:
            conn.close()
        return
    with pg_connect(url) as pg:
        with pg.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        pg.commit()
        pg.autocommit = True
        pg.execute(f"VACUUM ANALYZE {table}")


def _conversation(
    i: int, since: datetime | None, due: datetime | None, fmt: Any
) -> tuple[Any, ...]:
    started = since or datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=i)
    return (
        i, SOURCE, f"t{i}", "webhook", "", f"t{i}", "", f"cust-{i}", "Dana", fmt(started),
        fmt(since), fmt(due), fmt(started), "Where is my order?", 1, 0 if since else 1, 0, 1,
        fmt(due),
    )  # fmt: skip


def _message(i: int, at: datetime, fmt: Any) -> tuple[Any, ...]:
    return (SOURCE, f"m{i}", i, fmt(at), f"cust-{i}", "Dana", False, "Where is my order?", "",
            False)  # fmt: skip


# --- lateness ---------------------------------------------------------------------------------


@dataclass
class LatenessRun:
    lateness: list[float]
    sent: int
    elapsed: float
    ticks: int


def fill_due(url: str, backend: str, count: int, start: datetime) -> None:
    fmt = _fmt(backend == "sqlite")
    due = [start + timedelta(seconds=WINDOW * i / count) for i in range(count)]
    since = [d - timedelta(seconds=30) for d in due]
    _write(url, backend, "conversations", _CONV,
           (_conversation(i + 1, since[i], due[i], fmt) for i in range(count)))  # fmt: skip
    _write(url, backend, "messages", _MSG,
           (_message(i + 1, since[i], fmt) for i in range(count)))  # fmt: skip


async def _lateness(url: str, count: int, tick: float) -> LatenessRun:
    cfg = config()
    routing = build_routing(cfg)
    watch = Stopwatch()
    watch.expected = count
    db = connect(url)
    engine = compose_nudging(db, NudgeSettings.build(cfg, routing), build_rules(cfg),
                             lambda: datetime.now(UTC), Delivery({"slack": watch}))  # fmt: skip

    async def one_tick() -> bool:
        return (await engine.tick()).more

    scheduler = Scheduler(one_tick, engine.next_due, interval=tick, wakeup=engine.wakeup)
    started = time.perf_counter()
    await scheduler.start()
    try:
        await asyncio.wait_for(watch.done.wait(), timeout=WINDOW + LEAD + 60)
    except TimeoutError:
        pass
    finally:
        await scheduler.stop()
        await db.dispose()
    return LatenessRun(watch.lateness, len(watch.lateness), time.perf_counter() - started,
                       scheduler.ticks)  # fmt: skip


def run_lateness(backend: str, count: int = DUE, tick: float = 10.0) -> LatenessRun:
    with fresh_database(backend) as url:
        fill_due(url, backend, 0, datetime.now(UTC))  # warm the driver path
        start = datetime.now(UTC) + timedelta(seconds=LEAD)
        fill_due(url, backend, count, start)
        return asyncio.run(_lateness(url, count, tick))


# --- idle tick --------------------------------------------------------------------------------


def fill_history(url: str, backend: str, total: int) -> float:
    """``total`` conversations, each with a sent nudge; ``WAITING`` of them due tomorrow."""
    began = time.perf_counter()
    fmt = _fmt(backend == "sqlite")
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    step = max(1, total // WAITING)

    def conversations() -> Iterator[tuple[Any, ...]]:
        for i in range(1, total + 1):
            waiting = i % step == 0
            since = tomorrow - timedelta(minutes=15) if waiting else None
            yield _conversation(i, since, tomorrow if waiting else None, fmt)

    def nudges() -> Iterator[tuple[Any, ...]]:
        base = datetime(2025, 1, 1, tzinfo=UTC)
        for i in range(1, total + 1):
            at = base + timedelta(seconds=i)
            yield (i, fmt(at), "responsible", 0, "person:alice", "first", "alice", "slack",
                   "U0ALICE01", fmt(at), fmt(at), fmt(at), "sent", 1, "", f"ref-{i}", fmt(at),
                   0, 0)  # fmt: skip

    _write(url, backend, "conversations", _CONV, conversations())
    _write(url, backend, "nudges", _NUDGE, nudges())
    return time.perf_counter() - began


async def _idle_ticks(urls: dict[int, str], iterations: int, rounds: int) -> dict[int, list[float]]:
    """Interleaved rounds per size, so that a noisy neighbour hurts every size alike."""
    cfg = config()
    routing = build_routing(cfg)
    engines: dict[int, NudgeEngine] = {}
    for size, url in urls.items():
        engines[size] = compose_nudging(connect(url), NudgeSettings.build(cfg, routing),
                                    build_rules(cfg), lambda: datetime.now(UTC),
                                    Delivery({}))  # fmt: skip
    samples: dict[int, list[float]] = {size: [] for size in urls}
    try:
        for engine in engines.values():  # warm-up: pool, statement cache
            for _ in range(20):
                await engine.tick()
        for _ in range(rounds):
            for size, engine in engines.items():
                for _ in range(iterations // rounds):
                    began = time.perf_counter()
                    result = await engine.tick()
                    samples[size].append(time.perf_counter() - began)
                    assert result.planned == result.delivered == 0
    finally:
        for engine in engines.values():
            await engine.db.dispose()
    return samples


_EARLIEST = (
    "SELECT (SELECT next_nudge_at FROM conversations WHERE next_nudge_at IS NOT NULL "
    "ORDER BY next_nudge_at LIMIT 1), (SELECT next_attempt_at FROM nudges WHERE "
    "next_attempt_at IS NOT NULL ORDER BY next_attempt_at LIMIT 1), (SELECT update_next_at "
    "FROM nudges WHERE update_next_at IS NOT NULL ORDER BY update_next_at LIMIT 1)"
)


def raw_earliest(url: str, backend: str, iterations: int) -> list[float]:
    """The tick's one query on the bare driver: the floor under the engine's idle tick."""
    out: list[float] = []
    if backend == "sqlite":
        conn = sqlite_connect(url)
        try:
            for _ in range(iterations):
                began = time.perf_counter()
                conn.execute(_EARLIEST).fetchone()
                out.append(time.perf_counter() - began)
        finally:
            conn.close()
        return out
    with pg_connect(url) as pg:
        pg.autocommit = True
        for _ in range(iterations):
            began = time.perf_counter()
            pg.execute(_EARLIEST).fetchone()
            out.append(time.perf_counter() - began)
    return out


def explain_tick(url: str, backend: str) -> list[str]:
    if backend == "sqlite":
        conn = sqlite_connect(url)
        try:
            return [str(r[-1]) for r in conn.execute(f"EXPLAIN QUERY PLAN {_EARLIEST}")]
        finally:
            conn.close()
    with pg_connect(url) as pg:
        return [str(r[0]).strip() for r in pg.execute(f"EXPLAIN {_EARLIEST}").fetchall()
                if "Index" in str(r[0]) or "Scan" in str(r[0])]  # fmt: skip


@dataclass
class IdleRun:
    fill: dict[int, float]
    samples: dict[int, list[float]]
    raw: dict[int, list[float]]
    plan: list[str]


def run_idle(backend: str, sizes: tuple[int, ...], iterations: int = 300) -> IdleRun:
    with ExitStack() as stack:
        urls = {size: stack.enter_context(fresh_database(backend)) for size in sizes}
        fill = {size: fill_history(url, backend, size) for size, url in urls.items()}
        plan = explain_tick(urls[max(sizes)], backend)
        samples = asyncio.run(_idle_ticks(urls, iterations, rounds=5))
        raw = {size: raw_earliest(url, backend, iterations) for size, url in urls.items()}
    return IdleRun(fill, samples, raw, plan)


# --- report -----------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def report_lateness(backends: list[str], count: int, tick: float) -> None:
    print(f"\n== Nudge lateness: {count:,} conversations due over {WINDOW:.0f} s, one process, "
          f"safety tick {tick:g} s ==")  # fmt: skip
    table = Table(("db", "sent", "p50", "p99", "max", "ticks", "target", "verdict"))
    for backend in backends:
        before = load()
        run = run_lateness(backend, count, tick)
        if not run.lateness:
            table.add(backend, 0, "-", "-", "-", run.ticks, "p99 <= 1 s", "NOT met")
            continue
        p50 = statistics.median(run.lateness)
        p99 = percentile(run.lateness, 99)
        ok = run.sent == count and p99 <= TARGET_P99 and min(run.lateness) >= 0
        table.add(backend, f"{run.sent:,}/{count:,}", f"{p50:.3f} s", f"{p99:.3f} s",
                  f"{max(run.lateness):.3f} s", run.ticks, f"p99 <= {TARGET_P99:g} s",
                  verdict(ok))  # fmt: skip
        early = sum(1 for x in run.lateness if x < 0)
        print(f"  {backend}: {early} sent early; load average before {before}, after {load()}")
    print(table.render())


def report_idle(backends: list[str], small: int, big: int, iterations: int) -> None:
    print(f"\n== Tick cost with nothing due: {small:,} vs {big:,} conversations in the database "
          f"(each with a sent nudge; {WAITING:,} waiting, next nudge tomorrow) ==")  # fmt: skip
    table = Table(("db", "size", "fill", "tick p50", "tick p99", "raw query p50", "ratio p50",
                   "target", "verdict"))  # fmt: skip
    for backend in backends:
        before = load()
        run = run_idle(backend, (small, big), iterations)
        base = statistics.median(run.samples[small])
        for size in (small, big):
            p50 = statistics.median(run.samples[size])
            p99 = percentile(run.samples[size], 99)
            table.add(backend, f"{size:,}", f"{run.fill[size]:.1f} s", _ms(p50), _ms(p99),
                      f"{statistics.median(run.raw[size]) * 1e6:.0f} µs", f"{p50 / base:.2f}",
                      f"<= {TARGET_TICK * 1000:.0f} ms", verdict(p50 <= TARGET_TICK))  # fmt: skip
        print(f"  {backend} plan at {big:,}: " + " | ".join(run.plan))
        print(f"  {backend}: load average before {before}, after {load()}")
    print(table.render())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.nudge_bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--only", choices=("lateness", "tick"))
    parser.add_argument("--quick", action="store_true", help="100k instead of 1M for the tick")
    parser.add_argument("--tick", type=float, default=10.0, help="safety tick seconds (10)")
    parser.add_argument("--iterations", type=int, default=300, help="idle ticks timed (300)")
    args = parser.parse_args(argv)
    backends = list(BACKENDS) if args.db == "both" else [args.db]
    if "postgresql" in backends and (why := pg_available()):
        print(f"PostgreSQL skipped: {why}")
        backends.remove("postgresql")
    random.seed(7)
    print(machine())
    if args.only in (None, "lateness"):
        report_lateness(backends, DUE, args.tick)
    if args.only in (None, "tick"):
        report_idle(backends, 10_000, 100_000 if args.quick else 1_000_000, args.iterations)
    print("\nFor context: Zendesk automations run hourly; Chatwoot and Zammad check SLAs every "
          "5 minutes; Grafana OnCall runs escalation steps as timed tasks.")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
