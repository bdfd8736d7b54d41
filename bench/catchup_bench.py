"""Catch-up after Slack downtime: 10,000 messages missed in 50 channels, read back.

``python -m bench --only catchup [--db sqlite|postgresql|both]`` (or ``python -m
bench.catchup_bench``). The fake Slack Web API runs in its own process
(``tests.fakes.slack_api``) holding, per channel, one message Nudgebot stored before it went
down and then 200 it missed: 100 top-level messages (90 customers, 10 team) and 20 customer
threads of 4 replies each (half end with a customer, half with the team). The real Slack
adapter (slack_sdk) and the core's catch-up service read them back through the live ingest
path. Measured: seconds until caught up, API calls made, and that every message is stored and
exactly the expected conversations wait. Beside it, the platform's baseline: how long Slack's
Tier 3 limit (about 50 calls a minute per method) would let those calls take.

Pacing is off in the timed run (the fake has no limit), so the figure is Nudgebot's own cost;
with the default pacing the same catch-up takes the Tier 3 time printed beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from adapters.slack.catchup import TIER3_PER_MINUTE, MethodPacer, slack_ts
from adapters.slack.service import SlackService, SlackSettings
from bench.common import Table, fresh_database, load, verdict
from bot.app import Runtime
from bot.config import parse_config
from bot.services.catchup import CatchUpService
from bot.wiring.core import CoreService
from storage.models import Conversation, Message
from tests.fakes.slack_api import BOT_TOKEN

CHANNELS = 50
PER_CHANNEL = 200
TARGET_SECONDS = 60.0
CUSTOMER, CONNECT_TEAM, ALICE = "U0CUSTOMER", "T0PARTNER", "U0ALICE01"


def config() -> str:
    channels = ", ".join(channel(i) for i in range(CHANNELS))
    return f"""\
team:
  alice: {{name: Alice, slack: {ALICE}}}
policies:
  standard: {{reply_within: 15m}}
sources:
  shared:
    platform: slack
    channels: [{channels}]
    owner: alice
    policy: standard
    customers: everyone-else
