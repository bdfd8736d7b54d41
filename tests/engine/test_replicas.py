"""Three `nudgebot run` replicas on one PostgreSQL, 10,000 conversations coming due: every
first nudge goes out exactly once — no duplicates, none missed.

Real processes: the replicas are the console script's `run` (HTTP, scheduler, engine), the
conversations arrive through `nudgebot import`, and each replica records what it sends with
``NUDGEBOT_MESSENGER=record:<file>`` (JSON lines), since nothing is shared but the database.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from storage.db import sync_url
from tests.conftest import BACKEND

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        BACKEND != "postgresql",
        reason="replicas share one PostgreSQL (FOR UPDATE SKIP LOCKED); SQLite is one "
        "process's database — run with NUDGEBOT_TEST_DB=postgresql",
    ),
]

CONVERSATIONS = 10_000
REPLICAS = 3
REPLY_WITHIN = 30  # seconds
CONFIG = """\
timezone: UTC
team:
  alice:
    name: Alice
    slack: U0ALICE01
    owner: true
policies:
  fast:
    reply_within: {reply_within}s
sources:
  bulk:
    platform: webhook
    secret: not-used-here
    owner: alice
    policy: fast
nudges: {nudges}
"""
# The first test counts single nudges: batching off. The second keeps the defaults' window.
UNBATCHED = "{batch_after: 1000000, batch_window: 520w, max_messages_per_hour: 1000000}"
BATCHED = "{batch_after: 3, batch_window: 2m, max_messages_per_hour: 12}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nudgebot(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot", *args]


def wait_healthy(port: int, proc: subprocess.Popen[bytes], log: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"replica on :{port} exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"replica on :{port} did not come up:\n{log.read_text()[-3000:]}")


def records(folder: Path) -> list[dict[str, object]]:
    out = []
    for path in sorted(folder.glob("replica-*.jsonl")):
        with path.open() as handle:
            out.extend(json.loads(line) for line in handle if line.strip())
    return out


def due_lines(count: int, first_due: datetime, spread: float) -> str:
    lines = []
    for i in range(count):
        due = first_due + timedelta(seconds=spread * i / count)
        at = due - timedelta(seconds=REPLY_WITHIN)
        lines.append(json.dumps({
            "thread": f"c{i}", "id": f"m{i}", "at": at.isoformat(), "team": False,
            "author": {"id": f"cust-{i}", "name": "Dana"}, "text": "Where is my order?",
        }))  # fmt: skip
    return "\n".join(lines) + "\n"


def run_replicas(
    db_url: str, tmp_path: Path, nudges: str, count: int, spread: float, expect: int
) -> list[dict[str, object]]:
    """Start the replicas, import ``count`` conversations (``--nudge``) falling due over
    ``spread`` seconds from 10 s on, wait for ``expect`` records (then a little longer for
    strays), stop the replicas; every record they made."""
    config = tmp_path / "nudgebot.yaml"
    config.write_text(CONFIG.format(reply_within=REPLY_WITHIN, nudges=nudges))
    env = {**os.environ, "DATABASE_URL": db_url, "NUDGEBOT_CONFIG": str(config),
           "NUDGEBOT_TICK_SECONDS": "1", "NUDGEBOT_LOG_LEVEL": "WARNING"}  # fmt: skip
    procs: list[tuple[subprocess.Popen[bytes], int, Path]] = []
    try:
        for n in range(REPLICAS):
            port, log = free_port(), tmp_path / f"replica-{n}.log"
            replica_env = {**env, "NUDGEBOT_MESSENGER": f"record:{tmp_path}/replica-{n}.jsonl"}
            with log.open("wb") as sink:
                proc = subprocess.Popen(nudgebot("run", "--port", str(port)), env=replica_env,
                                        stdout=sink, stderr=subprocess.STDOUT)  # fmt: skip
            procs.append((proc, port, log))
        deadline = time.monotonic() + 60
        for proc, port, log in procs:
            wait_healthy(port, proc, log, deadline)

        data = tmp_path / "due.jsonl"
        data.write_text(due_lines(count, datetime.now(UTC) + timedelta(seconds=10), spread))
        all_due = time.monotonic() + 10 + spread
        # The import runs while the replicas deliver: the first conversations come due
        # before the last are stored, so ingest, planners and deliverers all overlap.
        # --nudge: imported conversations are nudged like live ones (not kept as history).
        imported = subprocess.run(nudgebot("import", str(data), "--source", "bulk", "--nudge"),
                                  env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert imported.returncode == 0, imported.stderr

        # Wait until everything is out (or time runs out), then a little longer for strays.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and (
            len(records(tmp_path)) < expect or time.monotonic() < all_due
        ):
            time.sleep(0.5)
        time.sleep(3)
        return records(tmp_path)
    finally:
        for proc, _port, _log in procs:
            proc.terminate()
        for proc, _port, _log in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def nudge_states(db_url: str) -> dict[str, int]:
    engine = create_engine(sync_url(db_url))
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT state, count(*) FROM nudges GROUP BY state")).all()
    engine.dispose()
    return {str(state): int(n) for state, n in rows}


def test_three_replicas_send_each_nudge_exactly_once(db_url: str, tmp_path: Path) -> None:
    got = run_replicas(db_url, tmp_path, UNBATCHED, CONVERSATIONS, 20, CONVERSATIONS)
    sent = [r for r in got if r["kind"] == "nudge"]

    per_conversation = Counter(r["conversation"] for r in sent)
    duplicates = {c: n for c, n in per_conversation.items() if n > 1}
    assert duplicates == {}, f"{len(duplicates)} conversations nudged more than once"
    assert len(per_conversation) == CONVERSATIONS, (
        f"missed {CONVERSATIONS - len(per_conversation)} conversations"
    )
    assert {r["step"] for r in sent} == {"first"}
    by_replica = Counter(r["pid"] for r in sent)
    lateness = sorted(
        float(str(r["wall"])) - datetime.fromisoformat(str(r["due"])).timestamp() for r in sent
    )
    assert lateness[0] >= 0, "a nudge went out before its due time"
    assert nudge_states(db_url) == {"sent": CONVERSATIONS}
    print(
        f"\n{CONVERSATIONS} nudges by {len(by_replica)} replicas {sorted(by_replica.values())}; "
        f"lateness p50 {lateness[len(lateness) // 2]:.3f}s "
        f"p99 {lateness[int(len(lateness) * 0.99)]:.3f}s max {lateness[-1]:.3f}s"
    )


BURST = 3000


def test_three_replicas_batch_a_burst_into_one_summary_sent_once(
    db_url: str, tmp_path: Path
) -> None:
    """3,000 conversations for Alice falling due within 20 s, three replicas claiming them
    in parallel: a handful alone at most, then one summary message — posted once, by one
    replica — that the rest update in place; every nudge either sent once or in it."""
    got = run_replicas(db_url, tmp_path, BATCHED, BURST, 20, 2)
    alone = [r for r in got if r["kind"] == "nudge"]
    posts = [r for r in got if r["kind"] == "summary"]
    edits = [r for r in got if r["kind"] == "summary-update"]
    assert len(posts) == 1, posts
    assert len(alone) <= 3, f"{len(alone)} nudges sent alone"
    assert len(alone) + len(posts) <= 4
    assert Counter(r["conversation"] for r in alone).most_common(1)[0][1] == 1 if alone else True
    states = nudge_states(db_url)
    assert states.get("sent", 0) == len(alone)
    assert states.get("sent", 0) + states.get("batched", 0) == BURST, states
    # The summary as last shown counts every conversation still waiting: all of them.
    final = [*posts, *edits][-1]
    assert final["waiting"] == BURST, final
    assert {r["ref"] for r in edits} <= {posts[0]["ref"]}  # edits of that one message only
    print(f"\n{BURST} due for one person, 3 replicas: {len(alone)} alone, {len(posts)} summary "
          f"(by pid {posts[0]['pid']}), {len(edits)} edits of it")  # fmt: skip
