"""N nudges to P people through the real engine (outbox, deliverer) and the Slack messenger,
against the fake Web API enforcing one ``chat.postMessage`` per second per channel.

Time is scaled: with ``scale`` 10 the fake allows one message per 0.1 s per channel (and
says so in ``Retry-After``, fractionally), and the messenger paces at that interval. The
allowed rate is then ``P × scale`` messages/s; delivered ÷ allowed is the figure that
matters. A second run paces at twice the allowed rate (as an over-eager second replica
would), so the fake answers 429 + Retry-After and the retry path carries the load.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from adapters.slack.service import SlackService, SlackSettings
from bench.common import Table, fresh_database, load, verdict
from bot.app import Runtime
from bot.config import parse_config
from bot.core_impl import CoreService
from bot.domain.events import Author, InboundMessage
from bot.wiring.slack import component
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack

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
    delivered: int
    unique: int
    lost: int
    seconds: float
    allowed: float
    limited: int
    retries: int

    @property
    def rate(self) -> float:
        return self.unique / self.seconds if self.seconds else 0.0


async def run(url: str, nudges: int, people: int, scale: float, pace: float) -> Result:
    interval = 1.0 / scale
    fake = await FakeSlack().start()
    fake.limit_per_channel(interval)
    rt = Runtime.from_config(parse_config(config(people)), url)
    core = CoreService(rt)
    since = datetime.now(UTC) - timedelta(hours=1)
    messages = [
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
    for start in range(0, nudges, 500):
        await core.ingest(messages[start : start + 500])
    settings = SlackSettings(
        BOT_TOKEN,
        "secret",
        api_url=fake.api_url,
        post_interval=interval * pace,
        max_retry_wait=interval * 20,
    )
    service = SlackService(settings, core, rt.config, rt.now)
    service.pacer.max_wait = interval * 20
    part = component(service)
    rt.attach(part)
    await service.start()
    engine = rt.engine
    assert engine is not None
    deadline = time.monotonic() + nudges / (people * scale) * 4 + 60
    while time.monotonic() < deadline:
        result = await engine.tick()
        async with rt.db.read() as session:
            states = Counter(
                dict(
                    (
                        await session.execute(
                            text("SELECT state, count(*) FROM nudges GROUP BY state")
                        )
                    )
                    .tuples()
                    .all()
                )
            )
        if states.get("sent", 0) >= nudges or (
            not result.more and not states.get("pending") and not states.get("sending")
        ):
            break
        if not result.more:
            await asyncio.sleep(0.02)
    async with rt.db.read() as session:
        retries = (
            int(await session.scalar(text("SELECT coalesce(sum(attempts), 0) FROM nudges")) or 0)
            - nudges
        )
    posts = [c for c in fake.calls_to("chat.postMessage") if "metadata" in c.params]
    ids = [c.params["metadata"]["event_payload"]["nudge_id"] for c in posts]
    seconds = (posts[-1].at - posts[0].at) if len(posts) > 1 else 0.0
    # n messages over (n - 1) intervals per channel: rate over the span, corrected.
    span = seconds * len(set(ids)) / max(1, len(set(ids)) - people)
    await service.stop()
    await rt.close()
    await fake.stop()
    return Result(
        len(ids),
        len(set(ids)),
        nudges - len(set(ids)),
        span,
        people * scale,
        fake.rate_limited,
        max(0, retries),
    )


def report(backend: str, nudges: int, people: int, scale: float) -> None:
    print(
        f"\n== Slack nudges: {nudges:,} to {people} people, 1 msg/s per channel enforced, "
        f"time scaled ×{scale:g} (1 s of Slack = {1 / scale:g} s here), {backend} =="
    )
    table = Table(
        (
            "pacing",
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
    for label, pace in (("1 msg/s per channel", 1.0), ("2 msg/s (too eager)", 0.5)):
        with fresh_database(backend) as url:
            r = asyncio.run(run(url, nudges, people, scale, pace))
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
        print(f"  {label}: {r.seconds:.1f} s (load {load()})")
    print(table.render())
