"""A platform added from this module alone: its adapter (a route and a messenger), its wiring
and its one registry entry. Nothing outside this file knows about "pigeon"; a customer's
message posted to its route becomes a nudge delivered through its messenger.

This is the cost of a new platform (issue 17): if any core module still hard-codes the
platform list (config validation, person addresses, recipient lookup, wiring, /readyz),
this test fails.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot import platforms
from bot.app import Runtime
from bot.config import ConfigError, load_config, parse_config
from bot.domain.events import Author, InboundMessage
from bot.domain.ports import Core, Delivered, NudgeUpdate, NudgeView, Recipient
from bot.services.waiting import list_waiting
from bot.wiring.component import Component
from bot.wiring.process import Process, assemble

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


# --- the adapter: what would live in adapters/pigeon/ -------------------------------------


@dataclass
class PigeonMessenger:
    """Nudges out: every message sent is kept, as a real adapter would post it."""

    platform: str = "pigeon"
    sent: list[tuple[str, str]] = field(default_factory=list)  # (ring, text)

    async def send_nudge(self, view: NudgeView) -> Delivered:
        self.sent.append((view.recipient.address, f"{view.customer} waits in {view.source}"))
        return Delivered(f"note-{len(self.sent)}")

    async def update_nudge(self, ref: str, view: NudgeView, update: NudgeUpdate) -> None:
        return None

    async def send_text(self, recipient: Recipient, text: str) -> Delivered:
        self.sent.append((recipient.address, text))
        return Delivered(f"note-{len(self.sent)}")


def pigeon_routes(core: Core, lofts: dict[str, str]) -> list[Route]:
    """Events in: ``{"id", "loft", "ring", "text", "at"}``; the loft names the source."""

    async def inbound(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
            source = lofts[str(body["loft"])]
            at = datetime.fromtimestamp(float(body["at"]), UTC)
            message = InboundMessage(
                source=source, platform="pigeon", message_id=str(body["id"]),
                thread=str(body["ring"]), at=at, author=Author(str(body["ring"])),
                is_team=False, text=str(body["text"]),
            )  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"ok": False, "error": "not a pigeon note"}, status_code=400)
        await core.ingest([message])
        return JSONResponse({"ok": True})

    return [Route("/pigeon/inbound", inbound, methods=["POST"])]


MESSENGER = PigeonMessenger()


def build(runtime: Runtime, core: Core) -> Component | None:
    """The wiring: on when some source is a pigeon loft."""
    lofts = {
        str(s.extra["loft"]): s.id
        for s in runtime.config.sources.values()
        if s.platform == "pigeon"
    }
    if not lofts:
        return None
    return Component(name="pigeon", routes=pigeon_routes(core, lofts), messenger=MESSENGER)


# --- the one registry entry ---------------------------------------------------------------

PIGEON = platforms.Platform(
    name="pigeon",
    title="Pigeon post",
    can=frozenset({platforms.Can.ROUTE, platforms.Can.NUDGE}),
    source_keys=("loft",),
    required={"loft": "add loft: <the loft's name>"},
    address=platforms.PersonAddress(
        label="pigeon ring",
        example="R-7",
        placeholder="ring number, e.g. R-7",
        pattern=re.compile(r"^R-\d+$"),
        invalid="is not a ring number",
        invalid_fix="write the ring number, e.g. R-7",
    ),
    wiring=build,
)

CONFIG = """\
timezone: UTC
team:
  alice: {name: Alice, pigeon: R-7, owner: true}
  bob: {name: Bob, slack: U0BOB0001, pigeon: R-8, notify: pigeon}
policies:
  fast: {reply_within: 15m}
sources:
  roof: {platform: pigeon, loft: north, owner: alice, policy: fast}
