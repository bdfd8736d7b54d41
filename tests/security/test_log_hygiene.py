"""Issue 14 items 2 and 5: a `nudgebot run` given secrets and hostile requests logs none of
the secrets, no forged line and no unverified body.

A real process (as in tests/test_run_process.py) with Slack (fake Web API in its own process),
Telegram polling (fake Bot API, the token in every request URL) and an iCal "secret address"
with a basic-auth password; its whole stderr and stdout are grepped afterwards.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bot.logsafety import REDACTED, RedactingFilter
from tests.fakes.slack_api import BOT_TOKEN
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI

API_TOKEN = "dashboard-token-Zq8vN2kLm4Pw7Rt1Xy9Bc3Df6Gh0Jk5"
SIGNING = "slack-signing-secret-0f1e2d3c4b5a69788796a5b4"
WEBHOOK = "webhook-secret-7a6b5c4d3e2f1a0b9c8d"
ICAL_PASSWORD = "icalPassw0rdSecret"
ICAL_PATH = "private-5e3c1a9b7d2f4e6a8c0b/basic.ics"
FORGED = "2026-12-03 09:00:00,000 INFO nudgebot.web: FORGED all is well"
CONFIG = """\
timezone: UTC
team:
  alice: {{name: Alice, owner: true, telegram: 111}}
rotations:
  support:
    ical: http://ops:{password}@127.0.0.1:{port}/{path}
sources:
  website: {{platform: webhook, secret: "${{WEBHOOK_SECRET}}", owner: alice}}
  community: {{platform: telegram, chats: [-100123], owner: alice}}
  acme: {{platform: slack, channels: [C0CUST001], owner: alice}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_run_logs_no_secret_no_forged_line_no_body(db_url: str, tmp_path: Path) -> None:
    telegram = FakeTelegramAPI()
    telegram.start()
    slack_port = _free_port()
    slack = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.slack_api", str(slack_port)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    config = tmp_path / "nudgebot.yaml"
    config.write_text(CONFIG.format(password=ICAL_PASSWORD, port=telegram.port, path=ICAL_PATH))
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "NUDGEBOT_CONFIG": str(config),
        "NUDGEBOT_PORT": str(port),
        "NUDGEBOT_API_TOKEN": API_TOKEN,
        "WEBHOOK_SECRET": WEBHOOK,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING,
        "SLACK_API_URL": f"http://127.0.0.1:{slack_port}/api/",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": telegram.base_url,
        "TELEGRAM_MODE": "polling",
        "NUDGEBOT_LOG_LEVEL": "INFO",
    }
    proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()[1].decode()[-3000:]
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "nudgebot run did not become ready"
            time.sleep(0.2)
        body = f"token=x&text=hi\n{FORGED}\n" + "A" * 500_000
        bad = httpx.post(
            f"{base}/slack/events", content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "X-Slack-Signature": "v0=" + "0" * 64,
                     "X-Slack-Request-Timestamp": str(int(time.time()))},
        )  # fmt: skip
        assert bad.status_code == 401
        wrong = httpx.get(f"{base}/api/waiting", headers={"Authorization": "Bearer " + "x" * 40})
        assert wrong.status_code == 401
        while sum(c.method == "getUpdates" for c in telegram.calls) < 3:
            assert time.monotonic() < deadline + 30, "Telegram was never polled"
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        slack.communicate(timeout=10)  # closing its stdin stops it
        telegram.stop()
    log = out.decode() + err.decode()
    assert "getUpdates" in "".join(c.method for c in telegram.calls)
    for secret in (TOKEN, TOKEN.split(":")[1], BOT_TOKEN, SIGNING, API_TOKEN, WEBHOOK,
                   ICAL_PASSWORD, ICAL_PATH.split("/")[0]):  # fmt: skip
        assert secret not in log, f"{secret!r} is in the log:\n{log[-3000:]}"
    lines = log.splitlines()
    assert not any(line.startswith(FORGED[:30]) for line in lines), log[-3000:]
    assert "AAAAAAAAAAAAAAAA" not in log  # the unverified body: its length and hash at most
    assert len(log) < 100_000
    assert "Invalid request signature" in log  # the rejection itself is still logged


def test_filter_redacts_every_record_whatever_logger() -> None:
    f = RedactingFilter(["registered-secret-value"])
    cases = {
        "GET https://api.telegram.org/bot123456:AAH9xk2LmQp7Rt5vW8yZ0bC3dE6fG1hJ4kL/x": "123456:",
        "token xoxb-1234-5678-abcdefghijkl and xapp-1-A0B1C2-3456-abcdef": "xox",
        "postgresql+psycopg://nb:hunter2secret@db/nb": "hunter2secret",
        "{'Authorization': 'Bearer sk_live_abcdef123456'}": "sk_live_abcdef123456",
        "authorization=Basic dXNlcjpwYXNz": "dXNlcjpwYXNz",
        "GET /api/rotations/x.ics?token=abcdef0123456789": "abcdef0123456789",
        "the registered-secret-value leaked": "registered-secret-value",
    }
    for message, secret in cases.items():
        for name in ("httpx", "telegram.ext", "slack_bolt.X", "nudgebot.web"):
            record = logging.LogRecord(name, logging.INFO, __file__, 1, "%s", (message,), None)
            assert f.filter(record)
            shown = record.getMessage()
            assert secret not in shown.replace(REDACTED, ""), (name, shown)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "a\nb\r\x1b[2J", None, None)
    f.filter(record)
    assert record.getMessage() == "a\\nb\\x0d\\x1b[2J"
