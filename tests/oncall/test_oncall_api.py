"""``GET /api/oncall`` and ``GET /api/rotations/{id}.ics`` through the real ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import icalendar
import pytest

from bot.app import Runtime
from bot.services.oncall_export import AHEAD, PAST
from bot.web.app import create_app
from bot.web.metrics import Metrics
from tests.oncall.oncall_kit import TOKEN, Clock, load, make_runtime, needs_ical, utc, with_ical

NOW = utc(2026, 12, 16, 12)  # in the config's bob override (12-16..12-19, carol on 12-17)
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def runtime(tmp_path: Path, db_url: str) -> AsyncIterator[Runtime]:
    runtime_ = make_runtime(load(tmp_path), db_url, Clock(NOW))
    yield runtime_
    await runtime_.close()


@pytest.fixture
async def client(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("NUDGEBOT_API_TOKEN", TOKEN)
    app = create_app(runtime, metrics=Metrics())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as c:
        yield c


async def test_api_oncall_is_the_cli_json(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/oncall", headers=AUTH)
    assert answer.status_code == 200
    assert answer.json() == {
        "at": "2026-12-16T12:00:00Z",
        "rotations": {
            "support": {
                "on_call": "bob",
                "since": "2026-12-15T23:00:00Z",
                "until": "2026-12-16T23:00:00Z",
                "next": "carol",
            }
        },
    }
    later = await client.get("/api/oncall", params={"at": "2026-11-25T13:00:00+01:00"},
                             headers=AUTH)  # fmt: skip
    assert later.json()["at"] == "2026-11-25T12:00:00Z"
    assert later.json()["rotations"]["support"]["on_call"] == "alice"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Authorization": f"Basic {TOKEN}"}, 401),
        (AUTH, 200),
    ],
)
async def test_api_oncall_needs_the_bearer_token(
    client: httpx.AsyncClient, headers: dict[str, str], status: int
) -> None:
    answer = await client.get("/api/oncall", headers=headers)
    assert answer.status_code == status
    if status == 401:
        assert set(answer.json()) == {"error"}


async def test_api_oncall_refuses_everyone_without_a_configured_token(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NUDGEBOT_API_TOKEN", raising=False)
    app = create_app(runtime, metrics=Metrics())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/api/oncall", headers=AUTH)).status_code == 401
        assert (await c.get("/api/rotations/support.ics", params={"token": ""})).status_code == 401


@pytest.mark.parametrize("at", ["garbage", "2026-13-01T00:00:00Z", "99999-01-01", "\x00"])
async def test_garbage_at_is_400(client: httpx.AsyncClient, at: str) -> None:
    answer = await client.get("/api/oncall", params={"at": at}, headers=AUTH)
    assert answer.status_code == 400
    assert "is not an ISO-8601 time" in answer.json()["error"]


async def test_export_parses_back_and_matches_the_turns(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    answer = await client.get("/api/rotations/support.ics", headers=AUTH)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(answer.content)
    events = calendar.walk("VEVENT")
    turns = [t for t in runtime.oncall.turns("support", NOW - PAST, NOW + AHEAD) if t.person]
    assert len(events) == len(turns) > 14
    names = {"alice": "Alice Liddell", "bob": "Bob", "carol": "Carol"}
    for event, turn in zip(events, turns, strict=True):
        assert event["DTSTART"].dt == turn.start
        assert event["DTEND"].dt == turn.end
        assert str(event["SUMMARY"]) == f"On call: {names[str(turn.person)]}"
        assert event["DTSTAMP"].dt == NOW
    uids = [str(e["UID"]) for e in events]
    assert len(set(uids)) == len(uids)
    # Covers two weeks back and twelve ahead, and UIDs are stable from one fetch to the next.
    assert events[0]["DTSTART"].dt <= NOW - PAST < events[0]["DTEND"].dt
    assert events[-1]["DTEND"].dt >= NOW + AHEAD - timedelta(weeks=1)
    again = icalendar.Calendar.from_ical((await client.get("/api/rotations/support.ics",
                                                           headers=AUTH)).content)  # fmt: skip
    assert [str(e["UID"]) for e in again.walk("VEVENT")] == uids
    # An override shows up as its own turn.
    overrides = [e for e in events if "(override)" in str(e["DESCRIPTION"])]
    assert [(e["DTSTART"].dt, str(e["SUMMARY"])) for e in overrides] == [
        (datetime(2026, 12, 15, 23, tzinfo=UTC), "On call: Bob"),
        (datetime(2026, 12, 16, 23, tzinfo=UTC), "On call: Carol"),
        (datetime(2026, 12, 17, 23, tzinfo=UTC), "On call: Bob"),
    ]


async def test_export_token_in_the_query_for_calendar_apps(client: httpx.AsyncClient) -> None:
    ok = await client.get("/api/rotations/support.ics", params={"token": TOKEN})
    assert ok.status_code == 200
    assert ok.content.startswith(b"BEGIN:VCALENDAR")
    assert (await client.get("/api/rotations/support.ics")).status_code == 401
    bad = await client.get("/api/rotations/support.ics", params={"token": "nope"})
    assert bad.status_code == 401
    mine = await client.get("/api/rotations/support.ics", params={"token": TOKEN, "person": "bob"})
    summaries = {
        str(e["SUMMARY"]) for e in icalendar.Calendar.from_ical(mine.content).walk("VEVENT")
    }
    assert summaries == {"On call: Bob"}


async def test_export_unknown_rotation_is_404(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/rotations/nightshift.ics", headers=AUTH)
    assert answer.status_code == 404
    assert answer.json() == {"error": "unknown rotation 'nightshift' (known: support)"}
    person = await client.get("/api/rotations/support.ics", params={"person": "zed"}, headers=AUTH)
    assert person.status_code == 400


async def test_ical_rotation_exports_the_real_calendar(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    edited = needs_ical("google-daily-rrule-edited.ics")
    clock = Clock(utc(2021, 1, 27, 10))
    runtime = make_runtime(load(tmp_path, with_ical(str(edited))), db_url, clock)
    monkeypatch.setenv("NUDGEBOT_API_TOKEN", TOKEN)
    app = create_app(runtime, metrics=Metrics())
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as c:
            now = (await c.get("/api/oncall", headers=AUTH)).json()
            assert now["rotations"]["feed"] == {
                "on_call": "bob",
                "since": "2021-01-27T08:00:00Z",
                "until": "2021-01-27T17:00:00Z",
                "next": "bernard",
            }
            body = (await c.get("/api/rotations/feed.ics", headers=AUTH)).content
        events = icalendar.Calendar.from_ical(body).walk("VEVENT")
        # The series starts 2021-01-24 (inside the 2 weeks back) and runs daily: one edited day.
        days = [(e["DTSTART"].dt.date().isoformat(), str(e["SUMMARY"])) for e in events]
        assert days[0] == ("2021-01-24", "On call: Bernard Desruisseaux")
        assert ("2021-01-27", "On call: Bob") in days
        assert sum(1 for _, s in days if s == "On call: Bob") == 1
        assert len(days) == (clock.at + AHEAD - utc(2021, 1, 24)).days + 1
    finally:
        await runtime.close()


async def test_hostile_calendar_keeps_the_app_serving(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.ics"
    bad.write_bytes(b"BEGIN:VCALENDAR\r\n" + b"BEGIN:VEVENT\r\n" * 30 + b"\xff\xfe garbage")
    runtime = make_runtime(load(tmp_path, with_ical(str(bad))), db_url, Clock(NOW))
    monkeypatch.setenv("NUDGEBOT_API_TOKEN", TOKEN)
    app = create_app(runtime, metrics=Metrics())
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as c:
            body = (await c.get("/api/oncall", headers=AUTH)).json()
            assert body["rotations"]["feed"]["on_call"] is None
            assert "nested" in body["problems"]["feed"]
            assert body["rotations"]["support"]["on_call"] == "bob"
            export = await c.get("/api/rotations/feed.ics", headers=AUTH)
            assert export.status_code == 200
            assert "nested" in export.headers["x-nudgebot-warning"]
            assert icalendar.Calendar.from_ical(export.content).walk("VEVENT") == []
            metrics = (await c.get("/metrics")).text
            assert 'nudgebot_ical_fetch_failures_total{rotation="feed"} 1' in metrics
            assert "nudgebot_ical_last_success_timestamp{" not in metrics
            assert (await c.get("/healthz")).status_code == 200
            assert (await c.get("/api/waiting", headers=AUTH)).status_code == 200
    finally:
        await runtime.close()
