"""A seeded support history for the dashboard, export and digest tests.

NOW is Monday 2026-11-30 09:30 UTC (10:30 in Berlin): week 2026-W48 (23–29 Nov) is "last
week", 2026-W47 the week before. Every figure the tests check can be worked out by hand from
SCENARIO below; the comments give the reply times.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from starlette.applications import Starlette

from bot.app import Runtime
from bot.config import Config, load_config
from bot.domain.events import Author, InboundMessage

NOW = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
TOKEN = "dash-token-0123456789abcdef"
HOSTILE = '<script>alert("x")</script> & "Mallory"'

CONFIG = """\
timezone: UTC
team:
  alice:
    name: Alice Liddell
    slack: U0ALICE01
    timezone: Europe/Berlin
    owner: true
  bob:
    name: Bob
    telegram: 222222222
    notify: telegram
    owner: true
  carol:
    name: Carol
    slack: U0CAROL01
rotations:
  support:
    members: [alice, bob]
    shift: 1w
    handoff: Mon 09:00
    start: 2026-11-02
policies:
  standard:
    reply_within: 15m
sources:
  website:
    platform: webhook
    secret: s3cret
    owner: bob
    policy: standard
  acme:
    platform: slack
    channels: [C0CUST001]
    owner: alice
    policy: standard
"""


def at(day: int, hour: int, minute: float = 0) -> datetime:
    """A time in November 2026 (UTC)."""
    return datetime(2026, 11, day, hour, 0, tzinfo=UTC) + timedelta(minutes=minute)


def msg(
    source: str,
    thread: str,
    mid: str,
    when: datetime,
    *,
    team: str | None = None,
    customer: str = "Dana",
    text: str = "Where is my order?",
    url: str = "",
) -> InboundMessage:
    return InboundMessage(
        source=source,
        platform="slack" if source == "acme" else "webhook",
        message_id=mid,
        thread=thread,
        at=when,
        author=Author(f"U-{team.upper()}" if team else f"c-{customer}", team or customer),
        is_team=team is not None,
        text=text,
        url=url or f"https://support.example/{source}/{thread}",
        person=team,
        channel="C0CUST001" if source == "acme" else "",
    )


def scenario() -> Iterator[InboundMessage]:
    # --- week before (W47) --------------------------------------------------------------
    # w1: bob answers after 30m (due 15m: missed).
    yield msg("website", "w1", "w1a", at(17, 10), customer="Erin")
    yield msg("website", "w1", "w1b", at(17, 10, 30), team="bob")
    # a1: alice answers after 10m (met).
    yield msg("acme", "a1", "a1a", at(18, 14), customer="Frank")
    yield msg("acme", "a1", "a1b", at(18, 14, 10), team="alice")
    # a broadcast by alice
    yield msg("acme", "news1", "n1", at(19, 9), team="alice", text="Release 2.0 is out")
    # --- last week (W48) ------------------------------------------------------------------
    # w2: bob after 5m (met); w3: carol after 2h (missed); a2: alice after 1m (met).
    yield msg("website", "w2", "w2a", at(23, 9), customer="Gina")
    yield msg("website", "w2", "w2b", at(23, 9, 5), team="bob")
    yield msg("website", "w3", "w3a", at(24, 11), customer="Hank")
    yield msg("website", "w3", "w3b", at(24, 13), team="carol")
    yield msg("acme", "a2", "a2a", at(25, 16), customer="Ida")
    yield msg("acme", "a2", "a2b", at(25, 16, 1), team="alice")
    # a3: never answered (started Thursday of W48; still waiting now, overdue).
    yield msg("acme", "a3", "a3a", at(26, 8), customer="Jules", text="Hello? Anyone?")
    # two broadcasts by alice, one by bob
    yield msg("acme", "news2", "n2", at(24, 9), team="alice", text="Maintenance tonight")
    yield msg("acme", "news3", "n3", at(27, 9), team="alice", text="Maintenance done")
    yield msg("website", "news4", "n4", at(27, 12), team="bob", text="Blog post")
    # --- this week (W49, up to NOW) --------------------------------------------------------
    # w4: waiting 5 minutes, not yet due; w5: hostile customer, javascript: URL, formula text.
    yield msg("website", "w4", "w4a", NOW - timedelta(minutes=5), customer="Kim")
    yield msg(
        "website",
        "w5",
        "w5a",
        NOW - timedelta(minutes=40),
        customer=HOSTILE,
        text='=HYPERLINK("http://evil.example","click") <b>bold</b>',
        url="javascript:alert(1)",
    )


# Hand-computed from the scenario for W48 (23-29 Nov, UTC):
LAST_WEEK = {
    "replies": 3,  # w2b, w3b, a2b
    "broadcasts": 3,  # n2, n3, n4
    "conversations": 4,  # w2, w3, a2, a3
    "answered": 3,
    "reply_seconds": [300.0, 7200.0, 60.0],
    "sla_met_ratio": 0.5,  # w2 met, a2 met, w3 missed, a3 missed (open past due)
    "unanswered": 1,
}
WEEK_BEFORE = {"replies": 2, "broadcasts": 1, "conversations": 2, "answered": 2}


async def seed(runtime: Runtime) -> None:
    await runtime.inbox.ingest_batch(list(scenario()))


def write_config(tmp_path: Path, text: str = CONFIG) -> Config:
    path = tmp_path / "nudgebot.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(str(path))


@dataclass
class Clock:
    value: datetime = NOW

    def now(self) -> datetime:
        return self.value


def client_for(app: Starlette, base: str = "http://test") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base)


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
