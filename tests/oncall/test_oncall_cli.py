"""`nudgebot oncall`, `oncall take` and `oncall turns` through the real console script."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from bot.cli.main import app
from tests.oncall.oncall_kit import WEEKLY, needs_ical, with_ical, write_config


@pytest.fixture
def cli(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("NUDGEBOT_MESSENGER", raising=False)

    def run(*args: str, config: str = WEEKLY) -> Result:
        path = write_config(tmp_path, config)
        monkeypatch.setenv("NUDGEBOT_CONFIG", str(path))
        return CliRunner().invoke(app, list(args))

    return run


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_oncall_json_shape_for_a_weekly_rotation(cli: Any) -> None:
    data = as_json(cli("oncall", "--json", "--at", "2026-11-25T12:00:00Z"))
    assert data == {
        "at": "2026-11-25T12:00:00Z",
        "rotations": {
            "support": {
                "on_call": "alice",
                "since": "2026-11-23T08:00:00Z",  # Mon 09:00 Europe/Berlin (CET)
                "until": "2026-11-30T08:00:00Z",
                "next": "bob",
            }
        },
    }
    # A zone in --at is honoured; the answer is in UTC.
    later = as_json(cli("oncall", "--json", "--at", "2026-12-01T10:00:00+01:00"))
    assert later["at"] == "2026-12-01T09:00:00Z"
    assert later["rotations"]["support"]["on_call"] == "bob"


def test_config_overrides_apply_in_file_order(cli: Any) -> None:
    # bob 12-16..12-19 and, listed later, carol 12-17..12-18 (Berlin): carol wins the overlap.
    bob = as_json(cli("oncall", "--json", "--at", "2026-12-16T12:00:00Z"))["rotations"]["support"]
    assert bob == {
        "on_call": "bob",
        "since": "2026-12-15T23:00:00Z",
        "until": "2026-12-16T23:00:00Z",
        "next": "carol",
    }
    carol = as_json(cli("oncall", "--json", "--at", "2026-12-17T12:00:00Z"))
    assert carol["rotations"]["support"]["on_call"] == "carol"
    assert carol["rotations"]["support"]["until"] == "2026-12-17T23:00:00Z"
    back = as_json(cli("oncall", "--json", "--at", "2026-12-19T12:00:00Z"))
    assert back["rotations"]["support"]["on_call"] == "alice"  # alice's week resumes


def test_take_stores_an_override_that_wins(cli: Any) -> None:
    at = "2031-03-05T12:00:00Z"
    before = as_json(cli("oncall", "--json", "--at", at))["rotations"]["support"]["on_call"]
    taken = cli(
        "oncall", "take", "support", "--person", "bernard",
        "--from", "2031-03-05T10:00:00Z", "--until", "2031-03-05T14:00:00Z", "--note", "swap",
    )  # fmt: skip
    assert taken.exit_code == 0, taken.stderr
    assert "Bernard Desruisseaux (bernard) is on call in support" in taken.stdout
    after = as_json(cli("oncall", "--json", "--at", at))["rotations"]["support"]
    assert before != "bernard"
    assert after == {
        "on_call": "bernard",
        "since": "2031-03-05T10:00:00Z",
        "until": "2031-03-05T14:00:00Z",
        "next": before,
    }
    # A later take over the same stretch wins: the latest created override.
    again = cli(
        "oncall", "take", "support", "--person", "carol", "--from", "2031-03-05T11:00:00Z",
        "--for", "2h",
    )  # fmt: skip
    assert again.exit_code == 0, again.stderr
    now = as_json(cli("oncall", "--json", "--at", at))["rotations"]["support"]
    assert (now["on_call"], now["until"]) == ("carol", "2031-03-05T13:00:00Z")
    turns = as_json(
        cli("oncall", "turns", "support", "--from", "2031-03-05T09:00:00Z", "--days", "1", "--json")
    )
    assert [(t["person"], t["start"], t["override"]) for t in turns[:4]] == [
        (before, turns[0]["start"], False),
        ("bernard", "2031-03-05T10:00:00Z", True),
        ("carol", "2031-03-05T11:00:00Z", True),
        ("bernard", "2031-03-05T13:00:00Z", True),
    ]


def test_take_without_a_length_takes_the_rest_of_the_turn(cli: Any) -> None:
    result = cli("oncall", "take", "support", "--person", "carol", "--from", "2031-03-05T12:00Z")
    assert result.exit_code == 0, result.stderr
    data = as_json(cli("oncall", "--json", "--at", "2031-03-06T12:00:00Z"))["rotations"]["support"]
    assert data["on_call"] == "carol"
    assert data["since"] == "2031-03-05T12:00:00Z"
    assert data["until"] == "2031-03-10T08:00:00Z"  # Mon 09:00 CET: the turn's own end


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("oncall", "--at", "yesterday-ish"), "--at 'yesterday-ish' is not an ISO-8601 time"),
        (("oncall", "take", "nightshift", "--person", "bob"), "unknown rotation 'nightshift'"),
        (("oncall", "take", "support", "--person", "zed"), "unknown person 'zed'"),
        (("oncall", "take", "support", "--person", "bob", "--for", "0s"), "longer than zero"),
        (("oncall", "take", "support", "--person", "bob", "--for", "soon"), "not a duration"),
        (
            ("oncall", "take", "support", "--person", "bob", "--until", "2020-01-01T00:00Z"),
            "lies in the past",
        ),
        (
            (
                "oncall",
                "take",
                "support",
                "--person",
                "bob",
                "--for",
                "1h",
                "--until",
                "2031-01-01",
            ),
            "either --for or --until",
        ),
        (("oncall", "take", "support", "--person", "bob", "--until", "tomorrow"), "--until"),
        (("oncall", "turns", "nightshift"), "unknown rotation 'nightshift' (known: support)"),
    ],
)
def test_bad_input_is_a_clear_error_and_stores_nothing(
    cli: Any, args: tuple[str, ...], message: str
) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    turns = as_json(cli("oncall", "turns", "support", "--from", "2026-11-23T08:00Z", "--json"))
    assert not any(t["override"] for t in turns)


def test_table_output(cli: Any) -> None:
    result = cli("oncall", "--at", "2026-11-25T12:00:00Z")
    assert result.exit_code == 0, result.stderr
    for text in ("support", "Alice Liddell", "Mon 2026-11-23", "09:00", "Bob"):
        assert text in result.stdout


def test_ical_rotations_from_the_real_calendars(cli: Any) -> None:
    plain = needs_ical("google-daily-rrule.ics")
    edited = needs_ical("google-daily-rrule-edited.ics")
    config = with_ical(str(plain), "daily").replace(
        "rotations:\n", f"rotations:\n  edited:\n    ical: {edited}\n", 1
    )
    # 13:00-22:00 Asia/Yekaterinburg (+05) every day; on 2021-01-27 the edit gives it to @Bob.
    data = as_json(cli("oncall", "--json", "--at", "2021-01-27T10:00:00Z", config=config))
    assert data["rotations"]["daily"] == {
        "on_call": "bernard",
        "since": "2021-01-27T08:00:00Z",
        "until": "2021-01-27T17:00:00Z",
        "next": None,
    }
    assert data["rotations"]["edited"] == {
        "on_call": "bob",
        "since": "2021-01-27T08:00:00Z",
        "until": "2021-01-27T17:00:00Z",
        "next": "bernard",
    }
    assert "problems" not in data
    night = as_json(cli("oncall", "--json", "--at", "2021-01-27T20:00:00Z", config=config))
    assert night["rotations"]["daily"] == {
        "on_call": None,
        "since": None,
        "until": "2021-01-28T08:00:00Z",  # the gap lasts until the next turn starts
        "next": "bernard",
    }
    turns = as_json(
        cli(
            "oncall", "turns", "edited", "--from", "2021-01-26T00:00Z", "--days", "3", "--json",
            config=config,
        )
    )  # fmt: skip
    people = [(t["person"], t["start"][:10]) for t in turns if t["person"]]
    assert people == [("bernard", "2021-01-26"), ("bob", "2021-01-27"), ("bernard", "2021-01-28")]


@pytest.mark.parametrize(
    "body",
    [
        b"not a calendar at all",
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n",  # no events
        b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20200101T000000Z\r\n"
        b"RRULE:FREQ=SECONDLY\r\nSUMMARY:bob\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        b"BEGIN:VCALENDAR\r\n" + b"BEGIN:VEVENT\r\n" * 50 + b"END:VCALENDAR\r\n",
    ],
    ids=["garbage", "no-events", "secondly", "deep"],
)
def test_hostile_calendar_file_is_reported_not_fatal(cli: Any, tmp_path: Path, body: bytes) -> None:
    bad = tmp_path / "hostile.ics"
    bad.write_bytes(body)
    config = with_ical(str(bad))
    data = as_json(cli("oncall", "--json", "--at", "2026-11-25T12:00:00Z", config=config))
    assert data["rotations"]["feed"] == {
        "on_call": None, "since": None, "until": None, "next": None,
    }  # fmt: skip
    assert str(bad) in data["problems"]["feed"]
    assert data["rotations"]["support"]["on_call"] == "alice"  # the others are unaffected
    # Taking the pager still works on the broken rotation.
    taken = cli(
        "oncall", "take", "feed", "--person", "bob", "--from", "2031-01-01T00:00Z", "--for", "8h",
        config=config,
    )  # fmt: skip
    assert taken.exit_code == 0, taken.stderr
    later = as_json(cli("oncall", "--json", "--at", "2031-01-01T01:00:00Z", config=config))
    assert later["rotations"]["feed"]["on_call"] == "bob"
    table = cli("oncall", "--at", "2026-11-25T12:00:00Z", config=config)
    assert table.exit_code == 0
    assert "warning: rotation feed" in table.stderr


def test_bad_rotation_config_names_every_problem_without_a_traceback(cli: Any) -> None:
    config = (
        WEEKLY.replace("members: [alice, bob, carol]", "members: [alice, zed]")
        .replace("shift: 1w", "shift: 0s")
        .replace("handoff: Mon 09:00", "handoff: Funday 25:00")
    )
    result = cli("check-config", config=config)
    assert result.exit_code == 1
    said = " ".join((result.stdout + result.stderr).split())
    assert "rotations.support.members[1]: unknown person 'zed'" in said
    assert "rotations.support.shift: '0s' must be longer than zero" in said
    assert "rotations.support.handoff: 'Funday 25:00' is not a handoff time" in said
    assert "Traceback" not in said
