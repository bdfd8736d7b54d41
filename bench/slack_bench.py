"""Slack benchmarks: signed events → stored, and nudges against Slack's per-channel limit.

``python -m bench.slack_bench [--seconds 10] [--rounds 5] [--db sqlite|postgresql]
[--nudges 2000] [--people 20] [--scale 2] [--only ingest|nudges]``

1. **Ingest.** Signed ``message`` events (80 % new customer messages in 8 watched channels,
   20 % team replies in their threads) through uvicorn on 127.0.0.1, from an aiohttp load
   generator in this process, against three servers in their own processes side by side in
   the same run (``bench.slack_serve``): a bare Starlette endpoint, a Bolt app whose listener
   does nothing, and Nudgebot, which acknowledges each event after storing it. 32 concurrent
   senders for throughput, then 16 for the ack latency. "CPU/req" is each server process's
   CPU time per request (from /proc: unlike req/s it barely depends on what else the machine
   runs); "PG CPU/req" the benchmark database's PostgreSQL backends' — their sum says how
   many cores a rate needs.
2. **Nudges.** ``bench.slack_nudges``: N nudges to P people through the real engine and
   messenger, against the fake Web API enforcing one message per second per channel.

Nothing asserts: every figure is printed next to its target and a verdict.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench import slack_nudges
from bench.common import (
    Latency,
    Table,
    fresh_database,
    load,
    machine,
    pg_available,
    pg_connect,
    postgres_cpu,
    proc_cpu,
    sqlite_connect,
    verdict,
)
from bench.slack_serve import SECRET

KINDS = ("bare", "bolt", "nudgebot")
CHANNELS = [f"C0BENCH{n:02d}" for n in range(8)]
TARGET_RATE, TARGET_RATIO, TARGET_P99 = 1000.0, 0.8, 0.050  # issue 17
CONFIG = f"""\
team:
  alice: {{name: Alice, slack: U0ALICE01}}
policies:
  standard: {{reply_within: 15m}}
sources:
  community:
    platform: slack
    channels: [{", ".join(CHANNELS)}]
    owner: alice
    policy: standard
    customers: everyone-else
