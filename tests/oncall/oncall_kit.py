"""Shared pieces of the on-call tests: a config with a weekly rotation, clocks, messages."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.app import Runtime
from bot.config import Config, load_config
from bot.domain.events import Author, InboundMessage
from bot.domain.ports import Delivered, Recipient
from tests.conftest import SHARED_DATA, shared_data

TOKEN = "oncall-test-token-42"
ICAL_DIR = SHARED_DATA / "oncall-ical"

# Turns of "support" (Mon 09:00 Europe/Berlin, from 2026-11-02): alice, bob, carol, alice, …
# 2026-11-23 alice · 11-30 bob · 12-07 carol · 12-14 alice · 12-21 bob · 12-28 carol
WEEKLY = """\
timezone: Europe/Berlin
team:
  alice:
    name: Alice Liddell
    slack: U0ALICE01
    email: alice@example.com
    hours: Mon-Fri 09:00-17:30
    owner: true
  bob:
    name: Bob
    telegram: 222222222
    email: bob@example.com
    handles: ["@bobby"]
  carol:
    name: Carol
    slack: U0CAROL01
  bernard:
    name: Bernard Desruisseaux
    slack: U0BERN001
rotations:
  support:
    members: [alice, bob, carol]
    shift: 1w
    handoff: Mon 09:00
    start: 2026-11-02
    overrides:
      - {who: bob, from: 2026-12-16 00:00, to: 2026-12-19 00:00}
      - {who: carol, from: 2026-12-17 00:00, to: 2026-12-18 00:00}
sources:
  acme:
    platform: webhook
    secret: s3cret
    owner: alice
    rotation: support
  community:
    platform: webhook
    secret: other
    rotation: support
"""


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC)


def write_config(tmp_path: Path, text: str = WEEKLY, *, extra: str = "") -> Path:
    path = tmp_path / "nudgebot.yaml"
    path.write_text(text + extra, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str = WEEKLY, *, extra: str = "") -> Config:
    return load_config(str(write_config(tmp_path, text, extra=extra)))


def with_ical(location: str, rotation: str = "feed", refresh: str = "10m") -> str:
    """WEEKLY with an iCal rotation ``rotation`` listed before ``support``."""
    entry = f"  {rotation}:\n    ical: {location}\n    refresh: {refresh}\n"
    return WEEKLY.replace("rotations:\n", "rotations:\n" + entry, 1)


def needs_ical(name: str) -> Path:
    return shared_data(f"oncall-ical/{name}")  # skips, or fails under CI=true, when absent


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def make_runtime(config: Config, db_url: str, clock: Clock) -> Runtime:
    return Runtime.from_config(config, db_url, now=clock)


def customer_message(
    source: str, thread: str, at: datetime, text: str = "Hello? Anyone?"
) -> InboundMessage:
    return InboundMessage(
        source=source,
        platform="webhook",
        message_id=f"{thread}-{at.timestamp():.0f}",
        thread=thread,
        at=at,
        author=Author("cust-1", "Dana"),
        is_team=False,
        text=text,
        url=f"https://example.com/{thread}",
    )


class Outbox:
    """A ``send(Recipient, text)`` that records, and fails on demand."""

    def __init__(self) -> None:
        self.sent: list[tuple[Recipient, str]] = []
        self.fail_with: Exception | None = None

    async def __call__(self, recipient: Recipient, text: str) -> Delivered:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append((recipient, text))
        return Delivered(f"ref-{len(self.sent)}")
