"""The console messenger prints what a nudge would say; the JSONL recorder is shareable
between processes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

from adapters.console.messenger import ConsoleMessenger
from adapters.console.recording import JsonlMessenger, RecordingMessenger
from bot.app import messengers_from_env
from bot.domain.ports import (
    DeliveryError,
    NudgeUpdate,
    NudgeView,
    Outcome,
    Recipient,
    Step,
    TranscriptLine,
)

T0 = datetime(2026, 6, 3, 8, 0, tzinfo=UTC)


def view(step: Step = Step.FIRST) -> NudgeView:
    return NudgeView(
        nudge_id=7, conversation_id=42, step=step,
        recipient=Recipient("slack", "U0ALICE01", "alice", "Europe/Berlin"), source="acme",
        platform="slack", channel="C0CUST001", thread="1700000000.0001", customer="Dana",
        waiting_since=T0, due_at=T0 + timedelta(minutes=15), now=T0 + timedelta(minutes=18),
        responsible=("alice",),
        transcript=(TranscriptLine("Dana", False, T0, "Where is my order?"),),
        url="https://acme.slack.com/archives/C0CUST001/p1700000000000100", can_reply=True,
    )  # fmt: skip


async def test_console_prints_the_nudge_and_its_outcome() -> None:
    console = Console(record=True, width=100)
    messenger = ConsoleMessenger(console)
    sent = await messenger.send_nudge(view())
    update = NudgeUpdate(Outcome.ANSWERED, "Bob", T0 + timedelta(minutes=18), 18 * 60)
    await messenger.update_nudge(sent.ref, view(), update)
    out = console.export_text()
    assert "Dana has waited 18m" in out and "Where is my order?" in out
    assert "10:00" in out  # the transcript in alice's zone (Berlin)
    assert "answered by Bob after 18m" in out


async def test_recording_messenger_fails_as_told() -> None:
    messenger = RecordingMessenger()
    messenger.fail_next(1, DeliveryError("slow down", retry_after=3))
    try:
        await messenger.send_nudge(view())
    except DeliveryError as exc:
        assert exc.retry_after == 3
    else:  # pragma: no cover
        raise AssertionError("expected a failure")
    await messenger.send_nudge(view())
    assert [c.ok for c in messenger.calls] == [False, True] and len(messenger.nudges) == 1


async def test_jsonl_recorder_and_the_environment_switch(tmp_path: Path) -> None:
    path = tmp_path / "sent.jsonl"
    chosen = messengers_from_env({"NUDGEBOT_MESSENGER": f"record:{path}"})
    assert set(chosen) >= {"slack", "telegram"}
    messenger = chosen["slack"]
    assert isinstance(messenger, JsonlMessenger)
    await messenger.send_nudge(view())
    messenger.close()
    (line,) = path.read_text().splitlines()
    record = json.loads(line)
    assert (record["conversation"], record["step"], record["recipient"]) == (42, "first", "alice")
    assert isinstance(messengers_from_env({"NUDGEBOT_MESSENGER": "console"})["slack"],
                      ConsoleMessenger)  # fmt: skip
    assert messengers_from_env({}) == {}
