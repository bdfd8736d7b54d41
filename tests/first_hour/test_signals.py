"""SIGINT and SIGTERM stop `nudgebot run` within 5 s, also in Slack Socket Mode after the
app-level token stops being accepted (revoked or rotated while the bot runs): the Socket Mode
client keeps trying to reconnect then, and once ignored both signals (it had to be killed).

The real process against tests/fakes/slack_api.py: Web API and the Socket Mode websocket on
127.0.0.1. The fake drops the socket and then answers apps.connections.open with
``invalid_auth``, as Slack does for a revoked token."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from tests.fakes import slack_api
from tests.fakes.slack_api import APP_TOKEN, BOT_TOKEN, FakeSlack

CONFIG = "timezone: UTC\nteam:\n  alice: {name: Alice, owner: true, slack: U1}\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(log: Path) -> str:
    return log.read_text()[-3000:]


async def _until(check: object, what: str, log: Path, proc: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 60
    while not check():  # type: ignore[operator]
        assert proc.returncode is None, _tail(log)
        assert time.monotonic() < deadline, f"{what}: {_tail(log)}"
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_socket_mode_with_a_token_rejected_after_start_stops_on_a_signal(
    db_url: str, tmp_path: Path, sig: signal.Signals, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = await FakeSlack().start()
    (tmp_path / "nudgebot.yaml").write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TELEGRAM_"))}
    env.update(DATABASE_URL=db_url, NUDGEBOT_CONFIG=str(tmp_path / "nudgebot.yaml"),
               NUDGEBOT_PORT=str(_free_port()), SLACK_BOT_TOKEN=BOT_TOKEN,
               SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET="s" * 32,
               SLACK_API_URL=fake.api_url)  # fmt: skip
    env.pop("NUDGEBOT_MESSENGER", None)
    log = tmp_path / "run.log"
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", env=env, stdout=sink, stderr=sink
        )
    try:
        await _until(lambda: fake._sockets, "Socket Mode never connected", log, proc)
        opened = len(fake.calls_to("apps.connections.open"))
        # The token is revoked: the next apps.connections.open answers invalid_auth.
        monkeypatch.setattr(slack_api, "APP_TOKEN", "xapp-revoked")
        for ws in list(fake._sockets):
            await ws.close()
        await _until(
            lambda: len(fake.calls_to("apps.connections.open")) > opened,
            "the client never tried to reconnect", log, proc,
        )  # fmt: skip
        await asyncio.sleep(1)  # inside the client's retry loop
        assert proc.returncode is None, log.read_text()[-3000:]
        proc.send_signal(sig)
        stopped = time.monotonic()
        await asyncio.wait_for(proc.wait(), timeout=5)
        assert time.monotonic() - stopped < 5
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await fake.stop()
    text = log.read_text()
    assert "invalid_auth" in text  # the reconnect was refused (bolt logs it, one line)
    assert "Traceback" not in text
