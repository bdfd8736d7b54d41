"""The CLI answers at once: read commands import only what they use; `waiting` shows ids,
the oldest 50 with "… and N more", whole rows when piped, TSV with --plain; times labelled."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bench.cli_bench import populate
from tests.conftest import BACKEND

HEAVY = ("slack_bolt", "telegram", "alembic", "bot.demo", "bot.cli.demo")
# Never loaded by a read command unless the config asks for them (a calendar, holidays): the
# inbox and nudge engine (only `run` and `import` act), iCal machinery, pydantic (typer 0.29
# validated every option with it).
UNUSED_ROOTS = {"slack_bolt", "telegram", "alembic", "icalendar", "recurring_ical_events",
                "holidays", "pydantic", "apscheduler"}  # fmt: skip
UNUSED = {"bot.demo", "bot.cli.demo", "bot.services.nudge_engine", "bot.services.nudge_settings",
          "bot.services.nudge_plan", "bot.services.nudge_deliver", "bot.services.ical_feed",
          "bot.domain.ical_schedule", "bot.scheduler", "bot.inbox.inbox",
          "bot.services.nudge_changes"}  # fmt: skip
# `waiting` and `oncall` read through the bare driver (bot.cli.fastpath): no SQLAlchemy,
# no httpx, no app.
# (psycopg itself loads asyncio; sqlite3 does not.)
FAST_ROOTS = {"sqlalchemy", "httpx", "aiosqlite"} | ({"asyncio"} if BACKEND == "sqlite" else set())
FAST = {"bot.app", "bot.services.oncall", "storage.db", "storage.models"}
PROBE = """
import sys
from bot.cli.main import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy_roots} or m in {heavy})
print("HEAVY:" + ",".join(heavy), file=sys.stderr)
"""


def _env(db_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NUDGEBOT_CONFIG", "COLUMNS")}
    env["DATABASE_URL"] = db_url
    (tmp_path / "nudgebot.yaml").write_text("timezone: Europe/Berlin\n")
    return env


def _cli(db_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=tmp_path, env=_env(db_url, tmp_path),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _loaded(db_url: str, tmp_path: Path, argv: list[str], roots: set[str], mods: set[str]) -> str:
    probe = PROBE.replace("{heavy_roots}", repr(roots)).replace("{heavy}", repr(mods))
    done = subprocess.run(
        [sys.executable, "-c", probe, *argv], cwd=tmp_path, env=_env(db_url, tmp_path),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    [line] = [ln for ln in done.stderr.splitlines() if ln.startswith("HEAVY:")]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    return line


@pytest.mark.parametrize("argv", [["waiting"], ["stats"], ["history", "1"], ["oncall"]])
def test_read_commands_never_import_bolt_ptb_alembic_the_demo_or_the_nudge_engine(
    db_url: str, tmp_path: Path, argv: list[str]
) -> None:
    populate(db_url, BACKEND, 3)
    line = _loaded(db_url, tmp_path, argv, UNUSED_ROOTS, UNUSED)
    assert line == "HEAVY:", line


FAST_COMMANDS = [["waiting"], ["waiting", "--json"], ["waiting", "--all"], ["oncall"],
                 ["oncall", "--json"]]  # fmt: skip


@pytest.mark.parametrize("argv", FAST_COMMANDS)
def test_waiting_and_oncall_read_without_sqlalchemy_httpx_or_the_app(
    db_url: str, tmp_path: Path, argv: list[str]
) -> None:
    populate(db_url, BACKEND, 3)
    line = _loaded(db_url, tmp_path, argv, FAST_ROOTS | UNUSED_ROOTS, FAST | UNUSED)
    assert line == "HEAVY:", line


def test_waiting_shows_ids_and_the_oldest_fifty(db_url: str, tmp_path: Path) -> None:
    populate(db_url, BACKEND, 60)
    done = _cli(db_url, tmp_path, "waiting")
    assert done.returncode == 0, done.stderr
    assert "50 of 60 waiting" in done.stdout
    assert "… and 10 more" in done.stdout
    assert "Customer 1 " in done.stdout and "Customer 51 " not in done.stdout
    header = next(ln for ln in done.stdout.splitlines() if "customer" in ln)
    assert header.split()[1] == "id"
    assert "Europe/Berlin" in done.stdout  # times are labelled with the config's zone


def test_waiting_all_and_plain(db_url: str, tmp_path: Path) -> None:
    populate(db_url, BACKEND, 60)
    every = _cli(db_url, tmp_path, "waiting", "--all", "--plain")
    lines = every.stdout.splitlines()
    assert lines[0].split("\t")[:2] == ["id", "customer"]
    assert len(lines) == 61 and lines[1].split("\t")[:2] == ["1", "Customer 1"]
    assert "more" not in every.stdout


def test_piped_rows_are_printed_whole(db_url: str, tmp_path: Path) -> None:
    populate(db_url, BACKEND, 2)
    long = "Please look at order 12345 " + "x" * 120 + " END-OF-MESSAGE"
    engine = create_engine(db_url.replace("sqlite:///", "sqlite+pysqlite:///"))
    with engine.begin() as conn:
        conn.execute(text("UPDATE conversations SET last_text = :t WHERE id = 1"), {"t": long})
    engine.dispose()
    done = _cli(db_url, tmp_path, "waiting")
    assert long in done.stdout


def test_waiting_json_keeps_every_row_and_field(db_url: str, tmp_path: Path) -> None:
    import json

    populate(db_url, BACKEND, 60)
    rows = json.loads(_cli(db_url, tmp_path, "waiting", "--json").stdout)
    assert len(rows) == 60
    for key in ("conversation", "source", "platform", "channel", "thread", "customer",
                "waiting_since", "waiting_seconds", "due_at", "overdue", "responsible",
                "nudges_sent", "last_message", "url"):  # fmt: skip
        assert key in rows[0]
