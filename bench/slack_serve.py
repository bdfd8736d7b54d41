"""The three servers ``bench.slack_bench`` compares, each run in its own process under uvicorn:

* ``bare``     — a Starlette POST endpoint that reads the body and answers 200 (the floor);
* ``bolt``     — Bolt's ``AsyncApp`` behind its Starlette adapter, signature check on, a
                 ``message`` listener that does nothing (what any Bolt app pays);
* ``nudgebot`` — the real web app with the Slack component: verify, translate, store (group
                 commit), answer. Its engine's ingest hook plans nudges; the scheduler is off.

``python -m bench.slack_serve KIND PORT [DATABASE_URL CONFIG_PATH]``
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Sequence

import uvicorn
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.slack.service import SlackService, SlackSettings
from bot.app import Runtime
from bot.config import load_config
from bot.domain.events import InboundMessage
from bot.web.app import create_app
from bot.wiring.core import CoreService
from bot.wiring.slack import component
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


async def ok(request: Request) -> Response:
    await request.body()
    return Response(status_code=200)


def bare() -> Starlette:
    return Starlette(routes=[Route("/slack/events", ok, methods=["POST"])])


def bolt(api_url: str) -> Starlette:
    client = AsyncWebClient(token=BOT_TOKEN, base_url=api_url)
    app = AsyncApp(name="noop", client=client, signing_secret=SECRET, process_before_response=True)

    async def nothing() -> None:
        return None

    app.event("message")(nothing)
    handler = AsyncSlackRequestHandler(app)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    return Starlette(routes=[Route("/slack/events", events, methods=["POST"])])


def _trace_batches(runtime: Runtime) -> Callable[[], str]:
    """Wrap the inbox's group-commit writer to report batch sizes and write times."""
    batcher = runtime.inbox.batcher
    real = batcher._commit
    sizes: list[int] = []
    times: list[float] = []

    async def timed(groups: list[Sequence[InboundMessage]]) -> None:
        started = time.perf_counter()
        await real(groups)
        times.append(time.perf_counter() - started)
        sizes.append(sum(len(g) for g in groups))

    batcher._commit = timed  # type: ignore[method-assign]

    def summary() -> str:
        if not sizes:
            return "  nudgebot: no batches"
        ms = sorted(t * 1000 for t in times)
        return (
            f"  nudgebot group commit: {len(sizes):,} transactions, "
            f"{sum(sizes) / len(sizes):.1f} events each on average, write p50 "
            f"{ms[len(ms) // 2]:.1f} ms / p99 {ms[int(len(ms) * 0.99)]:.1f} ms"
        )

    return summary


async def serve(kind: str, port: int, db_url: str, config_path: str) -> None:
    fake = await FakeSlack().start()  # auth.test for Bolt's authorization
    runtime: Runtime | None = None
    stop: Callable[[], Awaitable[None]] | None = None
    trace: Callable[[], str] | None = None
    if kind == "bare":
        app = bare()
    elif kind == "bolt":
        app = bolt(fake.api_url)
    else:
        runtime = Runtime.from_config(load_config(config_path), db_url)
        settings = SlackSettings(BOT_TOKEN, SECRET, api_url=fake.api_url)
        service = SlackService(settings, CoreService(runtime), runtime.config, runtime.now)
        part = component(service)
        runtime.attach(part)
        await service.start()
        stop = service.stop
        trace = _trace_batches(runtime)
        app = create_app(runtime, routes=part.routes)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off"
    )
    # As `nudgebot run` does once started (bot/cli/serve.py), and for all three servers alike.
    gc.freeze()
    server = uvicorn.Server(config)

    async def until_stdin_closes() -> None:
        # The parent closes our stdin to stop us: a signal would be re-raised by uvicorn
        # after serving, before the figures below could be printed.
        await asyncio.to_thread(sys.stdin.buffer.read)
        server.should_exit = True

    watcher = asyncio.create_task(until_stdin_closes())
    await server.serve()
    await watcher
    if stop is not None:
        await stop()
        if trace is not None:
            print(trace(), flush=True)
    if runtime is not None:
        await runtime.close()
    await fake.stop()


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.WARNING)
    kind, port = argv[0], int(argv[1])
    db_url, config_path = (argv[2], argv[3]) if len(argv) > 3 else ("", "")
    asyncio.run(serve(kind, port, db_url, config_path))


if __name__ == "__main__":
    main(sys.argv[1:])
