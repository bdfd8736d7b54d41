"""`nudgebot dead-letters`: payloads are shown, never obeyed, and come back byte for byte."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import app
from bot.domain.ports import DeadLetter
from storage import dead_letters_repo
from storage.db import Database

AT = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


async def test_payloads_are_escaped_in_the_table_and_exact_in_json(
    db: Database, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile = b'{"text": "\x1b[31mred\x1b[0m [bold]markup[/bold]\\n"}'
    binary = b"\xff\xfe\x00garbage"
    await dead_letters_repo.keep(db, DeadLetter("webhook", "website", "bad", hostile, AT))
    later = AT + timedelta(minutes=1)
    await dead_letters_repo.keep(db, DeadLetter("slack", "", "not UTF-8", binary, later))
    await dead_letters_repo.keep(db, DeadLetter("slack", "", "not UTF-8", binary, later))
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("NUDGEBOT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    # The width the table needs, for this command: COLUMNS as it is when the CLI runs.
    runner = CliRunner(env={"COLUMNS": "400"})
    result = await asyncio.to_thread(runner.invoke, app, ["dead-letters", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["platform"] for r in rows] == ["slack", "webhook"]  # newest first
    assert rows[0]["encoding"] == "base64" and base64.b64decode(rows[0]["payload"]) == binary
    assert rows[0]["deliveries"] == 2 and rows[0]["source"] is None
    assert rows[1]["payload"].encode() == hostile and rows[1]["source"] == "website"
    table = await asyncio.to_thread(runner.invoke, app, ["dead-letters"])
    assert table.exit_code == 0
    assert "\x1b" not in table.stdout and "\\x1b[31mred" in table.stdout
    assert "[bold]markup[/bold]" in table.stdout  # shown as written, not rendered
    args = ["dead-letters", "--json", "--limit", "1"]
    limited = await asyncio.to_thread(runner.invoke, app, args)
    assert [r["platform"] for r in json.loads(limited.stdout)] == ["slack"]