"""


@pytest.fixture
def pigeon() -> Iterator[platforms.Platform]:
    MESSENGER.sent.clear()
    with platforms.registered(PIGEON) as spec:
        yield spec


@pytest.fixture
async def process(
    pigeon: platforms.Platform, tmp_path: Path, db_url: str
) -> AsyncIterator[tuple[Process, list[datetime]]]:
    path = tmp_path / "nudgebot.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    clock = [T0]
    runtime = Runtime.from_config(load_config(str(path)), db_url, now=lambda: clock[0])
    proc = assemble(runtime)
    try:
        yield proc, clock
    finally:
        await runtime.close()


async def test_a_note_to_the_loft_becomes_a_nudge_by_pigeon(
    process: tuple[Process, list[datetime]],
) -> None:
    proc, clock = process
    assert [c.name for c in proc.components] == ["pigeon"]
    transport = httpx.ASGITransport(app=proc.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://nudgebot.test") as http:
        note = {"id": "n1", "loft": "north", "ring": "C-99", "text": "help", "at": T0.timestamp()}
        assert (await http.post("/pigeon/inbound", json=note)).status_code == 200
        assert (await http.post("/pigeon/inbound", content=b"{")).status_code == 400
        ready = (await http.get("/readyz")).json()
    assert ready["components"]["pigeon"] == "ok"
    engine = proc.runtime.engine
    assert engine is not None
    await engine.tick()
    assert MESSENGER.sent == []  # not due yet
    clock[0] = T0 + timedelta(minutes=16)
    await engine.tick()
    assert MESSENGER.sent == [("R-7", "C-99 waits in roof")]


async def test_the_members_address_and_notify_come_from_the_registry(
    pigeon: platforms.Platform,
) -> None:
    config = parse_config(CONFIG)
    alice, bob = config.team["alice"], config.team["bob"]
    assert alice.nudge_address() == ("pigeon", "R-7")  # the only address: the default
    assert bob.nudge_address() == ("pigeon", "R-8")  # notify: pigeon over slack
    assert config.person_by_platform("pigeon", "R-8") == "bob"
    assert config.sources["roof"].extra["loft"] == "north"


async def test_the_registry_entry_validates_its_keys(pigeon: platforms.Platform) -> None:
    bad = CONFIG.replace("pigeon: R-7", "pigeon: 7").replace("loft: north, ", "")
    with pytest.raises(ConfigError) as caught:
        parse_config(bad)
    said = str(caught.value)
    assert "the number 7 is not a ring number" in said
    assert "add loft: <the loft's name>" in said
    typo = CONFIG.replace("platform: pigeon", "platform: pigeonn")
    with pytest.raises(ConfigError, match="did you mean pigeon"):
        parse_config(typo)


def test_without_the_entry_the_platform_is_unknown() -> None:
    with pytest.raises(ConfigError, match="unknown platform 'pigeon'"):
        parse_config(CONFIG)


async def test_a_reply_window_in_the_entry_moves_the_due_time(tmp_path: Path, db_url: str) -> None:
    """``reply_window`` (WhatsApp's 24 h) is a registry capability: a 10-minute window here
    makes a 15-minute policy's nudge due when the window closes, with no code elsewhere."""
    MESSENGER.sent.clear()
    path = tmp_path / "nudgebot.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    clock = [T0]
    with platforms.registered(replace(PIGEON, reply_window=timedelta(minutes=10))):
        runtime = Runtime.from_config(load_config(str(path)), db_url, now=lambda: clock[0])
        proc = assemble(runtime)
        try:
            transport = httpx.ASGITransport(app=proc.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://n.test") as http:
                note: dict[str, object] = {"id": "w1", "loft": "north", "ring": "C-5"}
                note.update(text="hi", at=T0.timestamp())
                assert (await http.post("/pigeon/inbound", json=note)).status_code == 200
            [row] = await list_waiting(runtime.db, runtime.routing, T0)
            assert row.due_at == T0 + timedelta(minutes=10)
            assert row.reply_window_closes_at == T0 + timedelta(minutes=10)
            clock[0] = T0 + timedelta(minutes=11)
            await runtime.engine.tick()
            assert MESSENGER.sent == [("R-7", "C-5 waits in roof")]
        finally:
            await runtime.close()
