"""Fault injection: ``python -m bench.faults_bench`` (or ``python -m bench --only faults``).

1. kill -9 mid-delivery of 1,000 nudges — SQLite (one ``nudgebot run``, killed and started
   again at once) and PostgreSQL (three replicas, one killed, not restarted). Real
   processes deliver through the real Slack adapter to the fake Slack Web API
   (``tests.fakes.slack_api``, 1 message/s per channel, 100 recipients). Reported: lost
   (nudges never posted), duplicated (posted twice), the calls in flight at the kill (rows
   the killed process had claimed and the fake had already accepted: the only ones allowed
   to go twice), and seconds until the last of the killed process's claims went out —
   counted from the restart (SQLite, target ≤ 5 s) or from the kill (PostgreSQL, ≤ 15 s).
2. PostgreSQL restarted mid-ingest: four senders post signed webhooks as fast as they can
   and retry on 503, as real senders do; the server is stopped for 3 s and started again.
   Reported: acknowledged (2xx) vs stored messages (must be equal), 5xx answers by status
   (only 503 allowed), and seconds from the server's start until ``/readyz`` is 200.

PostgreSQL is a private server (``tests.faults.pgserver``), never the shared one.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from bench.common import load
from bench.slack_nudges import fake_slack
from storage.db import sync_url
from storage.migrate import upgrade
from tests.fakes.slack_api import BOT_TOKEN
from tests.faults.pgserver import PgServer, free_port, unavailable

NUDGES = 1000
PEOPLE = 100
SECRET = "bench-secret"
REPO = Path(__file__).resolve().parents[1]


def config_text() -> str:
    team = "\n".join(
        f"  p{i}: {{name: P{i}, slack: U0P{i:04d}, notify: slack}}" for i in range(PEOPLE)
    )
    sources = "\n".join(
        f"  s{i}: {{platform: webhook, secret: {SECRET}, owner: p{i}, policy: fast}}"
        for i in range(PEOPLE)
    )
    policies = "policies:\n  fast: {reply_within: 1s, remind_every: 1d}\n"
    return f"timezone: UTC\nteam:\n{team}\n  boss: {{name: Boss, owner: true}}\n{policies}" + (
        f"sources:\n{sources}\n"
    )


def seed(url: str) -> None:
    """1,000 conversations already past due, 10 per recipient, straight into the tables the
    way the webhook stores them (``nudgebot import`` of history would summarise them)."""
    import asyncio

    from bot.app import Runtime
    from bot.domain.events import Author, InboundMessage

    async def run() -> None:
        runtime = Runtime.build(os.environ["NUDGEBOT_CONFIG"], url)
        at = datetime.now(UTC) - timedelta(minutes=5)
        messages = [
            InboundMessage(
                source=f"s{i % PEOPLE}",
                platform="webhook",
                message_id=f"m{i}",
                thread=f"t{i}",
                channel="",
                at=at,
                author=Author(f"c{i}", "Dana"),
                is_team=False,
                text="Where is my order?",
            )
            for i in range(NUDGES)
        ]
        try:
            await runtime.inbox.ingest_batch(messages)
        finally:
            await runtime.close()

    asyncio.run(run())


class Replica:
    def __init__(self, env: dict[str, str], folder: Path, name: str) -> None:
        self.port = free_port()
        self.log = folder / f"{name}.log"
        with self.log.open("ab") as sink:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "run", "--port", str(self.port)],
                env=env, stdout=sink, stderr=subprocess.STDOUT, cwd=REPO,
            )  # fmt: skip

    def wait_up(self, deadline: float) -> float:
        """When ``/healthz`` first answered (the interpreter, imports, migrations done)."""
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return time.monotonic()
            time.sleep(0.05)
        return float("nan")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def posts(base: str) -> list[tuple[int, float]]:
    report = httpx.get(f"{base}/_control/posts", timeout=30).json()
    return [(p["metadata"]["event_payload"]["nudge_id"], p["at"])
            for p in report["posts"] if p["status"] == 200 and p["metadata"]]  # fmt: skip


def sending(url: str) -> set[int]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id FROM nudges WHERE state = 'sending'")).all()
    finally:
        engine.dispose()
    return {int(r[0]) for r in rows}


def kill_run(backend: str, url: str, folder: Path, replicas: int) -> dict[str, object]:
    config = folder / "nudgebot.yaml"
    config.write_text(config_text())
    os.environ["NUDGEBOT_CONFIG"] = str(config)
    upgrade(url)
    with fake_slack(1.0) as base:
        env = {**os.environ, "DATABASE_URL": url, "NUDGEBOT_CONFIG": str(config),
               "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": "bench-signing",
               "SLACK_API_URL": f"{base}/api/", "NUDGEBOT_LOG_LEVEL": "WARNING"}  # fmt: skip
        for key in ("NUDGEBOT_MESSENGER", "TELEGRAM_BOT_TOKEN", "SLACK_APP_TOKEN"):
            env.pop(key, None)
        seed(url)
        procs = [Replica(env, folder, f"{backend}-{n}") for n in range(replicas)]
        try:
            deadline = time.monotonic() + 60
            while len(posts(base)) < 300 and time.monotonic() < deadline:
                time.sleep(0.05)
            procs[0].kill()
            killed_at = time.monotonic()
            orphans = sending(url)  # claimed by the dead process (only it was sending)
            if backend == "postgresql":
                orphans -= _held_by_survivors(url, orphans)
            before = {nid for nid, at in posts(base) if at <= killed_at}
            restart_at = up_at = killed_at
            if backend == "sqlite":
                restart_at = time.monotonic()
                procs.append(Replica(env, folder, f"{backend}-restarted"))
                up_at = procs[-1].wait_up(restart_at + 120)
            deadline = time.monotonic() + 120
            while len({n for n, _ in posts(base)}) < NUDGES and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(2)  # strays
            final = posts(base)
            report = httpx.get(f"{base}/_control/posts", timeout=30).json()["posts"]
            limited = [p for p in report if p["status"] != 200 and p["at"] > killed_at]
            first_post = min((p["at"] for p in report if p["at"] > killed_at), default=0.0)
        finally:
            for p in procs:
                p.stop()
    ids = Counter(n for n, _ in final)
    first_after = {}
    for nid, at in final:
        if nid in orphans and at > killed_at:
            first_after.setdefault(nid, at)
    recovered = max(first_after.values(), default=restart_at) - restart_at
    return {
        "backend": backend, "replicas": replicas, "lost": NUDGES - len(ids),
        "duplicated": sum(c - 1 for c in ids.values()),
        "in_flight": len(orphans & before), "orphaned": len(orphans),
        "recovered_s": recovered, "unsent_orphans": len(orphans - set(first_after)),
        "refused_after_kill": len(limited), "first_post_s": first_post - restart_at,
        "up_s": up_at - restart_at, "recovered_after_up_s": recovered - (up_at - restart_at),
    }  # fmt: skip


def _held_by_survivors(url: str, ids: set[int]) -> set[int]:
    """Which of the rows 'sending' at the kill the survivors held: a survivor's row changes
    before its lease ends (finished, retried, or renewed); the dead replica's stays exactly
    as it was until its lease runs out (then a survivor takes it over at once). Watched every
    0.1 s until every row is decided (at most one lease)."""
    engine = create_engine(sync_url(url))
    query = text("SELECT id, state, attempts, lease_until FROM nudges WHERE id = ANY(:ids)")
    survivors: set[int] = set()
    try:
        with engine.connect() as conn:
            first = {r[0]: tuple(r[1:]) for r in conn.execute(query, {"ids": list(ids)})}
            undecided = set(first)
            while undecided:
                now = conn.execute(text("SELECT now() AT TIME ZONE 'UTC'")).scalar_one()
                rows = {r[0]: tuple(r[1:]) for r in conn.execute(query, {"ids": list(undecided)})}
                for nid in list(undecided):
                    lapsed = first[nid][2] is None or first[nid][2] <= now
                    if rows.get(nid) != first[nid] and not lapsed:
                        survivors.add(nid)  # finished, retried or renewed within its lease
                        undecided.discard(nid)
                    elif lapsed:
                        undecided.discard(nid)  # untouched until its lease ran out: the dead's
                conn.rollback()
                time.sleep(0.1)
    finally:
        engine.dispose()
    return survivors


def ingest_under_restart(pg: PgServer, folder: Path) -> dict[str, object]:
    url = pg.database("ingest")
    config = folder / "ingest.yaml"
    config.write_text(f"timezone: UTC\nteam:\n  a: {{name: A, owner: true}}\nsources:\n"
                      f"  site: {{platform: webhook, secret: {SECRET}, owner: a}}\n")  # fmt: skip
    env = {**os.environ, "DATABASE_URL": url, "NUDGEBOT_CONFIG": str(config),
           "NUDGEBOT_LOG_LEVEL": "WARNING"}  # fmt: skip
    for key in ("SLACK_BOT_TOKEN", "TELEGRAM_BOT_TOKEN", "NUDGEBOT_MESSENGER"):
        env.pop(key, None)
    server = Replica(env, folder, "ingest")
    base = f"http://127.0.0.1:{server.port}"
    acked: set[str] = set()
    statuses: Counter[int] = Counter()
    stop = threading.Event()
    lock = threading.Lock()

    def sender(k: int) -> None:
        n = 0
        with httpx.Client(base_url=base, timeout=10) as client:
            while not stop.is_set():
                mid = f"w{k}-{n}"
                at = datetime.now(UTC).isoformat()
                payload = json.dumps({"thread": mid, "id": mid, "at": at, "team": False,
                                      "author": {"id": "c"}, "text": "hi"}).encode()  # fmt: skip
                sig = "sha256=" + hmac.new(SECRET.encode(), payload, hashlib.sha256).hexdigest()
                try:
                    r = client.post("/hooks/site", content=payload,
                                    headers={"X-Nudgebot-Signature": sig})  # fmt: skip
                except httpx.HTTPError:
                    time.sleep(0.1)
                    continue
                with lock:
                    statuses[r.status_code] += 1
                    if r.status_code < 300:
                        acked.add(mid)
                if r.status_code < 300:
                    n += 1  # else the same message again, as a sender retries
                else:
                    time.sleep(0.2)

    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        threads = [threading.Thread(target=sender, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        time.sleep(3)
        pg.stop()
        time.sleep(3)
        pg.start()
        started = time.monotonic()
        ready_s = float("nan")
        while time.monotonic() - started < 60:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    ready_s = time.monotonic() - started
                    break
            time.sleep(0.05)
        time.sleep(3)
        stop.set()
        for t in threads:
            t.join()
    finally:
        server.stop()
    engine = create_engine(sync_url(url))
    with engine.connect() as conn:
        stored = {r[0] for r in conn.execute(text("SELECT message_id FROM messages")).all()}
    engine.dispose()
    return {"acked": len(acked), "stored": len(stored), "acked_not_stored": len(acked - stored),
            "statuses": dict(statuses), "ready_s": ready_s}  # fmt: skip


def run(*, sqlite: bool = True, postgresql: bool = True) -> None:
    import tempfile

    started = time.monotonic()
    print(f"\nfault injection; load average before: {load()}")
    with tempfile.TemporaryDirectory(prefix="nudgebot_faults_") as tmp:
        folder = Path(tmp)
        if sqlite:
            print_kill(kill_run("sqlite", f"sqlite:///{folder / 'bench.db'}", folder, 1), 5.0)
        if postgresql and (why := unavailable()) is not None:
            print(f"PostgreSQL skipped: {why}")
        elif postgresql:
            with PgServer.create() as pg:
                print_kill(kill_run("postgresql", pg.database("kill"), folder, 3), 15.0)
                print_ingest(ingest_under_restart(pg, folder))
    print(f"\nload average after: {load()}; faults took {time.monotonic() - started:.0f} s")


def print_ingest(r: dict[str, object]) -> None:
    statuses = r["statuses"]
    assert isinstance(statuses, dict)
    fives = {s: c for s, c in statuses.items() if int(s) >= 500}
    print(
        "\n== PostgreSQL stopped 3 s and started again mid-ingest (4 senders, retry on 503) ==\n"
        f"acknowledged {r['acked']}, stored {r['stored']}, acknowledged but not stored "
        f"{r['acked_not_stored']}; 5xx answers {fives or 'none'} (only 503 allowed); "
        f"ready again {r['ready_s']:.2f} s after the server started; all answers {statuses}"
    )


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.faults_bench")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args(argv)
    run(sqlite=args.db in ("sqlite", "both"), postgresql=args.db in ("postgresql", "both"))
    return 0


def print_kill(r: dict[str, object], target: float) -> None:
    since = "restart" if r["backend"] == "sqlite" else "kill"
    print(
        f"\n== kill -9 mid-delivery of {NUDGES} nudges, {r['backend']}, "
        f"{r['replicas']} replica(s) ==\n"
        f"lost {r['lost']}, duplicated {r['duplicated']} (calls in flight at the kill: "
        f"{r['in_flight']}); claims orphaned {r['orphaned']}, all out {r['recovered_s']:.2f} s "
        f"after the {since} (target <= {target:g} s); orphans never sent: {r['unsent_orphans']}; "
        f"first post {r['first_post_s']:.2f} s after the {since}; "
        + (
            f"process up (/healthz) {r['up_s']:.2f} s after the restart, orphans all out "
            f"{r['recovered_after_up_s']:.2f} s after that; "
            if since == "restart"
            else ""
        )
        + f"posts refused (429) after the kill: {r['refused_after_kill']}"
    )


if __name__ == "__main__":
    sys.exit(main())
