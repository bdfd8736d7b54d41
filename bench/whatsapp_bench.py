"""``python -m bench.whatsapp_bench [--db sqlite|postgresql|both] [--quick]`` (also
``python -m bench --only whatsapp``)

Signed WhatsApp webhook notifications → stored, through uvicorn on 127.0.0.1, side by side
in one run with two baselines behind the same uvicorn settings:

- ``bare``: a Starlette endpoint that reads the body and answers ``{"ok": true}``;
- ``verify``: the production routes (size limit, ``X-Hub-Signature-256`` HMAC, full parse)
  into a sink that stores nothing;
- ``nudgebot``: the real app (``create_app`` with the WhatsApp component): ingest, recompute
  with the 24-hour window, the nudge engine's planning hook, on SQLite or PostgreSQL.

Every request is a distinct notification shaped like Meta's documented text-message example,
from one of 400 customers, platform time advancing 100 ms per message, signed with the app
secret. The load generator, CPU accounting and server processes are those of
``bench.telegram_bench``. After the run the stored rows are counted. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import BACKENDS, Table, fresh_database, load, machine, pg_available
from bench.telegram_bench import Run, _serve, drive, stored_messages

APP_SECRET = "bench-app-secret-0123456789"
VERIFY = "bench-verify"
TOKEN = "bench-token"
NUMBER = "106540352242922"
PATH = "/whatsapp/webhook"
CUSTOMERS = 400
START = 1_764_576_000  # 2025-12-01T08:00:00Z
KINDS = ("bare", "verify", "nudgebot")


def config_yaml() -> str:
    return (
        "timezone: UTC\nteam:\n  alice:\n    name: Alice\n    slack: U0ALICE01\n    owner: true\n"
        "policies:\n  standard:\n    reply_within: 15m\nsources:\n  wa:\n    platform: whatsapp\n"
        f'    phone_number_id: "{NUMBER}"\n    owner: alice\n    policy: standard\n'
    )


@dataclass
class Workload:
    seed: int = 11
    sent: int = 0
    customers: int = CUSTOMERS

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def notification(self) -> dict[str, Any]:
        wa_id = str(4915100000000 + self.rng.randrange(self.customers))
        self.sent += 1
        text = "Hi, my order still hasn't arrived, could you check? " * self.rng.randint(1, 3)
        message = {"from": wa_id, "id": f"wamid.BENCH{self.sent:012d}",
                   "timestamp": str(START + self.sent // 10), "type": "text",
                   "text": {"body": text}}  # fmt: skip
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER},
            "contacts": [{"profile": {"name": f"Customer {wa_id[-3:]}"}, "wa_id": wa_id}],
            "messages": [message],
        }
        return {"object": "whatsapp_business_account",
                "entry": [{"id": "102290129340398",
                           "changes": [{"value": value, "field": "messages"}]}]}  # fmt: skip

    def request(self, port: int) -> bytes:
        from adapters.whatsapp.verify import sign

        body = json.dumps(self.notification(), separators=(",", ":")).encode()
        head = (
            f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"X-Hub-Signature-256: {sign(APP_SECRET, body)}\r\n\r\n"
        )
        return head.encode() + body


# --- servers (each in its own process) ------------------------------------------------------


def _bare_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def endpoint(request: Request) -> Response:
        await request.body()
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route(PATH, endpoint, methods=["POST"])])


class _NullSink:
    def source_of(self, phone_number_id: str) -> str | None:
        return "wa" if phone_number_id == NUMBER else None

    async def store(self, messages: Sequence[Any]) -> None:
        return None

    async def statuses(self, request: Any, statuses: Sequence[Any]) -> None:
        return None


async def serve(kind: str, db_url: str, config_path: str) -> None:
    from starlette.applications import Starlette

    from adapters.whatsapp.webhook import webhook_routes

    if kind == "bare":
        await _serve(_bare_app())
        return
    if kind == "verify":
        await _serve(Starlette(routes=webhook_routes(_NullSink(), APP_SECRET, VERIFY)))
        return
    from bot.app import Runtime
    from bot.config import load_config
    from bot.web.app import create_app
    from bot.wiring.core import CoreService
    from bot.wiring.whatsapp import WhatsAppSettings, assemble

    runtime = Runtime.from_config(load_config(config_path), db_url)
    settings = WhatsAppSettings(TOKEN, APP_SECRET, VERIFY, "http://127.0.0.1:9/v21.0")
    wa = assemble(runtime, CoreService(runtime), settings)
    assert wa.component.start is not None and wa.component.stop is not None
    await wa.component.start()
    try:
        await _serve(create_app(runtime, routes=wa.component.routes))
    finally:
        await wa.component.stop()
        await runtime.close()


class Server:
    def __init__(self, kind: str, db_url: str = "", config_path: str = "") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.whatsapp_bench", "--serve", kind, "--db-url", db_url,
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
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@dataclass
class Result:
    kind: str
    throughput: Run
    latency: Run
    stored: int | None = None
    sent: int = 0


def measure(kind: str, db_url: str, config_path: str, sizes: tuple[int, int, int],
            seconds: float, customers: int = CUSTOMERS) -> Result:  # fmt: skip
    warm, many, few = sizes
    server = Server(kind, db_url, config_path)
    work = Workload(customers=customers)
    try:
        asyncio.run(drive(server.port, [work.request(server.port) for _ in range(warm)], 32, 60))
        requests = [work.request(server.port) for _ in range(many)]
        before = server.cpu()
        throughput = asyncio.run(drive(server.port, requests, 32, seconds))
        throughput.cpu = server.cpu() - before
        requests = [work.request(server.port) for _ in range(few)]
        before = server.cpu()
        latency = asyncio.run(drive(server.port, requests, 16, seconds))
        latency.cpu = server.cpu() - before
    finally:
        server.close()
    result = Result(kind, throughput, latency)
    if kind == "nudgebot":
        result.stored = stored_messages(db_url)
        result.sent = warm + throughput.count + latency.count
    return result


def run(
    backends: list[str], quick: bool, customers: int = CUSTOMERS
) -> list[tuple[str, list[Result]]]:
    sizes = (300, 3000, 1500) if quick else (500, 10000, 4000)
    seconds = 15.0 if quick else 30.0
    print(f"\n== WhatsApp signed webhooks → stored: {sizes[1]:,} notifications with 32 "
          f"senders, {sizes[2]:,} with 16 (after {sizes[0]} warm-up), {customers:,} customers, "
          f"uvicorn on 127.0.0.1 ==")  # fmt: skip
    out: list[tuple[str, list[Result]]] = []
    with tempfile.TemporaryDirectory(prefix="nudgebot_wabench_") as folder:
        config_path = str(Path(folder) / "nudgebot.yaml")
        Path(config_path).write_text(config_yaml(), encoding="utf-8")
        before = load()
        baselines = [measure(k, "", config_path, sizes, seconds, customers)
                     for k in ("bare", "verify")]  # fmt: skip
        print(f"  baselines: done (load before {before}, after {load()})")
        for backend in backends:
            before = load()
            with fresh_database(backend) as url:
                full = measure("nudgebot", url, config_path, sizes, seconds, customers)
            print(f"  {backend}: done (load before {before}, after {load()})")
            out.append((backend, [*baselines, full]))
    return out


def report(results: list[tuple[str, list[Result]]]) -> None:
    table = Table(("db", "server", "32 senders", "CPU/notification", "16 senders: latency",
                   "vs bare", "stored"))  # fmt: skip
    for backend, rows in results:
        bare = rows[0]
        for r in rows:
            errors = r.throughput.errors + r.latency.errors
            table.add(
                backend, r.kind,
                f"{r.throughput.rate:,.0f} req/s" + (f" ({errors} non-200)" if errors else ""),
                f"{r.throughput.cpu_ms:.2f} ms", r.latency.latency.describe(),
                f"{r.throughput.rate / bare.throughput.rate:.2f}x",
                "" if r.stored is None else f"{r.stored:,}/{r.sent:,}",
            )  # fmt: skip
    print(table.render())


def backends_for(choice: str) -> list[str]:
    wanted = list(BACKENDS) if choice == "both" else [choice]
    if "postgresql" in wanted and (why := pg_available()):
        print(f"PostgreSQL skipped: {why}")
        wanted.remove("postgresql")
    return wanted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.whatsapp_bench",
                                     description=__doc__.splitlines()[0])  # fmt: skip
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--customers", type=int, default=CUSTOMERS,
                        help=f"distinct senders (default {CUSTOMERS})")  # fmt: skip
    parser.add_argument("--serve", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--db-url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--config", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(serve(args.serve, args.db_url, args.config))
        return 0
    print(f"machine: {machine()}")
    started = time.perf_counter()
    report(run(backends_for(args.db), args.quick, max(1, args.customers)))
    print(f"\ntotal {time.perf_counter() - started:.0f} s; load average now {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
