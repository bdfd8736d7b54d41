"""`nudgebot demo`: the whole loop on this machine, no accounts needed.

A temporary SQLite database, a generated config with targets in seconds, a simulated customer
stream on three platforms and simulated team answers, fed through the real ingest; the real
nudge engine and scheduler deliver through the console messenger, and the real web app serves
the dashboard and API meanwhile. Ctrl-C (or ``--duration``) stops it cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from adapters.console.messenger import ConsoleMessenger
from bot import logsafety
from bot.app import Runtime
from bot.cli.common import check_port, fail
from bot.cli.serve import Server, server_config
from bot.config import parse_config
from bot.demo.config import demo_config
from bot.demo.feed import Feeder
from bot.demo.stream import demo_stream
from bot.domain.durations import format_duration
from bot.web.app import create_app
from bot.wiring.process import Process
from storage.migrate import upgrade

TOKEN_ENV = "NUDGEBOT_API_TOKEN"
DEFAULT_DURATION = 90.0  # seconds: long enough for every step of the ladder at --speed 1
# Variables that would make the demo reach real platforms or change how the dashboard behaves.
_SCRUB = ("NUDGEBOT_PUBLIC_URL", "NUDGEBOT_MESSENGER", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN",
          "TELEGRAM_BOT_TOKEN")  # fmt: skip


@dataclass(frozen=True)
class Setup:
    workdir: Path
    database_url: str
    config_path: Path
    token: str


def prepare(speed: float) -> tuple[Setup, Runtime]:
    workdir = Path(tempfile.mkdtemp(prefix="nudgebot-demo-"))
    text = demo_config(speed=speed, webhook_secret=secrets.token_hex(16), today=date.today())
    config_path = workdir / "nudgebot.yaml"
    config_path.write_text(text, encoding="utf-8")
    url = f"sqlite:///{workdir / 'demo.db'}"
    upgrade(url)
    for name in _SCRUB:
        os.environ.pop(name, None)
    token = secrets.token_urlsafe(18)
    os.environ[TOKEN_ENV] = token  # read once by create_app
    runtime = Runtime.from_config(parse_config(text, path=config_path), url)
    return Setup(workdir, url, config_path, token), runtime


def cli_command() -> str:
    """How to call this install's CLI from another terminal: after README command 1 the
    script is in .venv/bin, which is not on PATH."""
    script = Path(sys.executable).with_name("nudgebot")
    if not script.exists():
        return f"{sys.executable} -m bot"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def banner(console: Console, setup: Setup, host: str, port: int) -> None:
    """Plain lines, never wrapped: the token and the command must survive copy and paste."""
    lines = (
        ("nudgebot demo", "bold green"),
        (f"Dashboard: http://{host}:{port}  (token: {setup.token})", "bold"),
        (
            f"API:       curl -H 'Authorization: Bearer {setup.token}' "
            f"http://{host}:{port}/api/waiting",
            "",
        ),
        (f"Database:  {setup.database_url}", ""),
        ("Who's waiting, from another terminal:", ""),
        (
            f"  DATABASE_URL={setup.database_url} NUDGEBOT_CONFIG={setup.config_path} "
            f"{cli_command()} waiting",
            "bold",
        ),
        (
            "First nudge after 10s, reminders every 10s, escalation to the owner 20s after the "
            "first nudge (divided by --speed). The demo ends by itself after --duration "
            "(default 90 s; 0 runs until Ctrl-C) with a summary; Ctrl-C stops it sooner.",
            "dim",
        ),
    )
    for text, style in lines:
        console.print(text, style=style, markup=False, soft_wrap=True)
    console.rule(style="green")


async def _run(runtime: Runtime, console: Console, *, host: str, port: int, speed: float,
               duration: float | None, seed: int | None) -> None:  # fmt: skip
    process = Process(runtime, [], create_app(runtime))
    server = Server(server_config(process.app, host, port))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    serving = asyncio.create_task(server.serve(), name="uvicorn")
    up = asyncio.create_task(server.up.wait(), name="uvicorn-up")
    feeding: asyncio.Task[None] | None = None
    try:
        await asyncio.wait({serving, up}, return_when=asyncio.FIRST_COMPLETED)
        if not server.up.is_set():
            raise RuntimeError(f"the dashboard could not listen on {host}:{port}")
        await process.start()
        feeder = Feeder(runtime, console, speed=speed, clock=time.monotonic)
        feeding = asyncio.create_task(feeder.run(demo_stream(random.Random(seed))), name="feed")
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait({waiter, feeding, serving}, timeout=duration,
                           return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        waiter.cancel()
        if feeding.done():
            feeding.result()  # a failure in the feed is a failure of the demo
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        for task in (feeding, up):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        await process.stop()


def demo(
    port: Annotated[int, typer.Option(help="Dashboard port")] = 8080,
    host: Annotated[str, typer.Option(help="Dashboard bind address")] = "127.0.0.1",
    speed: Annotated[float, typer.Option(min=0.25, max=10.0, help="Time compression")] = 1.0,
    duration: Annotated[
        float, typer.Option(min=0.0, help="Stop after this many seconds (0: until Ctrl-C)")
    ] = DEFAULT_DURATION,
    keep: Annotated[bool, typer.Option(help="Keep the temporary database and config")] = False,
    seed: Annotated[int | None, typer.Option(help="Random seed for the customer stream")] = None,
) -> None:
    """The whole loop on this machine, no accounts needed: simulated customers and team,
    nudges in this terminal, the dashboard at http://127.0.0.1:8080."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    logsafety.install()
    os.environ.setdefault("NUDGEBOT_TICK_SECONDS", "1")
    check_port(host, port, "--port")
    console = Console(highlight=False)
    setup, runtime = prepare(speed)
    messenger = ConsoleMessenger(console)
    runtime.messengers.clear()
    runtime.messengers.update({"slack": messenger, "telegram": messenger, "console": messenger})
    banner(console, setup, host, port)
    failure: str | None = None
    try:
        asyncio.run(_run(runtime, console, host=host, port=port, speed=speed,
                         duration=duration or None, seed=seed))  # fmt: skip
    except (RuntimeError, OSError) as exc:
        failure = str(exc)
    finally:
        if keep:
            console.print(f"kept {setup.workdir}", markup=False)
        else:
            shutil.rmtree(setup.workdir, ignore_errors=True)
    if failure:
        fail(failure)
    console.print(closing_summary(messenger), style="green", markup=False)


def closing_summary(messenger: ConsoleMessenger) -> str:
    times = sorted(t for t in messenger.answered.values() if t is not None)
    median = (
        f", median reply {format_duration(timedelta(seconds=statistics.median(times)))}"
        if times
        else ""
    )
    return (
        f"demo stopped: {messenger.nudges_sent} nudge(s) sent, "
        f"{len(messenger.answered)} conversation(s) answered after a nudge{median}"
    )
