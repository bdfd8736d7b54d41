"""The read-only path of `waiting` (bot.cli.fastpath over storage.fastread) answers exactly as
the full path (Runtime, SQLAlchemy, OncallService) does on the same database and config:
routing by owner, rotation, stored `oncall take` overrides, claims and nudge counts; and it
steps aside where only the full path can answer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bench.cli_bench import populate
from bot.app import Runtime
from bot.cli.fastpath import open_view
from bot.services.waiting import count_waiting, list_waiting
from storage.models import Nudge
from storage.oncall_repo import add_override
from tests.conftest import BACKEND

CONFIG = """\
timezone: Europe/Berlin
team:
  alice: {name: Alice, owner: true}
  bob: {name: Bob}
  carol: {name: Carol, hours: "mon-fri 09:00-17:00", timezone: Asia/Tokyo}
rotations:
  support: {members: [carol, alice], shift: 1w, handoff: "mon 09:00", start: 2026-11-02,
            timezone: Europe/Berlin}
sources:
  source-1: {platform: webhook, secret: test-secret-0123456789abcdef0123456789, rotation: support}
  source-2: {platform: webhook, secret: test-secret-0123456789abcdef0123456789, owner: carol}
  source-3: {platform: webhook, secret: test-secret-0123456789abcdef0123456789}
"""


@pytest.fixture
def setup(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    populate(db_url, BACKEND, 40)
    engine = create_engine(db_url.replace("sqlite:///", "sqlite+pysqlite:///"))
    with engine.begin() as conn:
        conn.execute(text("UPDATE conversations SET claimed_by = 'bob' WHERE id IN (3, 7)"))
        conn.execute(text("UPDATE conversations SET customer_name = NULL WHERE id = 4"))
        conn.execute(text("UPDATE conversations SET channel = 'general' WHERE id = 5"))
    engine.dispose()
    config = tmp_path / "nudgebot.yaml"
    config.write_text(CONFIG)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("NUDGEBOT_CONFIG", raising=False)
    yield config


async def _sent_nudge(runtime: Runtime, conversation: int) -> None:
    async with runtime.db.write() as session:
        since = (
            await session.execute(
                text("SELECT waiting_since FROM conversations WHERE id = :i"), {"i": conversation}
            )
        ).scalar_one()
        since = datetime.fromisoformat(str(since)).replace(tzinfo=UTC)
        nudge = Nudge(
            conversation_id=conversation, period_start=since, track="responsible", seq=0,
            recipient_key="person:alice", step="first", recipient_person="alice",
            slot_at=since, not_before=since, created_at=since, state="sent", sent_at=since,
        )  # fmt: skip
        session.add(nudge)


@pytest.mark.parametrize(
    ("source", "person", "limit"),
    [(None, None, 50), (None, None, 10), ("source-1", None, 5), (None, "bob", 50),
     (None, "alice", None), (None, "carol", 3)],
)  # fmt: skip
async def test_fast_path_answers_as_the_full_path(
    setup: Path, source: str | None, person: str | None, limit: int | None
) -> None:
    now = datetime.now(UTC)
    runtime = Runtime.build(str(setup), now=lambda: now)
    try:
        await _sent_nudge(runtime, 2)
        # Bob takes the support rotation: source-1's conversations route to him.
        await add_override(
            runtime.db, rotation="support", person="bob", start=now - timedelta(hours=1),
            end=now + timedelta(hours=5), created_at=now - timedelta(minutes=5),
        )  # fmt: skip
        view = open_view(str(setup))
        assert view is not None
        view.now = now
        try:
            fast, fast_total = view.waiting(source=source, person=person, limit=limit)
        finally:
            view.close()
        await runtime.oncall.prepare()
        for at in (now, now + timedelta(hours=6), now + timedelta(days=9)):  # `oncall --at`
            assert view.oncall.report(at) == runtime.oncall.report(at)
        assert view.oncall.report(now)["rotations"]["support"]["on_call"] == "bob"
        full = await list_waiting(runtime.db, runtime.routing, now, source=source, person=person,
                                  limit=limit)  # fmt: skip
        full_total = len(full) if person else await count_waiting(runtime.db, source)
    finally:
        await runtime.close()
    assert fast and [r.as_json() for r in fast] == [r.as_json() for r in full]
    if person is None and limit is not None:
        assert fast_total == full_total
    by_id = {r.conversation: r for r in fast}
    if 2 in by_id:
        assert by_id[2].nudges_sent == 1
    if 1 in by_id and source == "source-1":
        assert by_id[1].responsible == "bob"  # the stored override, not the weekly turn


def test_fast_path_steps_aside_for_calendars_and_new_databases(
    setup: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calendar = tmp_path / "oncall.ics"
    calendar.write_text("BEGIN:VCALENDAR\nVERSION:2.0\nEND:VCALENDAR\n")
    ical = tmp_path / "ical.yaml"
    ical.write_text(CONFIG.replace(
        "rotations:\n  support: {members: [carol, alice], shift: 1w, handoff: \"mon 09:00\", "
        "start: 2026-11-02,\n            timezone: Europe/Berlin}",
        f"rotations:\n  support: {{ical: {calendar}}}",
    ))  # fmt: skip
    assert "ical:" in ical.read_text()
    assert open_view(str(ical)) is None  # only the full path loads the calendar
    if BACKEND == "sqlite":
        missing = tmp_path / "new.db"
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{missing}")
        assert open_view(str(setup)) is None
        assert not missing.exists()  # the fast path never creates a database
