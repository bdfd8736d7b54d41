"""``python -m bench.telegram_bench [--db sqlite|postgresql|both] [--quick]``

Telegram webhook updates → stored, through uvicorn on 127.0.0.1, side by side in one run with
two baselines behind the same uvicorn settings, measured again for every database and taking
turns with Nudgebot in short slices (``--rounds``), so the machine's load is shared alike:

- ``bare``: a Starlette endpoint that reads the body and answers ``{"ok": true}``;
- ``ptb``: the same route as production (secret, size limit, JSON, ``Update.de_json``) into
  a PTB ``Application`` whose only handler does nothing;
- ``nudgebot``: the real app (``create_app`` with the Telegram component): thread lookup,
  ingest, recompute and the nudge engine's planning hook, on SQLite or PostgreSQL.

Each server runs in a process of its own; the load generator is a raw asyncio HTTP/1.1
keep-alive client (httpx would be the bottleneck) with 32 concurrent senders for throughput
and 16 for latency. Every request is a distinct update shaped like Telegram's: customer
messages in 32 group chats of 2 sources (40 customers each), one in ten from a team member
(half of them Telegram replies), platform time advancing 100 ms per update. After the run the
stored rows are counted: a 200 that stored nothing would show. Only 2xx answers count as
completed (rate and latency); any other status is an error, reported in its own column, and
a run with errors meets no target. "CPU/update" is the server
process's CPU time (all threads, from /proc) per request: unlike req/s it barely depends on
what else the machine is running; "PG CPU/update", on PostgreSQL, is the same for the
server's PostgreSQL backends (the database's half of the work, on the same two cores).
Nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import (
    BACKENDS,
    Latency,
    Table,
    fresh_database,
    load,
    machine,
    pg_available,
    postgres_cpu,
)

SECRET = "bench-secret_0123456789"
PATH = "/telegram/webhook"
SOURCES, CHATS_PER_SOURCE, CUSTOMERS_PER_CHAT = 2, 16, 40
TEAM = (111_000_001, 111_000_002, 111_000_003, 111_000_004)
TARGET_RATE = 1000.0
TARGET_P99 = 0.050
KINDS = ("bare", "ptb", "nudgebot")


# --- workload -------------------------------------------------------------------------------


def chat_id(source: int, chat: int) -> int:
    return -1_001_000_000_000 - source * 100 - chat


def config_yaml() -> str:
    lines = ["timezone: UTC", "team:"]
    for i, tid in enumerate(TEAM):
        lines += [f"  member{i}:", f"    name: Member {i}", f"    telegram: {tid}",
                  "    notify: telegram"]  # fmt: skip
    lines += ["  owner:", "    name: Owner", "    owner: true", "    telegram: 111000999"]
    lines += ["policies:", "  standard:", "    reply_within: 15m", "sources:"]
    for s in range(SOURCES):
        chats = ", ".join(str(chat_id(s, c)) for c in range(CHATS_PER_SOURCE))
        lines += [f"  group{s}:", "    platform: telegram", f"    chats: [{chats}]",
                  f"    owner: member{s % len(TEAM)}", "    policy: standard"]  # fmt: skip
    return "\n".join(lines) + "\n"


@dataclass
class Workload:
    """Distinct updates on demand, continuing message ids and time across phases."""

    seed: int = 7
    start: datetime = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    next_update: int = 500_000_000
    sent: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.numbers: dict[int, int] = {}
        self.recent: dict[int, list[dict[str, Any]]] = {}

    def update(self) -> dict[str, Any]:
        rng = self.rng
        source, chat = rng.randrange(SOURCES), rng.randrange(CHATS_PER_SOURCE)
        cid = chat_id(source, chat)
        number = self.numbers.get(cid, 0) + 1
        self.numbers[cid] = number
        at = self.start + timedelta(milliseconds=100 * self.sent)
        team = rng.random() < 0.1
        if team:
            uid = rng.choice(TEAM)
            user = {"id": uid, "is_bot": False, "first_name": "Member"}
        else:
            uid = (
                5_000_000
                + (source * CHATS_PER_SOURCE + chat) * 1000
                + rng.randrange(CUSTOMERS_PER_CHAT)
            )
            user = {"id": uid, "is_bot": False, "first_name": f"Customer{uid % 1000}"}
        where = {"id": cid, "title": f"Customers {source}/{chat}", "type": "supergroup"}
        message: dict[str, Any] = {
            "message_id": number, "from": user, "chat": where, "date": int(at.timestamp()),
            "text": ("Thanks, looking into it now." if team else
                     "Hi, my order still hasn't arrived, could you check? " * rng.randint(1, 3)),
        }  # fmt: skip
        recent = self.recent.setdefault(cid, [])
        if team and recent and rng.random() < 0.5:
            message["reply_to_message"] = rng.choice(recent)
        if not team:
            recent.append({k: message[k] for k in ("message_id", "from", "chat", "date", "text")})
            del recent[:-20]
        self.next_update += 1
        self.sent += 1
        return {"update_id": self.next_update, "message": message}

    def request(self, port: int) -> bytes:
        body = json.dumps(self.update(), separators=(",", ":")).encode()
        head = (
            f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"X-Telegram-Bot-Api-Secret-Token: {SECRET}\r\n\r\n"
        )
        return head.encode() + body


# --- load generator -------------------------------------------------------------------------


@dataclass
class Run:
    count: int  # answered 2xx: only those count as completed
    seconds: float
    latency: Latency  # of the 2xx answers
    errors: int  # any other status
    cpu: float = 0.0  # server CPU seconds spent on the run
    db_cpu: float = 0.0  # the PostgreSQL backends' CPU seconds for the run (PostgreSQL only)

    @property
    def cpu_ms(self) -> float:
        """Server CPU per request: what the load on the machine does not change much."""
        return self.cpu / self.count * 1000

    @property
    def db_cpu_ms(self) -> float:
        return self.db_cpu / self.count * 1000

    @property
    def rate(self) -> float:
        return self.count / self.seconds


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def drive(port: int, requests: list[bytes], senders: int, seconds: float) -> Run:
    """Send ``requests`` over ``senders`` keep-alive connections (stop early after
    ``seconds``); latency is write-to-last-byte of each request."""
    queue = iter(requests)
    samples: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def sender() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for request in queue:
                started = time.perf_counter()
                writer.write(request)
                status = await _read_response(reader)
                if 200 <= status < 300:
                    samples.append(time.perf_counter() - started)
                else:
                    errors += 1
                if started > deadline:
                    break
        finally:
            writer.close()
            await writer.wait_closed()

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(senders)))
    return Run(len(samples), time.perf_counter() - started, Latency(samples or [0.0]), errors)


def merge(runs: list[Run]) -> Run:
    samples = [x for r in runs for x in r.latency.samples if r.count]
    return Run(
        sum(r.count for r in runs), sum(r.seconds for r in runs), Latency(samples or [0.0]),
        sum(r.errors for r in runs), sum(r.cpu for r in runs), sum(r.db_cpu for r in runs),
    )  # fmt: skip


# --- servers (each in its own process) ------------------------------------------------------


def _socket() -> socket.socket:
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on sockets that say they are
    # TCP, and without it h11's separate header and body writes meet the client's delayed
    # ACK — a flat 40 ms per request that measures the kernel, not the server.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    return sock


async def _serve(app: Any) -> None:
    import uvicorn

    sock = _socket()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    gc.freeze()  # as `nudgebot run` does once started (bot/cli/serve.py); for every server
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    await server.serve(sockets=[sock])


def _bare_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def endpoint(request: Request) -> Response:
        await request.body()
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route(PATH, endpoint, methods=["POST"])])


async def serve(kind: str, db_url: str, config_path: str) -> None:
    if kind == "bare":
        await _serve(_bare_app())
        return
    os.environ["PTB_TIMEDELTA"] = "true"
    from tests.fakes.telegram_api import FakeTelegramAPI  # getMe/setWebhook, on 127.0.0.1

    with FakeTelegramAPI() as fake:
        if kind == "ptb":
            await _serve_ptb(fake)
        else:
            await _serve_nudgebot(fake, db_url, config_path)


async def _serve_ptb(fake: Any) -> None:
    from starlette.applications import Starlette
    from telegram import Bot, Update
    from telegram.ext import ApplicationBuilder, TypeHandler

    from adapters.telegram.webhook import webhook_route

    application = ApplicationBuilder().token(fake.token).base_url(fake.base_url).updater(None)
    app = application.build()

    async def nothing(_update: Update, _context: Any) -> None:
        return None

    app.add_handler(TypeHandler(Update, nothing))

    class Receiver:
        bot: Bot = app.bot

        async def receive_json(self, data: dict[str, Any], _raw: bytes) -> None:
            await app.process_update(Update.de_json(data, app.bot))

        async def keep(self, _raw: bytes, _reason: str) -> None:
            return None

    async with app:
        await _serve(Starlette(routes=[webhook_route(Receiver(), SECRET)]))


async def _serve_nudgebot(fake: Any, db_url: str, config_path: str) -> None:
    from bot.app import Runtime
    from bot.config import load_config
    from bot.web.app import create_app
    from bot.wiring.core import CoreService
    from bot.wiring.telegram import TelegramSettings, assemble

    logging.getLogger("nudgebot.telegram").setLevel(logging.ERROR)  # no setWebhook: expected
    runtime = Runtime.from_config(load_config(config_path), db_url)
    settings = TelegramSettings(fake.token, SECRET, fake.base_url, "webhook", None)
    telegram = assemble(runtime, CoreService(runtime), settings)
    assert telegram.component.start is not None and telegram.component.stop is not None
    await telegram.component.start()
    try:
        await _serve(create_app(runtime, routes=telegram.component.routes))
    finally:
        await telegram.component.stop()
        await runtime.close()


# --- the run --------------------------------------------------------------------------------


class Server:
    def __init__(self, kind: str, db_url: str = "", config_path: str = "") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.telegram_bench", "--serve", kind, "--db-url", db_url,
             "--config", config_path],
            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1],
        )  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"{kind} server did not start: {line!r}")
        self.port = int(line.split()[1])

    def cpu(self) -> float:
        """CPU seconds (user + system, every thread) the server has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def stored_messages(db_url: str) -> int:
    from sqlalchemy import create_engine, text

    from storage.db import sync_url

    engine = create_engine(sync_url(db_url))
    with engine.connect() as conn:
        count = int(conn.execute(text("SELECT count(*) FROM messages")).scalar_one())
    engine.dispose()
    return count


