"""Slack failing after start: the process keeps serving (healthz 200), /readyz names Slack as
the degraded part, auth.test is retried with backoff and one log line per attempt (no
traceback), and SIGTERM stops everything within 5 s."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import httpx

from tests.fakes.slack_api import BOT_TOKEN, FakeSlack

CONFIG = "timezone: UTC\nteam:\n  alice: {name: Alice, owner: true, slack: U1}\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_slack_down_after_start_degrades_readyz_only(db_url: str, tmp_path: Path) -> None:
    fake = await FakeSlack().start()
    # auth.test answers 500 nine times: the preflight sees "Slack having a bad moment", the
    # adapter's first call (with the client's own 2 retries) fails, so does its first retry.
    fake.fail_next(9, status=500, retry_after=None, methods=("auth.test",))
    (tmp_path / "nudgebot.yaml").write_text(CONFIG)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TELEGRAM_"))}
    env.update(DATABASE_URL=db_url, NUDGEBOT_CONFIG=str(tmp_path / "nudgebot.yaml"),
               NUDGEBOT_PORT=str(port), SLACK_BOT_TOKEN=BOT_TOKEN,
               SLACK_SIGNING_SECRET="s" * 32, SLACK_API_URL=fake.api_url)  # fmt: skip
    env.pop("NUDGEBOT_MESSENGER", None)
    log = tmp_path / "run.log"
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", env=env, stdout=sink, stderr=sink
        )
    base = f"http://127.0.0.1:{port}"
    seen: list[dict[str, object]] = []
    degraded_seen = 0
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            deadline = time.monotonic() + 90
            while True:
                assert proc.returncode is None, log.read_text()[-3000:]
                try:
                    ready = await client.get(f"{base}/readyz")
                    health = await client.get(f"{base}/healthz")
                except httpx.HTTPError:
                    ready = None
                if ready is not None:
                    assert health.status_code == 200
                    seen.append(ready.json())
                    if ready.status_code == 200:
                        break
                    assert ready.json()["components"]["slack"] == "not ready"
                    assert ready.json()["components"]["database"] == "ok"
                    core = await client.get(f"{base}/readyz?required=database")
                    assert core.status_code == 200  # the database alone decides
                    # (Slack may have come back between the two requests)
                    assert core.json().get("degraded", ["slack"]) == ["slack"]
                    degraded_seen += "degraded" in core.json()
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                await asyncio.sleep(0.3)
        assert any(s.get("ok") is False for s in seen), "Slack was never seen degraded"
        assert degraded_seen, "/readyz?required=database never named Slack as degraded"
        assert seen[-1]["components"] == {"database": "ok", "slack": "ok", "catch-up": "ok"}
        proc.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        await asyncio.wait_for(proc.wait(), timeout=5)
        assert time.monotonic() - stopped < 5
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await fake.stop()
    text = log.read_text()
    assert "Traceback" not in text
    assert "Slack auth.test attempt 2 failed" in text
    assert "Slack answered auth.test after" in text
