"""What every benchmark shares: throwaway migrated databases, raw driver connections, the
machine description and a plain-text table printer."""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from storage.migrate import upgrade

PG_SERVER = os.environ.get(
    "NUDGEBOT_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ("sqlite", "postgresql")


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as a plain ``postgresql://`` conninfo psycopg accepts."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def sqlite_path(url: str) -> str:
    return make_url(url).database or ""


@contextmanager
def fresh_database(backend: str, *, migrate: bool = True) -> Iterator[str]:
    """A new empty database (migrated to head unless told otherwise), removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="nudgebot_bench_") as folder:
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            if migrate:
                upgrade(url)
            yield url
        return
    server = make_url(PG_SERVER)
    name = f"nudgebot_bench_{uuid.uuid4().hex[:10]}"
    admin = libpq_url(PG_SERVER)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        if migrate:
            upgrade(url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlite_connect(url: str) -> sqlite3.Connection:
    """A raw sqlite3 connection tuned as ``storage.db`` tunes the app's own (WAL, NORMAL, FKs)."""
    conn = sqlite3.connect(sqlite_path(url), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def pg_connect(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(libpq_url(url))


def pg_available() -> str | None:
    """None when the PostgreSQL server answers, else why not."""
    try:
        with psycopg.connect(libpq_url(PG_SERVER), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"{exc.__class__.__name__}: {str(exc).strip().splitlines()[0]}"
    return None


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu(url: str) -> float:
    """CPU seconds used so far by the PostgreSQL backends (autovacuum's included) of the
    database of ``url`` — a local server only, read from /proc. Other databases' clients on
    the same server do not count; the server's shared processes (WAL writer, checkpointer)
    do not either."""
    database = make_url(url).database
    with pg_connect(url) as conn:
        pids = [r[0] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        )]  # fmt: skip
    return sum(proc_cpu(pid) for pid in pids)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine() -> str:
    versions = f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    try:
        with psycopg.connect(libpq_url(PG_SERVER), connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            versions += f", PostgreSQL {row[0] if row else '?'}"
    except psycopg.Error:
        versions += ", PostgreSQL unreachable"
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores ({cpu_model()}), "
        f"{versions}, load average {load()}"
    )


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: a p99 is a sample that happened)."""
    ordered = sorted(samples)
    rank = max(1, round(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Latency:
    samples: list[float]

    @property
    def p50(self) -> float:
        return statistics.median(self.samples)

    def p(self, pct: float) -> float:
        return percentile(self.samples, pct)

    def describe(self) -> str:
        ms = [x * 1000 for x in (self.p50, self.p(90), self.p(99))]
        return f"p50 {ms[0]:.2f} / p90 {ms[1]:.2f} / p99 {ms[2]:.2f} ms"


@dataclass
class Table:
    """Rows of strings printed with aligned columns."""

    header: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append(tuple(str(c) for c in cells))

    def render(self) -> str:
        widths = [
            max(len(r[i]) for r in [self.header, *self.rows]) for i in range(len(self.header))
        ]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in [self.header, *self.rows]
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"
