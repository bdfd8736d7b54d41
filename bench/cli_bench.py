"""`nudgebot waiting` as a user runs it: wall time of the whole process on a database with
10,000 waiting conversations, beside `python -c pass` (the interpreter's own start) and the
raw driver query (sqlite3 / psycopg: the oldest 50 waiting rows plus the count).

Each command runs as a subprocess, several times in turn; the best of each is reported, as
timeit does, because the shared machine's speed drifts from one second to the next.

The folder holds a config with a team, a weekly rotation and sources routed by owner and by
rotation, so every row is routed as in production. The project is byte-compiled first and
``PYTHONDONTWRITEBYTECODE`` dropped from the environment: a user's installation has its
``.pyc`` files, and compiling every module from source on each start (as this sandbox's
environment would make it) measures the compiler, not the command."""

from __future__ import annotations

import compileall
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import fresh_database, pg_connect, sqlite_connect

CONVERSATIONS = 10_000
TARGET = 0.3  # seconds, wall, SQLite
_COLUMNS = (
    "id", "source", "thread_key", "platform", "channel", "thread", "url", "customer_id",
    "customer_name", "started_at", "waiting_since", "due_at", "last_message_at", "last_text",
    "customer_messages", "team_messages", "nudges_sent", "version",
)  # fmt: skip
_RAW = (
    "import sys, {mod}; c = {connect}; "
    "rows = c.execute('SELECT id, source, platform, channel, thread, customer_id, "
    "customer_name, waiting_since, due_at, claimed_by, nudges_sent, last_text, url "
    "FROM conversations WHERE waiting_since IS NOT NULL ORDER BY waiting_since, id "
    "LIMIT 50').fetchall(); "
    "n = c.execute('SELECT count(*) FROM conversations WHERE waiting_since IS NOT NULL')"
    ".fetchone()[0]; print(len(rows), n)"
)


def populate(url: str, backend: str, total: int = CONVERSATIONS) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    sqlite = backend == "sqlite"

    def fmt(d: datetime) -> object:
        return d.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else d.replace(tzinfo=UTC)

    rows = []
    for i in range(1, total + 1):
        since = now - timedelta(minutes=total - i + 5)
        rows.append((
            i, f"source-{i % 5}", f"t{i:08d}", "import", "", f"t{i:08d}",
            f"https://support.example.com/t/{i}", f"cust-{i}", f"Customer {i}", fmt(since),
            fmt(since), fmt(since + timedelta(hours=1)), fmt(since),
            "Could you check my order again please, it is still not here?", 1, 0, 0, 1,
        ))  # fmt: skip
    names = ", ".join(_COLUMNS)
    if sqlite:
        conn = sqlite_connect(url)
        marks = ", ".join("?" * len(_COLUMNS))
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(f"INSERT INTO conversations ({names}) VALUES ({marks})", rows)
        conn.execute("COMMIT")
        conn.close()
        return
    with pg_connect(url) as pg:
        with pg.cursor() as cur, cur.copy(f"COPY conversations ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        pg.commit()
        pg.autocommit = True
        pg.execute("VACUUM ANALYZE conversations")


CONFIG = """\
timezone: Europe/Berlin
team:
  alice: {name: Alice, owner: true}
  bob: {name: Bob, hours: "mon-fri 09:00-17:00"}
  carol: {name: Carol}
rotations:
  support: {members: [bob, carol], shift: 1w, handoff: "mon 09:00", start: 2026-11-02}
sources:
  source-0: {platform: webhook, secret: bench-secret-0123456789abcdef0123456789}
  source-1: {platform: webhook, secret: bench-secret-0123456789abcdef0123456789,
             rotation: support}
  source-2: {platform: webhook, secret: bench-secret-0123456789abcdef0123456789, owner: bob}
  source-3: {platform: webhook, secret: bench-secret-0123456789abcdef0123456789,
             rotation: support}
  source-4: {platform: webhook, secret: bench-secret-0123456789abcdef0123456789, owner: carol}
"""


# The same config plus a rotation read from an iCal file: only the full path (SQLAlchemy,
# the on-call service with icalendar) can answer it, so this is the full path's time in the
# same run, beside the read-only path's.
CALENDAR = """\
BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//nudgebot bench//EN
BEGIN:VEVENT
UID:turn-1@bench
DTSTAMP:20261101T000000Z
DTSTART:20261102T080000Z
DTEND:20261109T080000Z
RRULE:FREQ=WEEKLY
SUMMARY:Bob
END:VEVENT
END:VCALENDAR
"""
FULL = "nudgebot waiting (full path: an iCal rotation)"


def _wall(argv: list[str], env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()[-500:]}")
    return took


def run_cli(backend: str, rounds: int = 5) -> dict[str, float]:
    """Best wall time (seconds) of each command over ``rounds`` rounds taken in turns."""
    root = Path(__file__).resolve().parent.parent
    for package in ("bot", "storage", "adapters"):
        compileall.compile_dir(root / package, quiet=1)
    with fresh_database(backend) as url, tempfile.TemporaryDirectory() as folder:
        populate(url, backend)
        Path(folder, "nudgebot.yaml").write_text(CONFIG)
        Path(folder, "oncall.ics").write_text(CALENDAR)
        full = Path(folder, "full.yaml")
        full.write_text(CONFIG.replace("sources:", "  calendar: {ical: oncall.ics}\nsources:"))
        drop = ("NUDGEBOT_CONFIG", "PYTHONDONTWRITEBYTECODE", "NUDGEBOT_MESSENGER")
        env = {k: v for k, v in os.environ.items() if k not in drop}
        env["DATABASE_URL"] = url
        env["COLUMNS"] = "160"
        nudgebot = str(Path(sys.executable).with_name("nudgebot"))
        if backend == "sqlite":
            path = url.removeprefix("sqlite:///")
            raw = _RAW.format(mod="sqlite3", connect=f"sqlite3.connect({path!r})")
        else:
            libpq = url.replace("postgresql+psycopg://", "postgresql://")
            raw = _RAW.format(mod="psycopg", connect=f"psycopg.connect({libpq!r})")
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "raw query (python + driver)": [sys.executable, "-c", raw],
            "nudgebot waiting": [nudgebot, "waiting"],
            FULL: [nudgebot, "waiting", "--config", str(full)],
        }
        _wall(commands["nudgebot waiting"], env, folder)  # warm the page cache once
        best = dict.fromkeys(commands, float("inf"))
        for _ in range(rounds):
            for name, argv in commands.items():
                best[name] = min(best[name], _wall(argv, env, folder))
        return best
