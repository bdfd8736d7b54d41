"""`nudgebot run`'s event loop: the HTTP server, then the adapters and the scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from bot.web.deadlines import guarded_protocol
from bot.wiring.process import Process


class Server(uvicorn.Server):
    """uvicorn that tells when its sockets are bound and leaves signals to us: uvicorn's own
    handler re-raises SIGINT after a clean shutdown, which ends the process with a traceback
    and exit code 130 instead of 0."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.up = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.up.set()


def server_config(app: ASGIApp, host: str, port: int, **deadlines: Any) -> uvicorn.Config:
    """How `run` and `demo` serve: every connection under bot.web.deadlines' header and body
    deadlines and per-address cap (``deadlines`` overrides them, for tests)."""
    # log_config=None: uvicorn's records go to the root handlers, through bot.logsafety's
    # filter, instead of uvicorn's own handlers that would bypass it.
    return uvicorn.Config(
        app, host=host, port=port, log_level="warning", log_config=None,
        http=guarded_protocol(**deadlines),
    )  # fmt: skip


async def serve(process: Process, host: str, port: int) -> None:
    """Serve the process's app; once the sockets are bound, start the adapters, re-plan
    waiting conversations under this config and start the scheduler. SIGINT or SIGTERM stops
    the server, then all of them."""
    # APScheduler logs every wake-up at INFO; ours are many and say nothing.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    server = Server(server_config(process.app, host, port))
    loop = asyncio.get_running_loop()

    def stop() -> None:
        server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    serving = asyncio.create_task(server.serve(), name="uvicorn")
    up = asyncio.create_task(server.up.wait(), name="uvicorn-up")
    try:
        await asyncio.wait({serving, up}, return_when=asyncio.FIRST_COMPLETED)
        if server.up.is_set():
            await process.start()
            # Everything loaded so far (modules, config, app) lives as long as the process:
            # out of the collector's sight, full collections stop walking it again and again
            # under load (measured: GC time per request roughly halved, bench.slack_bench).
            gc.freeze()
        await serving
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        up.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await up
        await process.stop()
