"""`nudgebot run` as a user starts it: a real process serving a signed webhook and the API,
stopping cleanly on Ctrl-C."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

CONFIG = """\
timezone: UTC
team:
  alice: {name: Alice, owner: true}
sources:
  website:
    platform: webhook
    secret: ${WEBHOOK_SECRET}
    owner: alice
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_serves_a_webhook_and_stops_cleanly(db_url: str, tmp_path: Path) -> None:
    config = tmp_path / "nudgebot.yaml"
    config.write_text(CONFIG)
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "NUDGEBOT_CONFIG": str(config),
        "NUDGEBOT_PORT": str(port),
        "NUDGEBOT_API_TOKEN": "t0ken",
        "WEBHOOK_SECRET": "s3cret",
    }
    proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "nudgebot run did not become ready"
            time.sleep(0.2)
        message = {
            "thread": "t1",
            "id": "m1",
            "at": "2026-11-28T10:00:00Z",
            "author": {"id": "c1", "name": "Dana"},
            "text": "Where is my order?",
        }
        body = json.dumps(message)
        signature = hmac.new(b"s3cret", body.encode(), hashlib.sha256).hexdigest()
        bad = httpx.post(f"{base}/hooks/website", content=body,
                         headers={"X-Nudgebot-Signature": "sha256=" + "0" * 64})  # fmt: skip
        assert bad.status_code == 401
        good = httpx.post(f"{base}/hooks/website", content=body,
                          headers={"X-Nudgebot-Signature": f"sha256={signature}"})  # fmt: skip
        assert good.status_code == 200, good.text
        rows = httpx.get(f"{base}/api/waiting", headers={"Authorization": "Bearer t0ken"}).json()
        assert [(r["customer"], r["responsible"]) for r in rows] == [("Dana", "alice")]
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr.decode()[-2000:]
    assert b"Traceback" not in stderr
