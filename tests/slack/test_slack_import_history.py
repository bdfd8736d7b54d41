"""History is not an emergency: 5,000 imported conversations still waiting reach each
responsible person as one summary (the real import, the real engine, the fake Slack API), and
the summary's numbers are `waiting --json`'s. ``--nudge`` nudges them, batched per person."""

from __future__ import annotations

import asyncio
import io
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

import bot.cli.importer as importer
from bot.cli.main import app
from bot.config import Config, load_config
from storage.models import Conversation, Nudge
from tests.slack.conftest import NOW, Slack
from tests.slack.slack_payloads import ALICE, BOB

CAROL = "U0CAROL03"
PEOPLE = {"alice": ALICE, "bob": BOB, "carol": CAROL}
SOURCES = {"shop": "alice", "forum": "bob", "mail": "carol"}
CONVERSATIONS = 5000
CONFIG = """\
timezone: UTC
team:
  alice: {name: Alice, slack: U0ALICE01, owner: true}
  bob: {name: Bob, slack: U0BOB0002}
  carol: {name: Carol, slack: U0CAROL03}
policies:
  standard: {reply_within: 1h, remind_every: 4h, escalate_after: 8h, escalate_to: owner}
sources:
  shop: {platform: webhook, secret: not-used-here-0123456789, owner: alice, policy: standard}
  forum: {platform: webhook, secret: not-used-here-0123456789, owner: bob, policy: standard}
  mail: {platform: webhook, secret: not-used-here-0123456789, owner: carol, policy: standard}
"""


@pytest.fixture
def config(tmp_path: Path) -> Config:
    path = tmp_path / "nudgebot.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_config(str(path))


def history(source: str, count: int, offset: int) -> str:
    """``count`` conversations over the 30 days before NOW; every fourth one answered."""
    lines = []
    for i in range(count):
        at = NOW - timedelta(days=30) + timedelta(seconds=(offset + i) * 500)
        thread = f"{source}-{i}"
        customer = {"id": f"cust-{i}", "name": f"Dana {i}"}
        lines.append({"thread": thread, "id": f"{thread}-q", "at": at.isoformat(), "team": False,
                      "author": customer, "text": "Hello?"})  # fmt: skip
        if i % 4 == 0:
            lines.append({"thread": thread, "id": f"{thread}-a",
                          "at": (at + timedelta(minutes=5)).isoformat(), "team": True,
                          "author": {"id": PEOPLE[SOURCES[source]], "name": "Team"},
                          "text": "Done."})  # fmt: skip
    return "".join(json.dumps(line) + "\n" for line in lines)


def sizes() -> list[int]:
    per_source = CONVERSATIONS // len(SOURCES) + 1
    return [min(per_source, CONVERSATIONS - n * per_source) for n in range(len(SOURCES))]


async def import_all(slack: Slack, *, nudge: bool) -> list[importer.ImportReport]:
    reports = []
    for n, (source, count) in enumerate(zip(SOURCES, sizes(), strict=True)):
        text = history(source, count, n * sizes()[0])
        reports.append(
            await importer.import_file(
                slack.runtime, io.StringIO(text), source, "webhook", nudge=nudge
            )
        )
    return reports


async def run(slack: Slack) -> None:
    assert slack.runtime.engine is not None
    while (await slack.runtime.engine.tick()).more:
        pass


def waiting_json(config: Config, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("NUDGEBOT_CONFIG", str(config.path))
    result = CliRunner().invoke(app, ["waiting", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def summaries(slack: Slack, user: str) -> list[dict[str, Any]]:
    return [
        d for d in slack.fake.posted(user)
        if d.get("metadata", {}).get("event_type") == "nudgebot_summary"
    ]  # fmt: skip


def headline(dm: dict[str, Any]) -> str:
    return str(dm["blocks"][0]["text"]["text"])


async def test_imported_waiting_conversations_are_one_summary_per_person(
    slack: Slack, config: Config, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = await import_all(slack, nudge=False)
    waiting = sum(r.waiting.count for r in reports)
    assert waiting == sum(c - (c + 3) // 4 for c in sizes())  # every fourth was answered
    assert reports[0].waiting.summaries_to == ("alice",)
    async with slack.runtime.db.read() as session:
        planned = await session.scalar(select(func.count()).select_from(Nudge))
        pending = await session.scalar(
            select(func.count()).where(Conversation.next_nudge_at.is_not(None))
        )
    assert planned == 0 and pending == 0  # nothing was planned for history

    await run(slack)
    slack.clock.advance(hours=9)  # past every reminder and escalation time: still no nudges
    await run(slack)

    rows = await asyncio.to_thread(waiting_json, config, db_url, monkeypatch)
    assert len(rows) == waiting
    mine = Counter(p for r in rows for p in r["responsible_all"])
    for person, user in PEOPLE.items():
        got = slack.fake.posted(user)
        assert 1 <= len(got) <= 3, (person, len(got))
        [summary] = summaries(slack, user)
        assert f"Imported history: {mine[person]} waiting on you" in headline(summary)
    # The owner also sees the team's totals, by source and by person, as `waiting --json` does.
    team = json.dumps(summaries(slack, ALICE)[0]["blocks"])
    assert f"Team: {len(rows)} waiting after the import" in team
    for source, n in Counter(r["source"] for r in rows).items():
        assert f"{source} {n}" in team

    # Answered later: the summary it was counted in is edited in place, not re-sent.
    reply = {"thread": "shop-1", "id": "shop-1-late", "at": slack.clock.now().isoformat(),
             "team": True, "author": {"id": ALICE, "name": "Alice"}, "text": "Sorry!"}  # fmt: skip
    await importer.import_file(
        slack.runtime, io.StringIO(json.dumps(reply) + "\n"), "shop", "webhook"
    )
    slack.clock.advance(seconds=2)
    await run(slack)
    [summary] = summaries(slack, ALICE)
    [edit] = [c.params for c in slack.fake.calls_to("chat.update")]
    assert (
        f"Imported history: {mine['alice'] - 1} waiting on you" in edit["blocks"][0]["text"]["text"]
    )


async def test_import_with_nudge_nudges_them_batched_per_person(slack: Slack) -> None:
    await import_all(slack, nudge=True)
    async with slack.runtime.db.read() as session:
        planned = await session.scalar(
            select(func.count()).where(Conversation.next_nudge_at.is_not(None))
        )
    assert planned and planned > 3000  # --nudge: they are on the ladder like live ones
    await run(slack)
    for person, user in PEOPLE.items():
        got = slack.fake.posted(user)
        assert 1 <= len(got) <= 3, (person, len(got))
        assert summaries(slack, user), person


def test_import_command_reports_what_is_still_waiting(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "nudgebot.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    data = tmp_path / "shop.jsonl"
    data.write_text(history("shop", 8, 0), encoding="utf-8")
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("NUDGEBOT_CONFIG", str(path))
    result = CliRunner().invoke(app, ["import", str(data), "--source", "shop"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "6 imported conversations are still waiting for a reply" in out
    assert "oldest: Dana 1 in shop" in out
    assert "by source: shop 6" in out and "by responsible person: alice 6" in out
    assert "stored as history" in out and "one summary each goes to alice" in out
