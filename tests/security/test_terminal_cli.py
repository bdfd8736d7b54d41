"""Issue 14 item 6: `nudgebot waiting` and `history` print no customer escape sequence."""

from __future__ import annotations

import asyncio
import io
import json
import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from adapters.console.messenger import ConsoleMessenger
from bot.cli.main import app
from bot.domain.ports import Recipient
from bot.domain.untrusted import md_literal
from storage.db import Database
from tests.engine.engine_kit import Clock, Harness, berlin, make_config
from tests.security.test_untrusted_text import view

T0 = berlin("2026-06-03 10:00")
HOSTILE = (  # the first 80 characters are what `waiting` shows of the last message
    "[bold red]markup[/] \x1b[2J\u202eevil\u202c 👨‍👩‍👧 日本語 \x9b2J \x1b]0;owned\x07 "
    "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\ \x1b[8mhidden\x1b[0m"
)
ACTIVE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


async def test_waiting_and_history_make_customer_controls_visible(
    db: Database, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = Harness(db, Clock(T0 + timedelta(minutes=5)), make_config())
    cid = await h.customer("t1", T0, text=HOSTILE)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("NUDGEBOT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for args in (["waiting"], ["history", str(cid)], ["waiting", "--json"]):
        result = await asyncio.to_thread(runner.invoke, app, args, env={"COLUMNS": "400"})
        assert result.exit_code == 0, result.output
        assert not ACTIVE.search(result.stdout), (args, result.stdout)
        if args[-1] == "--json":
            assert json.loads(result.stdout)[0]["last_message"] == HOSTILE  # same value
        else:
            assert "\\x1b[2J" in result.stdout and "\\u202e" in result.stdout
            assert "[bold red]markup[/]" in result.stdout  # rich markup is text too
            assert "日本語" in result.stdout and "👨‍👩‍👧" in result.stdout


async def test_console_messenger_prints_customer_text_inertly() -> None:
    """`NUDGEBOT_MESSENGER=console` and the demo print nudges and digests to a terminal."""
    screen = io.StringIO()
    messenger = ConsoleMessenger(Console(file=screen, color_system=None, width=200))
    hostile = replace(view(HOSTILE, url="javascript:alert(1)"), source=HOSTILE)
    await messenger.send_nudge(hostile)
    await messenger.send_text(Recipient("console", "x"), f"**Digest** {md_literal(HOSTILE)}")
    shown = screen.getvalue()
    assert not ACTIVE.search(shown.replace("\n", "")), shown
    assert "[bold red]markup[/]" in shown and "javascript:" not in shown
    assert "日本語" in shown
