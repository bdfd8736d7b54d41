"""`nudgebot run` stops at once, in one line naming the fix, when it can never work: port in
use, a rejected Slack or Telegram token (the variable named, the token never printed), an
unreachable platform host (named). Reproduced with the fake Slack and Telegram servers."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import pytest

from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeTelegramAPI

CONFIG = "timezone: UTC\nteam:\n  alice: {name: Alice, owner: true, slack: U1}\n"
SECRET = "123456:WRONG-token-that-must-never-be-printed"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _run(db_url: str, tmp_path: Path, port: int, **extra: str) -> tuple[int, str, str]:
    (tmp_path / "nudgebot.yaml").write_text(CONFIG)
    drop = ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "TELEGRAM_BOT_TOKEN", "NUDGEBOT_MESSENGER",
            "SLACK_API_URL", "TELEGRAM_API_URL")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(DATABASE_URL=db_url, NUDGEBOT_CONFIG=str(tmp_path / "nudgebot.yaml"),
               NUDGEBOT_PORT=str(port), SLACK_SIGNING_SECRET="s" * 32, **extra)  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail("nudgebot run kept running although it can never work")
    return proc.returncode or 0, out.decode(), err.decode()


def _one_line_error(code: int, out: str, err: str) -> str:
    assert code != 0
    assert "Traceback" not in err and "listening" not in out, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    return errors[0]


async def test_port_in_use(db_url: str, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        line = _one_line_error(*await _run(db_url, tmp_path, busy.getsockname()[1]))
    assert "cannot listen on 127.0.0.1:" in line and "--port" in line


async def test_rejected_slack_bot_token(db_url: str, tmp_path: Path) -> None:
    fake = await FakeSlack().start()
    try:
        code, out, err = await _run(db_url, tmp_path, _free_port(),
                                    SLACK_BOT_TOKEN=SECRET, SLACK_API_URL=fake.api_url)  # fmt: skip
    finally:
        await fake.stop()
    line = _one_line_error(code, out, err)
    assert "SLACK_BOT_TOKEN was rejected by Slack (invalid_auth)" in line
    assert SECRET not in out + err


async def test_rejected_slack_app_token(db_url: str, tmp_path: Path) -> None:
    from tests.fakes.slack_api import BOT_TOKEN

    fake = await FakeSlack().start()
    try:
        code, out, err = await _run(
            db_url, tmp_path, _free_port(), SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=SECRET,
            SLACK_API_URL=fake.api_url,
        )  # fmt: skip
    finally:
        await fake.stop()
    assert "SLACK_APP_TOKEN was rejected" in _one_line_error(code, out, err)
    assert SECRET not in out + err


async def test_rejected_telegram_token(db_url: str, tmp_path: Path) -> None:
    with FakeTelegramAPI() as fake:
        code, out, err = await _run(db_url, tmp_path, _free_port(), TELEGRAM_BOT_TOKEN=SECRET,
                                    TELEGRAM_API_URL=fake.base_url)  # fmt: skip
    assert "TELEGRAM_BOT_TOKEN was rejected by Telegram" in _one_line_error(code, out, err)
    assert SECRET not in out + err


async def test_unreachable_telegram_host_is_named(db_url: str, tmp_path: Path) -> None:
    closed = _free_port()
    code, out, err = await _run(db_url, tmp_path, _free_port(), TELEGRAM_BOT_TOKEN=SECRET,
                                TELEGRAM_API_URL=f"http://127.0.0.1:{closed}/bot")  # fmt: skip
    line = _one_line_error(code, out, err)
    assert f"cannot reach Telegram at 127.0.0.1:{closed}" in line
    assert SECRET not in out + err
