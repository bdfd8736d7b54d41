"""Feeds the demo's traffic into the real runtime, as the adapters would, and narrates it."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterable
from datetime import datetime

from rich.console import Console
from rich.text import Text

from bot.app import Runtime
from bot.demo.stream import Say
from bot.domain.durations import format_duration
from bot.domain.events import Author, InboundMessage
from bot.services.waiting import list_waiting

Clock = Callable[[], float]  # monotonic seconds


def to_message(say: Say, message_id: str, at: datetime) -> InboundMessage:
    return InboundMessage(
        source=say.source, platform=say.platform, message_id=message_id, thread=say.thread,
        at=at, author=Author(say.author_id, say.author), is_team=say.person is not None,
        text=say.text, channel=say.channel, person=say.person,
    )  # fmt: skip


def describe(say: Say, at: datetime) -> Text:
    line = Text(f"{at:%H:%M:%S} ", style="dim")
    if say.person is None:
        line.append(f"→ {say.source} ({say.platform}) ", style="bold cyan")
        line.append(f"{say.author}: ", style="bold")
    else:
        line.append(f"← {say.source} ({say.platform}) ", style="bold blue")
        line.append(f"{say.author} replies: ", style="bold blue")
    line.append(say.text)
    return line


class Feeder:
    """Ingests each ``Say`` at its time (divided by ``speed``) and prints a waiting summary
    every ``summary_every`` seconds of demo time."""

    def __init__(
        self,
        runtime: Runtime,
        console: Console,
        *,
        speed: float,
        clock: Clock,
        summary_every: float = 10.0,
    ) -> None:
        self.runtime = runtime
        self.console = console
        self.speed = speed
        self.clock = clock
        self.summary_every = summary_every
        self.ingested = 0

    async def run(self, stream: Iterable[Say]) -> None:
        started = self.clock()
        next_summary = self.summary_every
        ids = itertools.count(1)
        for say in stream:
            while next_summary <= say.at:
                await self._sleep_until(started, next_summary)
                await self.summary()
                next_summary += self.summary_every
            await self._sleep_until(started, say.at)
            at = self.runtime.now()
            await self.runtime.inbox.ingest([to_message(say, f"demo-{next(ids)}", at)])
            self.ingested += 1
            self.console.print(describe(say, at))

    async def _sleep_until(self, started: float, at: float) -> None:
        delay = started + at / self.speed - self.clock()
        if delay > 0:
            await asyncio.sleep(delay)

    async def summary(self) -> None:
        now = self.runtime.now()
        rows = await list_waiting(self.runtime.db, self.runtime.routing, now)
        if not rows:
            self.console.print(Text("⏳ nobody is waiting", style="green"))
            return
        overdue = sum(r.overdue for r in rows)
        oldest = rows[0]
        waited = format_duration(now - oldest.waiting_since)
        who = ", ".join(oldest.responsible_all) or "nobody"
        self.console.print(
            Text(
                f"⏳ {len(rows)} conversation(s) waiting, {overdue} overdue — oldest: "
                f"{oldest.customer} in {oldest.source} for {waited} (→ {who})",
                style="yellow",
            )
        )
