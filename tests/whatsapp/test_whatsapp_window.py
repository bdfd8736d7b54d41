"""The 24-hour window: the pure rule, the ladder's due time, the nudge text, waiting --json."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.slack.blocks import nudge_blocks, updated_blocks
from adapters.telegram.render import nudge_html
from bot import platforms
from bot.cli.main import app
from bot.domain.ports import Delivered, NudgeUpdate, NudgeView, Outcome, Recipient
from bot.domain.reply_window import (
    describe_window,
    due_within_window,
    window_closes_at,
    window_open,
)
from bot.services.waiting import list_waiting
from tests.whatsapp import payloads as p
from tests.whatsapp.wa_kit import CONFIG, T0, Harness, harness

H = timedelta(hours=1)
AT = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def test_the_window_is_whatsapps_only_and_runs_24h_from_the_last_customer_message() -> None:
    assert window_closes_at(platforms.reply_window("whatsapp"), AT) == AT + 24 * H
    assert window_closes_at(platforms.reply_window("telegram"), AT) is None
    assert window_closes_at(platforms.reply_window("slack"), AT) is None
    assert window_closes_at(platforms.reply_window("whatsapp"), None) is None
    assert platforms.reply_window("no-such-platform") is None


def test_a_window_closing_before_the_due_time_becomes_the_due_time() -> None:
    assert due_within_window(AT + 30 * H, AT + 24 * H) == AT + 24 * H
    assert due_within_window(AT + 2 * H, AT + 24 * H) == AT + 2 * H
    assert due_within_window(None, AT + 24 * H) is None
    assert due_within_window(AT, None) == AT


def test_open_and_described() -> None:
    closes = AT + 24 * H
    assert window_open(closes, closes - timedelta(seconds=1))
    assert not window_open(closes, closes)
    assert window_open(None, AT)
    left = closes - (3 * H + timedelta(minutes=10))
    assert describe_window(closes, left) == "reply within 3h 10m or a template is needed"
    assert describe_window(closes, closes - timedelta(seconds=20)).startswith("reply within 1m")
    assert "closed" in describe_window(closes, closes + H)
    assert describe_window(None, AT) == ""


SLOW = CONFIG.replace("policy: standard", "policy: slow")  # reply_within: 2d


async def test_the_ladder_uses_the_window_close_as_due_time(tmp_path: Path, db_url: str) -> None:
    async with harness(tmp_path, db_url, SLOW) as wa:
        await wa.post(p.text())
        [item] = await wa.core.waiting()
        assert item.due_at == T0 + 24 * H  # not T0 + 2d
        # a later message moves the window, and with it the due time
        await wa.post(p.text("still there?", wamid="wamid.2", ts=p.TS + 20 * 3600))
        [item] = await wa.core.waiting()
        assert item.due_at == T0 + 44 * H
        assert item.waiting_since == T0


async def test_a_due_time_inside_the_window_is_kept(wa: Harness) -> None:
    await wa.post(p.text())
    [item] = await wa.core.waiting()
    assert item.due_at == T0 + timedelta(minutes=15)


async def test_waiting_json_shows_when_the_window_closes(
    wa: Harness, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await wa.post(p.text())
    await wa.post(p.text("and in red?", wamid="wamid.2", ts=p.TS + 600))
    [row] = await list_waiting(wa.runtime.db, wa.runtime.routing, wa.clock())
    data = row.as_json()
    assert data["reply_window_closes_at"] == "2025-06-09T21:09:43Z"  # last message + 24 h
    assert data["platform"] == "whatsapp"
    # the console script prints the same rows
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("NUDGEBOT_CONFIG", str(tmp_path / "nudgebot.yaml"))
    monkeypatch.delenv("NUDGEBOT_MESSENGER", raising=False)
    # in a thread of its own: the CLI runs its own event loop
    result = await asyncio.to_thread(CliRunner().invoke, app, ["waiting", "--json"])
    assert result.exit_code == 0, result.stdout + result.stderr
    [printed] = json.loads(result.stdout)
    assert printed["reply_window_closes_at"] == "2025-06-09T21:09:43Z"


async def test_other_platforms_have_no_window(tmp_path: Path, db_url: str) -> None:
    from bot.domain.events import Author, InboundMessage

    async with harness(tmp_path, db_url, CONFIG + "  site:\n    platform: webhook\n"
                       "    secret: s\n    policy: slow\n") as wa:  # fmt: skip
        message = InboundMessage(source="site", platform="webhook", message_id="m1",
                                 thread="t1", at=T0, author=Author("c1"), is_team=False,
                                 text="hi")  # fmt: skip
        await wa.runtime.inbox.ingest_batch([message])
        [row] = await list_waiting(wa.runtime.db, wa.runtime.routing, wa.clock())
        assert row.as_json()["reply_window_closes_at"] is None
        assert row.due_at == T0 + 48 * H  # a 2-day policy is not capped off WhatsApp


class Captured:
    platform = "slack"

    def __init__(self) -> None:
        self.views: list[NudgeView] = []

    async def send_nudge(self, view: NudgeView) -> Delivered:
        self.views.append(view)
        return Delivered(f"C1:{len(self.views)}")

    async def update_nudge(self, ref: str, view: NudgeView, update: NudgeUpdate) -> None:
        pass

    async def send_text(self, recipient: Recipient, text: str) -> Delivered:
        return Delivered("C1:0")


async def test_the_nudge_says_when_the_window_closes(wa: Harness) -> None:
    captured = Captured()
    wa.runtime.messengers["slack"] = captured
    await wa.post(p.text())
    wa.clock.advance(timedelta(minutes=20))  # past the 15-minute due time
    assert wa.runtime.engine is not None
    await wa.runtime.engine.tick()
    [view] = captured.views
    assert view.reply_window_closes == T0 + 24 * H
    assert view.can_reply  # the WhatsApp replier is attached
    slack = nudge_blocks(view, "https://nudgebot.test/c/1", str)[0]["text"]["text"]
    assert "reply within 23h 40m or a template is needed" in slack
    telegram = nudge_html(view)
    assert "reply within 23h 40m or a template is needed" in telegram
    assert "window closes" in telegram
    # once answered, the window no longer matters and is not shown; while snoozed it is
    answered = NudgeUpdate(Outcome.ANSWERED, "alice", view.now, 60)
    assert "reply within" not in nudge_html(view, answered)
    assert "reply within" not in str(updated_blocks(view, answered, "https://x", str))
    snoozed = NudgeUpdate(Outcome.SNOOZED, "alice", view.now, 60, view.now + H)
    assert "reply within" in nudge_html(view, snoozed)
    assert "reply within" in str(updated_blocks(view, snoozed, "https://x", str))
    # other platforms' nudges carry no window line
    plain = replace(view, platform="telegram", reply_window_closes=None)
    assert "reply within" not in nudge_html(plain)
    assert "template" not in str(nudge_blocks(plain, "https://x", str))
