"""`nudgebot history`: a conversation's messages, actions (who, when) and nudges."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import app
from bot.domain.events import ActionKind
from bot.domain.ports import Step
from storage.db import Database
from tests.engine.engine_kit import Clock, Harness, berlin, make_config

T0 = berlin("2026-06-03 10:00")  # a Wednesday; the test policy runs 24/7


async def test_history_shows_messages_actions_and_nudges(
    db: Database, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = Harness(db, Clock(T0), make_config())
    cid = await h.customer("t1", T0)
    await h.tick(T0 + timedelta(minutes=15))
    assert h.sent_to() == [("alice", Step.FIRST)]
    h.clock.set(T0 + timedelta(minutes=16))
    await h.act(cid, ActionKind.CLAIM, "bob")
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("NUDGEBOT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./nudgebot.yaml: the built-in empty config
    runner = CliRunner()
    result = await asyncio.to_thread(runner.invoke, app, ["history", str(cid), "--json"])
    assert result.exit_code == 0, result.output
    events = json.loads(result.stdout)
    assert [(e["kind"], e["what"]) for e in events if e["kind"] != "message"] == [
        ("nudge", "first"),
        ("action", "claim"),
    ]
    assert events[0]["kind"] == "message" and events[0]["at"].endswith("Z")
    claim = next(e for e in events if e["what"] == "claim")
    assert claim["who"] == "bob" and claim["at"] == "2026-06-03T08:16:00Z"
    table = await asyncio.to_thread(runner.invoke, app, ["history", str(cid)])
    assert table.exit_code == 0 and "claim" in table.stdout
    missing = await asyncio.to_thread(runner.invoke, app, ["history", "999999"])
    assert missing.exit_code == 1 and "does not exist" in missing.stderr