"""


def channel(i: int) -> str:
    return f"C0CATCH{i:03d}"


def missed(start: datetime) -> tuple[list[dict[str, Any]], int]:
    """The messages Slack holds that Nudgebot missed, and how many conversations then wait."""
    out: list[dict[str, Any]] = []
    waiting = 0
    for c in range(CHANNELS):
        at = start
        ch = channel(c)

        def post(
            user: str, thread: str | None = None, team: str | None = None, ch: str = ch
        ) -> str:
            nonlocal at
            at += timedelta(milliseconds=250)
            ts = slack_ts(at)
            m: dict[str, Any] = {"channel": ch, "user": user, "text": f"message {ts}", "ts": ts}
            if thread:
                m["thread_ts"] = thread
            if team:
                m["team"] = team
            out.append(m)
            return ts

        for i in range(100):
            post(ALICE if i % 10 == 9 else CUSTOMER, team=CONNECT_TEAM if i % 3 == 0 else None)
            waiting += i % 10 != 9
        for t in range(20):
            parent = post(CUSTOMER)
            order = [ALICE, CUSTOMER] * 2 if t % 2 == 0 else [CUSTOMER, ALICE] * 2
            for user in order:
                post(user, thread=parent)
            waiting += order[-1] == CUSTOMER
    return out, waiting


@contextlib.contextmanager
def fake_slack() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.slack_api", str(port)],
        cwd=Path(__file__).resolve().parents[1],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{base}/_control/calls", timeout=1)
                break
            time.sleep(0.05)
        yield base
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)


@dataclass
class Result:
    seconds: float
    stored: int
    waiting: int
    expected_waiting: int
    calls: dict[str, int]

    def count(self, method: str) -> int:
        return sum(n for key, n in self.calls.items() if key.startswith(method + " "))

    @property
    def tier3_seconds(self) -> float:
        """Each method has its own ~50/min budget: the busier one sets the pace."""
        busiest = max(self.count("conversations.history"), self.count("conversations.replies"))
        return busiest / TIER3_PER_MINUTE * 60


async def run(backend_url: str, base: str) -> Result:
    now = datetime.now(UTC)
    runtime = Runtime.from_config(parse_config(config(), env={}), backend_url)
    settings = SlackSettings(bot_token=BOT_TOKEN, signing_secret="x" * 32, api_url=base + "/api/")
    service = SlackService(settings, CoreService(runtime), runtime.config, runtime.now)
    service.catchup.pacer = MethodPacer(per_minute=0)  # the fake sets no limit: measure us
    await service.start()
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            # Before the downtime: one customer message per channel, stored by a first round.
            before = now - timedelta(hours=2)
            first = [{"channel": channel(c), "user": CUSTOMER, "text": "before",
                      "ts": slack_ts(before)} for c in range(CHANNELS)]  # fmt: skip
            (await http.post("/_control/messages", json=first)).raise_for_status()
            catchup = CatchUpService(
                runtime.db, CoreService(runtime).ingest, [service.catchup], now=runtime.now
            )
            await catchup.run_once()
            baseline = (await http.get("/_control/calls")).json()
            messages, waiting = missed(before + timedelta(minutes=1))
            for start in range(0, len(messages), 2000):
                part = messages[start : start + 2000]
                (await http.post("/_control/messages", json=part)).raise_for_status()
            started = time.perf_counter()
            report = await catchup.run_once()
            seconds = time.perf_counter() - started
            calls = (await http.get("/_control/calls")).json()
        if report.failed:
            print(f"  WARNING: {report.failed} channels failed")
        delta = {k: v - baseline.get(k, 0) for k, v in calls.items() if v - baseline.get(k, 0)}
        async with runtime.db.read() as session:
            stored = await session.scalar(select(func.count()).select_from(Message)) or 0
            waits = await session.scalar(
                select(func.count()).where(Conversation.waiting_since.is_not(None))
            )
        return Result(seconds, stored - CHANNELS, int(waits or 0), waiting + CHANNELS, delta)
    finally:
        await service.stop()
        await runtime.close()


def bench_catchup(backends: list[str]) -> None:
    total = CHANNELS * PER_CHANNEL
    print(
        f"\n== Catch-up: {total:,} Slack messages missed in {CHANNELS} channels, read back with "
        "conversations.history/replies from the fake Web API (own process), stored through "
        "the live ingest path =="
    )
    table = Table(("db", "caught up in", "API calls (history + replies)", "messages stored",
                   "waiting (expected)", f"target <= {TARGET_SECONDS:.0f} s",
                   "Tier 3 baseline (50 calls/min/method)"))  # fmt: skip
    for backend in backends:
        before = load()
        with fake_slack() as base, fresh_database(backend) as url:
            result = asyncio.run(run(url, base))
        history = result.count("conversations.history")
        replies = result.count("conversations.replies")
        ok = result.stored == total and result.waiting == result.expected_waiting
        target = result.seconds <= TARGET_SECONDS if backend == "sqlite" else True
        table.add(
            backend,
            f"{result.seconds:.1f} s ({total / result.seconds:,.0f} msg/s)",
            f"{history + replies:,} ({history} + {replies})",
            f"{result.stored:,}" + ("" if result.stored == total else " (WRONG)"),
            f"{result.waiting:,} ({result.expected_waiting:,})",
            verdict(target and ok) if backend == "sqlite" else "n/a",
            f"{result.tier3_seconds / 60:.1f} min",
        )
        print(f"  {backend}: load before {before}, after {load()}; calls {result.calls}")
    print(table.render())
    print(
        "  Tier 3 baseline: the calls made, at Slack's ~50 per minute per method (internal\n"
        "  apps); a distributed non-Marketplace app (1/min, 15 per page) would need far more."
    )


if __name__ == "__main__":
    from bench.__main__ import _backends

    bench_catchup(_backends(sys.argv[1] if len(sys.argv) > 1 else "both"))
