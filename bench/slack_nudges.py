"""N nudges to P people through the real engine (outbox, deliverer) and the Slack messenger,
against the fake Web API — in its own process, as Slack is — enforcing one
``chat.postMessage`` per second per channel.

Time is scaled: with ``scale`` 2 the fake allows one message per 0.5 s per channel (and says
so in ``Retry-After``, fractionally), and the messenger paces at that interval. The allowed
rate is then ``P × scale`` messages/s; delivered ÷ allowed is the figure that matters. A
second engine run paces at twice the allowed rate (as an over-eager second replica would), so
the fake answers 429 + Retry-After and the retry path carries the load. A third row drives
the messenger alone, without the engine, to separate the adapter's pacing from the outbox.
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
from sqlalchemy import text

from adapters.slack.messenger import SlackMessenger
from adapters.slack.pacing import ChannelPacer
from adapters.slack.service import SlackService, SlackSettings, web_client
from bench.common import Table, fresh_database, load, verdict
from bot.app import Runtime
from bot.config import parse_config
from bot.domain.events import Author, InboundMessage
from bot.domain.ports import DeliveryError, NudgeView, Recipient, Step, TranscriptLine
from bot.wiring.core import CoreService
from bot.wiring.slack import component
from tests.fakes.slack_api import BOT_TOKEN

TARGET = 0.9


def config(people: int) -> str:
    team = "".join(f"  p{n:02d}: {{slack: U0P{n:04d}}}\n" for n in range(people))
    sources = "".join(
        f"  s{n:02d}: {{platform: slack, channels: [C0S{n:04d}], owner: p{n:02d}, "
        "policy: standard, customers: everyone-else}\n"
        for n in range(people)
    )
    return f"team:\n{team}policies:\n  standard: {{reply_within: 15m}}\nsources:\n{sources}"


@dataclass
class Result:
    delivered: int  # accepted posts carrying a nudge id
    unique: int  # distinct nudge ids among them
    expected: int
    seconds: float
    allowed: float
    limited: int  # 429s the fake answered
    retries: int  # deliveries that failed and were tried again

    @property
    def lost(self) -> int:
        return self.expected - self.unique

    @property
    def rate(self) -> float:
        return self.unique / self.seconds if self.seconds else 0.0


@contextlib.contextmanager
def fake_slack(interval: float) -> Iterator[str]:
    """The fake Web API in a subprocess; yields its base URL."""
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
                httpx.post(f"{base}/_control/limit", json={"interval": interval}, timeout=1)
                break
            time.sleep(0.05)
        yield base
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)


def tally(base: str, expected: int, people: int, scale: float, retries: int) -> Result:
    report = httpx.get(f"{base}/_control/posts", timeout=30).json()
    posts = [p for p in report["posts"] if p["status"] == 200 and p["metadata"]]
    ids = [p["metadata"]["event_payload"]["nudge_id"] for p in posts]
    seconds = posts[-1]["at"] - posts[0]["at"] if len(posts) > 1 else 0.0
    # Each channel sends n/P messages over n/P - 1 intervals: stretch the span to match.
    unique = len(set(ids))
    span = seconds * unique / max(1, unique - people)
    return Result(len(ids), unique, expected, span, people * scale, report["rate_limited"], retries)


def _messages(nudges: int, people: int) -> list[InboundMessage]:
    since = datetime.now(UTC) - timedelta(hours=1)
    return [
        InboundMessage(
            source=f"s{i % people:02d}",
            platform="slack",
            message_id=f"C0S{i % people:04d}:{1_700_000_000 + i}.000100",
            thread=f"{1_700_000_000 + i}.000100",
            at=since + timedelta(seconds=i % 600),
            author=Author(f"U0CUST{i:05d}", "Customer"),
            is_team=False,
            text=f"Question {i}",
            channel=f"C0S{i % people:04d}",
        )
        for i in range(nudges)
    ]


async def _states(runtime: Runtime) -> dict[str, int]:
    async with runtime.db.read() as session:
        rows = await session.execute(text("SELECT state, count(*) FROM nudges GROUP BY state"))
        return {state: int(n) for state, n in rows.tuples()}


async def run_engine(
    url: str, api: str, nudges: int, people: int, scale: float, pace: float
) -> int:
    """Plan and deliver every nudge with the engine's ticks; returns the retries it made."""
    interval = 1.0 / scale
    runtime = Runtime.from_config(parse_config(config(people)), url)
    core = CoreService(runtime)
    messages = _messages(nudges, people)
    for start in range(0, nudges, 500):
        await core.ingest(messages[start : start + 500])
    settings = SlackSettings(
        BOT_TOKEN,
        "secret",
        api_url=api + "/api/",
        post_interval=interval * pace,
        max_retry_wait=interval * 20,
    )
    service = SlackService(settings, core, runtime.config, runtime.now)
    service.pacer.max_wait = interval * 20
    runtime.attach(component(service))
    await service.start()
    engine = runtime.engine
    assert engine is not None
    deadline = time.monotonic() + nudges / (people * scale) * 4 + 60
    while time.monotonic() < deadline:
        result = await engine.tick()
        states = await _states(runtime)
        if states.get("sent", 0) >= nudges or not (
            result.more or states.get("pending") or states.get("sending")
        ):
            break
        if not result.more:
            await asyncio.sleep(0.02)
    async with runtime.db.read() as session:
        attempts = await session.scalar(text("SELECT coalesce(sum(attempts), 0) FROM nudges"))
    await service.stop()
    await runtime.close()
    return max(0, int(attempts or 0) - nudges)