@dataclass
class Result:
    kind: str
    throughput: Run
    latency: Run
    stored: int | None = None
    sent: int = 0  # 2xx answers, warm-up included: what should be stored
    warm_errors: int = 0


def measure(db_url: str, config_path: str, sizes: tuple[int, int, int], seconds: float,
            rounds: int) -> list[Result]:  # fmt: skip
    """The three servers side by side, taking turns in ``rounds`` slices per sender count,
    so the baselines are measured in the same minutes as Nudgebot on this database and a
    change in machine load hits all three alike."""
    warm, many, few = sizes
    servers: dict[str, Server] = {}
    try:
        for kind in KINDS:
            servers[kind] = Server(kind, db_url if kind == "nudgebot" else "", config_path)
        works = {kind: Workload() for kind in KINDS}
        warmed = {
            kind: asyncio.run(drive(servers[kind].port,
                                    [works[kind].request(servers[kind].port) for _ in range(warm)],
                                    32, 60))
            for kind in KINDS
        }  # fmt: skip
        phases: dict[int, dict[str, list[Run]]] = {}
        for senders, total in ((32, many), (16, few)):
            slices: dict[str, list[Run]] = {kind: [] for kind in KINDS}
            for _ in range(rounds):
                for kind in KINDS:
                    server = servers[kind]
                    requests = [works[kind].request(server.port) for _ in range(total // rounds)]
                    before = server.cpu()
                    pg = kind == "nudgebot" and db_url.startswith("postgresql")
                    db_before = postgres_cpu(db_url) if pg else 0.0
                    run = asyncio.run(drive(server.port, requests, senders, seconds / rounds))
                    run.cpu = server.cpu() - before
                    # (A backend that ended during the slice is missed: the pool keeps them.)
                    run.db_cpu = postgres_cpu(db_url) - db_before if pg else 0.0
                    slices[kind].append(run)
            phases[senders] = slices
    finally:
        for server in servers.values():
            server.close()
    results = []
    for kind in KINDS:
        result = Result(kind, merge(phases[32][kind]), merge(phases[16][kind]))
        result.warm_errors = warmed[kind].errors
        if kind == "nudgebot":
            result.stored = stored_messages(db_url)
            result.sent = warmed[kind].count + result.throughput.count + result.latency.count
        results.append(result)
    return results


def run(backends: list[str], quick: bool, rounds: int) -> list[tuple[str, list[Result]]]:
    sizes = (300, 3000, 1500) if quick else (500, 10000, 4000)
    seconds = 15.0 if quick else 30.0
    print(f"\n== Telegram webhook → stored: {sizes[1]:,} updates with 32 senders, "
          f"{sizes[2]:,} with 16 (after {sizes[0]} warm-up), uvicorn on 127.0.0.1; per "
          f"database the three servers take turns in {rounds} slices ==")  # fmt: skip
    out: list[tuple[str, list[Result]]] = []
    with tempfile.TemporaryDirectory(prefix="nudgebot_tgbench_") as folder:
        config_path = str(Path(folder) / "nudgebot.yaml")
        Path(config_path).write_text(config_yaml(), encoding="utf-8")
        for backend in backends:
            before = load()
            with fresh_database(backend) as url:
                rows = measure(url, config_path, sizes, seconds, rounds)
            print(f"  {backend}: done (load before {before}, after {load()})")
            out.append((backend, rows))
    return out


def report(results: list[tuple[str, list[Result]]]) -> None:
    table = Table(("db", "server", "32 senders (2xx)", "non-2xx", "CPU/update", "PG CPU/update",
                   "16 senders: latency",
                   "vs bare", "vs ptb", "stored", "targets"))  # fmt: skip
    for backend, rows in results:
        bare, ptb = rows[0], rows[1]
        for r in rows:
            ratio_bare = f"{r.throughput.rate / bare.throughput.rate:.2f}x"
            ratio_ptb = f"{r.throughput.rate / ptb.throughput.rate:.2f}x"
            stored = "" if r.stored is None else f"{r.stored:,}/{r.sent:,}"
            errors = r.throughput.errors + r.latency.errors + r.warm_errors
            verdicts = ""
            if r.kind == "nudgebot":
                # Only 2xx answers count as done, and a run with errors meets no target.
                ok_rate = r.throughput.rate >= TARGET_RATE and not errors
                ok_p99 = r.latency.latency.p(99) <= TARGET_P99 and not errors
                verdicts = (f">=1,000/s {'met' if ok_rate else 'NOT met'}; "
                            f"p99<=50ms {'met' if ok_p99 else 'NOT met'}")  # fmt: skip
            table.add(
                backend, r.kind,
                f"{r.throughput.rate:,.0f} req/s", f"{errors}",
                f"{r.throughput.cpu_ms:.2f} ms",
                f"{r.throughput.db_cpu_ms:.2f} ms" if r.throughput.db_cpu else "",
                r.latency.latency.describe(), ratio_bare,
                ratio_ptb, stored, verdicts,
            )  # fmt: skip
    print(table.render())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.telegram_bench",
                                     description=__doc__.splitlines()[0])  # fmt: skip
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved slices per figure")
    parser.add_argument("--serve", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--db-url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--config", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(serve(args.serve, args.db_url, args.config))
        return 0
    print(f"machine: {machine()}")
    wanted = list(BACKENDS) if args.db == "both" else [args.db]
    if "postgresql" in wanted and (why := pg_available()):
        print(f"PostgreSQL skipped: {why}")
        wanted.remove("postgresql")
    started = time.perf_counter()
    report(run(wanted, args.quick, max(1, args.rounds)))
    print(f"\ntotal {time.perf_counter() - started:.0f} s; load average now {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