"""


def bodies(count: int, offset: int) -> list[bytes]:
    """Slack ``event_callback`` bodies with unique ts and event ids (events of the last day)."""
    base = int(time.time()) - 86_400 + offset
    out = []
    for i in range(count):
        channel = CHANNELS[(i // 5) % len(CHANNELS)]  # groups of five events per channel
        ts = f"{base + i}.{i % 1_000_000:06d}"
        event = {
            "type": "message",
            "channel": channel,
            "ts": ts,
            "event_ts": ts,
            "user": f"U0C{i % 997:05d}",
            "text": f"Where is my order {i}? It was due.",
            "team": "T0ACME001",
            "channel_type": "channel",
        }
        if i % 5 == 4:  # a team reply in the thread of the group's first customer message
            event.update(
                user="U0ALICE01",
                text="On its way!",
                thread_ts=f"{base + i - 4}.{(i - 4) % 1_000_000:06d}",
            )
        out.append(
            json.dumps(
                {
                    "token": "x",
                    "team_id": "T0ACME001",
                    "api_app_id": "A0NUDGE01",
                    "event": event,
                    "type": "event_callback",
                    "event_id": f"Ev{offset + i:010d}",
                    "event_time": base + i,
                }
            ).encode()
        )
    return out


def signed(body: bytes, stamp: int) -> dict[str, str]:
    base = b"v0:" + str(stamp).encode() + b":" + body
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": str(stamp),
        "X-Slack-Signature": "v0=" + hmac.new(SECRET.encode(), base, hashlib.sha256).hexdigest(),
    }


@dataclass
class Run:
    ok: int
    failed: int
    seconds: float
    latency: Latency
    cpu: float = 0.0  # the server process's CPU seconds during the run
    db_cpu: float = 0.0  # the benchmark database's PostgreSQL backends' (PostgreSQL only)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds

    def per_request_ms(self, seconds: float) -> float:
        return seconds / max(1, self.ok + self.failed) * 1000


async def hammer(port: int, payloads: list[bytes], senders: int, seconds: float) -> Run:
    url = f"http://127.0.0.1:{port}/slack/events"
    stamp = int(time.time())
    queue: Iterator[bytes] = iter(payloads)
    samples: list[float] = []
    failed = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=senders)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def sender() -> None:
            nonlocal failed
            for body in queue:
                if time.perf_counter() > deadline:
                    return
                started = time.perf_counter()
                async with session.post(url, data=body, headers=signed(body, stamp)) as r:
                    await r.read()
                    if not 200 <= r.status < 300:  # only a 2xx is an acknowledged event
                        failed += 1
                        continue
                samples.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(senders)))
        elapsed = time.perf_counter() - began
    return Run(len(samples), failed, elapsed, Latency(samples or [0.0]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Server:
    port: int
    pid: int


@contextlib.contextmanager
def server(kind: str, db_url: str, config: Path) -> Iterator[Server]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.slack_serve", kind, str(port), db_url, str(config)],
        cwd=Path(__file__).resolve().parents[1],
        stdin=subprocess.PIPE,
    )
    try:
        for _ in range(600):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if proc.poll() is not None:
                raise RuntimeError(f"{kind} server exited with {proc.returncode}")
            time.sleep(0.05)
        else:
            raise RuntimeError(f"{kind} server did not listen on {port} within 30 s")
        yield Server(port, proc.pid)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # asks it to stop and print its figures
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stored(backend: str, url: str) -> int:
    conn = sqlite_connect(url) if backend == "sqlite" else pg_connect(url)
    with contextlib.closing(conn):
        row = conn.execute("SELECT count(*) FROM messages").fetchone()
    return int(row[0]) if row else 0


def measured(kind: str, where: Server, payloads: list[bytes], senders: int, seconds: float,
             db_url: str | None) -> Run:  # fmt: skip
    """One slice against one server, with the CPU it and (``db_url``) PostgreSQL spent."""
    cpu, db = proc_cpu(where.pid), postgres_cpu(db_url) if db_url else 0.0
    run = asyncio.run(hammer(where.port, payloads, senders, seconds))
    run.cpu = proc_cpu(where.pid) - cpu
    run.db_cpu = postgres_cpu(db_url) - db if db_url else 0.0
    return run


def merge(runs: list[Run]) -> Run:
    samples = [x for r in runs for x in r.latency.samples]
    return Run(
        sum(r.ok for r in runs),
        sum(r.failed for r in runs),
        sum(r.seconds for r in runs),
        Latency(samples or [0.0]),
        sum(r.cpu for r in runs),
        sum(r.db_cpu for r in runs),
    )


def bench_ingest(backend: str, seconds: float, rounds: int) -> None:
    """Each figure sums ``rounds`` slices of ``seconds / rounds``, the three servers taking
    turns, so that a change in machine load hits all three alike."""
    print(
        f"\n== Slack ingest: signed message events → 200 (Nudgebot: → stored), {backend}; "
        f"{seconds:g} s per server and sender count, in {rounds} interleaved slices =="
    )
    slice_s = seconds / rounds
    cap = int(slice_s * 5000)  # more bodies than any server answers in a slice
    results: dict[tuple[str, int], Run] = {}
    offset = 0
    with (
        tempfile.TemporaryDirectory(prefix="nudgebot_slack_") as folder,
        fresh_database(backend) as db_url,
    ):
        config = Path(folder) / "nudgebot.yaml"
        config.write_text(CONFIG, encoding="utf-8")
        with contextlib.ExitStack() as stack:
            servers = {k: stack.enter_context(server(k, db_url, config)) for k in KINDS}
            for kind in KINDS:  # warm-up: connections, auth.test, caches
                asyncio.run(hammer(servers[kind].port, bodies(300, offset), 32, 30))
                offset += 300
            before = stored(backend, db_url)
            for senders in (32, 16):
                slices: dict[str, list[Run]] = {k: [] for k in KINDS}
                for _ in range(rounds):
                    for kind in KINDS:
                        pg = db_url if backend == "postgresql" and kind == "nudgebot" else None
                        run = measured(kind, servers[kind], bodies(cap, offset), senders,
                                       slice_s, pg)  # fmt: skip
                        offset += cap
                        slices[kind].append(run)
                for kind in KINDS:
                    run = results[(kind, senders)] = merge(slices[kind])
                    print(
                        f"  {kind:9} {senders} senders: {run.ok:,} ok, {run.failed} failed "
                        f"in {run.seconds:.2f} s (load {load()})"
                    )
            kept = stored(backend, db_url) - before
    ours = results[("nudgebot", 32)]
    acked = ours.ok + results[("nudgebot", 16)].ok
    table = Table(("server", "32 senders", "16 senders: ack latency", "x bare", "x no-op Bolt",
                   "CPU/req", "PG CPU/req"))  # fmt: skip
    for kind in KINDS:
        r32, r16 = results[(kind, 32)], results[(kind, 16)]
        table.add(
            kind,
            f"{r32.rate:,.0f} req/s",
            r16.latency.describe(),
            f"{r32.rate / results[('bare', 32)].rate:.2f}",
            f"{r32.rate / results[('bolt', 32)].rate:.2f}",
            f"{r32.per_request_ms(r32.cpu):.2f} ms",
            f"{r32.per_request_ms(r32.db_cpu):.2f} ms" if r32.db_cpu else "",
        )
    print(table.render())
    ratio = ours.rate / results[("bolt", 32)].rate
    p99 = results[("nudgebot", 16)].latency.p(99)
    print(
        f"  stored {kept:,} of {acked:,} acknowledged events "
        f"({'all' if kept == acked else 'MISMATCH'})"
    )
    failed = sum(r.failed for (kind, _), r in results.items() if kind == "nudgebot")
    print(f"  Nudgebot non-2xx answers: {failed} (any fails every target below)")
    needed = ours.per_request_ms(ours.cpu + ours.db_cpu) * TARGET_RATE / 1000
    print(
        f"  CPU per stored event (server + PostgreSQL): "
        f"{ours.per_request_ms(ours.cpu + ours.db_cpu):.2f} ms: {TARGET_RATE:,.0f}/s would need "
        f"{needed:.2f} cores for the server and database alone ({os.cpu_count()} here)"
    )
    print(
        f"  stored events/s (32 senders): {ours.rate:,.0f} — target >= {TARGET_RATE:,.0f}: "
        f"{verdict(ours.rate >= TARGET_RATE and not failed)}"
    )
    print(
        f"  vs no-op Bolt: {ratio:.2f} — target >= {TARGET_RATIO}: "
        f"{verdict(ratio >= TARGET_RATIO and not failed)}"
    )
    print(
        f"  p99 ack (16 senders): {p99 * 1000:.1f} ms — target <= {TARGET_P99 * 1000:.0f} ms: "
        f"{verdict(p99 <= TARGET_P99 and not failed)}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.slack_bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--only", choices=("ingest", "nudges"))
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seconds", type=float, default=10.0, help="per server and sender count")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved slices per figure")
    parser.add_argument("--nudges", type=int, default=2000)
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument(
        "--scale",
        type=float,
        default=2.0,
        help="time scale of the nudge run: 2 = Slack's 1 s per channel as 0.5 s",
    )
    args = parser.parse_args(argv)
    if args.db == "postgresql" and (why := pg_available()):
        print(f"PostgreSQL unavailable: {why}")
        return 1
    print(machine())
    os.environ.setdefault("PYTHONHASHSEED", "0")
    if args.only in (None, "ingest"):
        bench_ingest(args.db, args.seconds, args.rounds)
    if args.only in (None, "nudges"):
        slack_nudges.report(args.db, args.nudges, args.people, args.scale)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
