"""One time-zone rule in the CLI: times shown in the config's timezone (or --tz), labelled;
--at without an offset read in that zone; people by name."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config import Config, parse_config

CONFIG = """\
timezone: Europe/Berlin
team:
  alice: {name: Alice, owner: true}
  bob: {name: Bob}
rotations:
  support: {members: [alice, bob], shift: 1w, handoff: "mon 09:00", start: 2026-11-02,
            timezone: Europe/Berlin}
"""


def _cli(db_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "nudgebot.yaml").write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUDGEBOT_")}
    env.update(DATABASE_URL=db_url, COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_oncall_at_without_offset_is_read_in_the_config_zone(db_url: str, tmp_path: Path) -> None:
    done = _cli(db_url, tmp_path, "oncall", "--at", "2026-12-24T10:00", "--json")
    assert done.returncode == 0, done.stderr
    assert "2026-12-24T09:00:00Z" in json.dumps(json.loads(done.stdout))


def test_oncall_table_is_labelled_in_the_config_zone(db_url: str, tmp_path: Path) -> None:
    done = _cli(db_url, tmp_path, "oncall", "--at", "2026-12-24T10:00")
    assert done.returncode == 0, done.stderr
    assert "On call at 2026-12-24 10:00 CET (times in Europe/Berlin)" in done.stdout
    utc = _cli(db_url, tmp_path, "oncall", "--at", "2026-12-24T10:00", "--tz", "UTC")
    assert "On call at 2026-12-24 10:00 UTC (times in UTC)" in utc.stdout


def test_stats_title_is_local_without_microseconds(db_url: str, tmp_path: Path) -> None:
    done = _cli(db_url, tmp_path, "stats")
    assert done.returncode == 0, done.stderr
    title = next(line for line in done.stdout.splitlines() if "Response times" in line)
    assert "(times in Europe/Berlin)" in title
    assert not re.search(r"\d\d:\d\d:\d\d\.\d+", title)


# --- the same rule on the dashboard and in the digests ------------------------------------


def _berlin() -> Config:
    return parse_config(CONFIG)


def test_dashboard_times_are_in_the_config_zone_and_labelled() -> None:
    from bot.web.dashboard import View
    from bot.web.fmt import People

    at = datetime(2026, 12, 24, 9, 0, tzinfo=UTC)
    summer = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    people = People(_berlin())
    assert people.when(at) == "Thu 24 Dec 2026 10:00 CET"
    assert people.when(summer) == "Wed 01 Jul 2026 11:00 CEST"
    view = View.__new__(View)  # the overview page's own formatter: same rule
    View.__init__(view, None, _berlin())  # type: ignore[arg-type]
    assert view.when(at) == "Thu 24 Dec 2026 10:00 CET"


def test_dashboard_and_digest_name_people_never_person_ids() -> None:
    from bot.services.digest import DigestWriter
    from bot.web.fmt import People

    config = _berlin()
    assert People(config).name("person:alice") == "Alice"
    assert People(config).name("alice") == "Alice"
    assert People(config).name("U0STRANGER") == "U0STRANGER"  # not a member: as given
    writer = DigestWriter(None, config)  # type: ignore[arg-type]
    assert writer.name("person:bob") == "Bob"
    turn = {"on_call": "alice", "until": "2026-12-07T08:00:00Z", "next": "person:bob"}
    lines = writer._oncall({"rotations": {"support": turn}}, ZoneInfo("Europe/Berlin"))
    assert lines == ["support: Alice until Mon 07 Dec 09:00 CET, then Bob"]


def test_stats_names_people(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.cli.common import out
    from bot.cli.queries import _print_stats

    times = {"median_seconds": 60, "p90_seconds": 120}
    bucket = {"first_response": times, "reply": times, "sla_met_ratio": 1.0, "replies": 1,
              "broadcasts": 0, "unanswered": 0}  # fmt: skip
    data = {**bucket, "since": "2026-12-01T00:00:00Z", "until": "2026-12-02T00:00:00Z",
            "by_source": {}, "by_person": {"person:alice": bucket}}  # fmt: skip
    console = out.console()  # the rich Console behind the CLI's lazy one
    monkeypatch.setattr(console, "width", 200)
    with console.capture() as captured:
        _print_stats(data, ZoneInfo("Europe/Berlin"), _berlin().display_name)
    assert "person: Alice" in captured.get() and "person:alice" not in captured.get()
