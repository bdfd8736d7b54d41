"""``python -m bench.throttle_bench [--db sqlite|postgresql|both] [--calls N]``: what the
shared sign-in throttle (bot.web.throttle.SharedThrottle) costs a request that carries a
credential, beside a bare ``SELECT 1`` through the same connection pool in the same run.

The table is filled first with ``--rows`` recent failures spread over as many addresses (an
attack from many addresses at once); the lookups are for an address with four failures of
its own (the worst that is still let through). ``failed()`` (insert + delete of expired
rows) is timed too: it runs only for a 401.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, text

from bench.common import BACKENDS, Latency, Table, fresh_database, load, machine, pg_available
from bot.web.throttle import SharedThrottle
from storage import auth_failures_repo
from storage.db import connect
from storage.models import AuthFailure

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


async def _timed(calls: int, action: object) -> Latency:
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await action()  # type: ignore[operator]
        samples.append(time.perf_counter() - started)
    return Latency(samples)


async def measure(url: str, calls: int, rows: int) -> tuple[Latency, Latency, Latency]:
    db = connect(url)
    try:
        async with db.write() as session:
            await session.execute(
                insert(AuthFailure),
                [
                    {"address": auth_failures_repo.key(f"10.0.{i // 250}.{i % 250}"),
                     "failed_at": NOW - timedelta(seconds=i % 290)}
                    for i in range(rows)
                ],
            )  # fmt: skip
        throttle = SharedThrottle(db, lambda: NOW)
        for _ in range(4):
            await throttle.failed("198.51.100.7")

        async def select_one() -> None:
            async with db.read() as session:
                await session.execute(text("SELECT 1"))

        async def lookup() -> None:
            assert await throttle.retry_after("198.51.100.7") is None

        other = SharedThrottle(db, lambda: NOW)

        async def fail() -> None:
            await other.failed("203.0.113.9")

        for warm in (select_one, lookup):
            await _timed(50, warm)
        return (
            await _timed(calls, select_one),
            await _timed(calls, lookup),
            await _timed(min(calls, 500), fail),
        )
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=(*BACKENDS, "both"), default="both")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    backends = list(BACKENDS) if args.db == "both" else [args.db]
    if "postgresql" in backends and (why := pg_available()):
        print(f"PostgreSQL skipped: {why}")
        backends.remove("postgresql")
    print(machine())
    print(f"\n== Shared throttle: {args.calls:,} lookups, {args.rows:,} recent failures stored ==")
    table = Table(("db", "SELECT 1 (baseline)", "retry_after (lookup)", "p50 ratio", "failed()"))
    for backend in backends:
        with fresh_database(backend) as url:
            base, look, fail = asyncio.run(measure(url, args.calls, args.rows))
        table.add(backend, base.describe(), look.describe(), f"{look.p50 / base.p50:.2f}",
                  fail.describe())  # fmt: skip
    print(table.render())
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
