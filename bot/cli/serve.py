"""`nudgebot run`'s event loop: the HTTP server, then the nudge scheduler beside it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

import uvicorn

from bot.wiring.process import Process


class _Server(uvicorn.Server):
    """uvicorn's server, telling when it is up (lifespan done, sockets bound)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.up = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.up.set()


async def serve(process: Process, host: str, port: int) -> None:
    """Serve the process's app; once the sockets are bound, start the adapters, re-plan
    waiting conversations under this config and start the scheduler. Stopping the server
    stops them all."""
    # APScheduler logs every wake-up at INFO; ours are many and say nothing.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    server = _Server(uvicorn.Config(process.app, host=host, port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve(), name="uvicorn")
    up = asyncio.create_task(server.up.wait(), name="uvicorn-up")
    try:
        await asyncio.wait({serving, up}, return_when=asyncio.FIRST_COMPLETED)
        if server.up.is_set():
            await process.start()
        await serving
    finally:
        up.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await up
        await process.stop()