async def run_direct(api: str, nudges: int, people: int, scale: float) -> int:
    """The messenger alone, fed as fast as it takes them (32 in flight, each retried after
    the ``retry_after`` it reports): the ceiling the engine's lanes should reach; returns
    the retries."""
    interval = 1.0 / scale
    settings = SlackSettings(
        BOT_TOKEN,
        "secret",
        api_url=api + "/api/",
        post_interval=interval,
        max_retry_wait=interval * 20,
    )
    pacer = ChannelPacer(interval, max_wait=20 * interval)
    messenger = SlackMessenger(web_client(settings), pacer, str)
    now = datetime.now(UTC)
    gate = asyncio.Semaphore(32)
    retries = 0

    async def deliver(i: int) -> None:
        nonlocal retries
        line = TranscriptLine("Customer", False, now, f"Question {i}")
        view = NudgeView(
            i + 1,
            i + 1,
            Step.FIRST,
            Recipient("slack", f"U0P{i % people:04d}"),
            "s",
            "slack",
            f"C0S{i % people:04d}",
            f"{1_700_000_000 + i}.000100",
            "Customer",
            now - timedelta(minutes=20),
            now,
            now,
            ("p",),
            (line,),
            "",
            True,
        )
        async with gate:
            while True:
                try:
                    await messenger.send_nudge(view)
                    return
                except DeliveryError as exc:
                    retries += 1
                    await asyncio.sleep(exc.retry_after or interval)

    await asyncio.gather(*(deliver(i) for i in range(nudges)))
    return retries


def report(backend: str, nudges: int, people: int, scale: float) -> None:
    print(
        f"\n== Slack nudges: {nudges:,} to {people} people, 1 msg/s per channel enforced by the "
        f"fake (own process), time scaled ×{scale:g} (1 s of Slack = {1 / scale:g} s), "
        f"{backend} =="
    )
    table = Table(
        (
            "path",
            "delivered",
            "lost",
            "duplicated",
            "429s",
            "retries",
            "rate (scaled msg/s)",
            "allowed",
            "ratio",
            f">= {TARGET}",
        )
    )
    runs: list[tuple[str, Any]] = [
        ("engine, paced 1/s/channel", 1.0),
        ("engine, paced 2/s (eager)", 0.5),
        ("messenger alone, 1/s", None),
    ]
    for label, pace in runs:
        started = time.monotonic()
        with fake_slack(1.0 / scale) as api:
            if pace is None:
                retries = asyncio.run(run_direct(api, nudges, people, scale))
            else:
                with fresh_database(backend) as url:
                    retries = asyncio.run(run_engine(url, api, nudges, people, scale, pace))
            r = tally(api, nudges, people, scale, retries)
        ratio = r.rate / r.allowed
        table.add(
            label,
            f"{r.unique:,}",
            r.lost,
            r.delivered - r.unique,
            r.limited,
            r.retries,
            f"{r.rate:,.1f}",
            f"{r.allowed:,.0f}",
            f"{ratio:.2f}",
            verdict(ratio >= TARGET),
        )
        print(f"  {label}: {time.monotonic() - started:.1f} s (load {load()})")
    print(table.render())
