"""Issue 14 item 4: a real uvicorn server on a loopback port, raw sockets as slow clients.

A slowloris header trickle, a stalled body on /hooks/… and on /login, and too many
connections from one address: each slow client gets 408 (or 429) and its connection closed,
and the server answers everyone else meanwhile. Deadlines are short here (the defaults are
bot.web.deadlines.HEADER_TIMEOUT / BODY_TIMEOUT); the waits below only guard against a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.app import Runtime
from bot.cli.serve import Server, server_config
from bot.web.app import create_app
from tests.dashboard.kit import write_config

HANG = 20.0  # seconds; a test that waits this long has failed
CONFIG = """\
team:
  alice: {name: Alice}
sources:
  website: {platform: webhook, secret: "hook-secret-0123456789abcdefghij", owner: alice}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def server(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[int]:
    monkeypatch.setenv("NUDGEBOT_API_TOKEN", "k3yTz9QmP4vX7wR2nB8cL5dF1gH6jS0a")
    runtime = Runtime.from_config(write_config(tmp_path, CONFIG), db_url)
    port = _free_port()
    # The configuration `nudgebot run` serves with, with shorter deadlines and cap.
    config = server_config(
        create_app(runtime),
        "127.0.0.1",
        port,
        header_timeout=1.0,
        body_timeout=1.0,
        max_per_client=4,
    )
    srv = Server(config)
    task = asyncio.create_task(srv.serve())
    await asyncio.wait_for(srv.up.wait(), HANG)
    try:
        yield port
    finally:
        srv.should_exit = True
        await asyncio.wait_for(task, HANG)
        await runtime.close()


async def answer(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    return await asyncio.wait_for(reader.read(), HANG)


async def others_are_served(port: int, source: str = "127.0.0.2") -> None:
    transport = httpx.AsyncHTTPTransport(local_address=source)
    async with httpx.AsyncClient(transport=transport, timeout=HANG) as client:
        assert (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200


async def test_slowloris_headers_get_408_and_others_are_served(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    writer.write(b"POST /hooks/website HTTP/1.1\r\nHost: x\r\n")

    async def trickle() -> None:
        with contextlib.suppress(ConnectionError):
            for i in range(200):  # a header line every 0.1 s, never the blank line
                writer.write(f"X-Pad-{i}: a\r\n".encode())
                await writer.drain()
                await asyncio.sleep(0.1)

    trickling = asyncio.create_task(trickle())
    await others_are_served(server)  # while the slow client is connected
    got = await answer(reader)
    trickling.cancel()
    assert got.startswith(b"HTTP/1.1 408 "), got[:200]
    assert reader.at_eof()
    writer.close()


@pytest.mark.parametrize("path", ["/hooks/website", "/login"])
async def test_a_stalled_body_gets_408_and_the_connection_closed(server: int, path: str) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: 100000\r\n\r\ntoken=abc".encode()
    )
    await writer.drain()
    await others_are_served(server)
    got = await answer(reader)
    assert got.startswith(b"HTTP/1.1 408 "), got[:200]
    assert reader.at_eof()
    writer.close()


async def test_connections_per_address_are_capped(server: int) -> None:
    held = [await asyncio.open_connection("127.0.0.1", server) for _ in range(4)]
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    got = await answer(reader)
    assert got.startswith(b"HTTP/1.1 429 "), got[:200]
    await others_are_served(server)  # another address still gets in
    for r, w in held:  # the held ones time out on their headers
        assert (await answer(r)).startswith(b"HTTP/1.1 408 ")
        w.close()
    writer.close()
    await others_are_served(server, "127.0.0.1")  # and the address may connect again


async def test_a_prompt_client_is_unaffected_by_the_deadlines(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    for _ in range(2):  # keep-alive: two requests on one connection
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HANG)
        assert head.startswith(b"HTTP/1.1 200 ")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))  # fmt: skip
        await asyncio.wait_for(reader.readexactly(length), HANG)
    writer.close()
