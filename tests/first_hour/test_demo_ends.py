"""The demo ends by itself after --duration with a closing summary, and says "answered"
once per conversation, without internal delivery ids."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console

from adapters.console.messenger import ConsoleMessenger
from bot.cli.demo import DEFAULT_DURATION, closing_summary
from bot.domain.ports import NudgeUpdate, NudgeView, Outcome, Recipient, Step, TranscriptLine

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def view(step: Step, conversation: int = 42) -> NudgeView:
    return NudgeView(
        nudge_id=7, conversation_id=conversation, step=step,
        recipient=Recipient("slack", "U0ALICE01", "alice", "Europe/Berlin"), source="acme",
        platform="slack", channel="C0CUST001", thread="1700000000.0001", customer="Dana",
        waiting_since=T0, due_at=T0 + timedelta(minutes=15), now=T0 + timedelta(minutes=18),
        responsible=("alice",),
        transcript=(TranscriptLine("Dana", False, T0, "Where is my order?"),),
        url="https://example.com/t/1", can_reply=True,
    )  # fmt: skip


async def test_one_answered_line_per_conversation_and_a_summary() -> None:
    console = Console(record=True, width=120)
    messenger = ConsoleMessenger(console)
    refs = [(await messenger.send_nudge(view(step))).ref for step in Step]
    answered = NudgeUpdate(Outcome.ANSWERED, "Bob", T0 + timedelta(minutes=18), 18 * 60)
    for ref, step in zip(refs, Step, strict=True):
        await messenger.update_nudge(ref, view(step), answered)
    text = console.export_text()
    assert text.count("answered by Bob") == 1
    assert "console:" not in text
    assert "#42 Dana: ✅ answered by Bob after 18m" in text
    assert closing_summary(messenger) == (
        "demo stopped: 3 nudge(s) sent, 1 conversation(s) answered after a nudge, median reply 18m"
    )


def test_the_default_duration_is_ninety_seconds() -> None:
    assert DEFAULT_DURATION == 90.0


@pytest.mark.skipif(
    os.environ.get("NUDGEBOT_TEST_DB") == "postgresql", reason="the demo runs on SQLite only"
)
def test_the_demo_ends_by_itself_with_a_summary() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--duration", "4", "--port", str(port)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "demo stopped: " in done.stdout and "nudge(s) sent" in done.stdout
    assert "Traceback" not in done.stderr


def test_the_banner_command_works_without_the_venv_on_path(tmp_path: object) -> None:
    from bot.cli.demo import cli_command

    command = cli_command()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["PATH"] = "/usr/bin:/bin"  # a fresh shell after README command 1: no .venv/bin
    done = subprocess.run(f"{command} --help", shell=True, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
