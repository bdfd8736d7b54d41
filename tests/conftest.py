"""Shared fixtures: a real database for every test, SQLite or PostgreSQL.

``NUDGEBOT_TEST_DB=postgresql`` runs the suite against PostgreSQL (``NUDGEBOT_TEST_PG``
names the server, default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``). Each
test session gets its own database, migrated once; tests start from empty tables.
Under ``CI=true`` an unreachable PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from storage.db import Database, connect
from storage.migrate import upgrade
from storage.models import Base

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
BACKEND = os.environ.get("NUDGEBOT_TEST_DB", "sqlite")
PG_SERVER = os.environ.get(
    "NUDGEBOT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def pytest_report_header() -> str:
    return f"nudgebot database backend: {BACKEND}"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A throwaway PostgreSQL database for this test session, dropped at the end."""
    server = make_url(PG_SERVER)
    name = f"nudgebot_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
            # A test's commits need not reach the disk: without this each one waits on a
            # WAL flush (~10 ms on a busy machine). Set on this database only, never on the
            # shared server's configuration.
            conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    except Exception as exc:  # pragma: no cover - depends on the machine
        admin.dispose()
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {PG_SERVER} is unreachable under CI=true: {exc}")
        pytest.skip(f"PostgreSQL at {PG_SERVER} is unreachable: {exc}")
    url = server.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# Emptying the tables between tests: TRUNCATE makes new files for every table, index and
# sequence and its commit always waits on a WAL flush, 0.2–1 s a test on a busy machine;
# DELETE of the few rows a test leaves costs milliseconds. Deleted rows stay behind as dead
# tuples (autovacuum may be off), so once the tables have grown past this size TRUNCATE runs
# instead and they start small again. One statement, so one round trip per test.
_PG_TRUNCATE_ABOVE_BYTES = 8 * 1024 * 1024
_TABLES = [t.name for t in Base.metadata.sorted_tables]
_PG_EMPTY = f"""
DO $$
BEGIN
  IF (SELECT sum(pg_total_relation_size(quote_ident(n)::regclass))
      FROM unnest(ARRAY[{", ".join(f"'{t}'" for t in _TABLES)}]) AS n)
     > {_PG_TRUNCATE_ABOVE_BYTES} THEN
    TRUNCATE {", ".join(f'"{t}"' for t in _TABLES)} RESTART IDENTITY CASCADE;
  ELSE
    {" ".join(f'DELETE FROM "{t}";' for t in reversed(_TABLES))}
    -- the sequences of the tables' serial columns, back to their start (RESTART IDENTITY)
    PERFORM setval(s.seqrelid, s.seqstart, false) FROM pg_sequence s
      JOIN pg_depend d ON d.objid = s.seqrelid AND d.classid = 'pg_class'::regclass
        AND d.deptype IN ('a', 'i')
      JOIN pg_class t ON t.oid = d.refobjid
      JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema()
      WHERE t.relname = ANY(ARRAY[{", ".join(f"'{t}'" for t in _TABLES)}]);
  END IF;
END $$
"""


@pytest.fixture(scope="session")
def pg_emptier(pg_database: str) -> Iterator[Callable[[], None]]:
    """Empties the session database's tables, over one connection kept for the session (a
    new connection per test costs more than the emptying: a backend, its catalog caches)."""
    engine = create_engine(pg_database, pool_size=1)

    def empty() -> None:
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql(_PG_EMPTY)
        except DBAPIError as exc:  # a test ended sessions (pg_terminate_backend): reconnect
            if not exc.connection_invalidated:
                raise
            with engine.begin() as conn:
                conn.exec_driver_sql(_PG_EMPTY)

    yield empty
    engine.dispose()


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database URL of the backend under test."""
    if BACKEND == "postgresql":
        url: str = request.getfixturevalue("pg_database")
        request.getfixturevalue("pg_emptier")()
        return url
    path = tmp_path / "nudgebot.db"
    shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per session; each test gets a copy of it (Alembic per
    test cost ~0.1 s, a copy ~1 ms). The migration leaves no journal or WAL file behind, so
    the copy is the whole database, byte for byte what ``upgrade`` makes."""
    path = tmp_path_factory.mktemp("sqlite-template") / "nudgebot.db"
    upgrade(f"sqlite:///{path}")
    leftovers = sorted(p.name for p in path.parent.iterdir() if p != path)
    assert not leftovers, f"the migrated template left {leftovers} beside it"
    return path


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = connect(db_url)
    yield database
    await database.dispose()


def shared_data(name: str) -> Path:
    """``../shared/data/<name>``; when absent the test skips, or fails under ``CI=true``
    (CI is given the data: a silent skip there would hide every real-data test)."""
    path = SHARED_DATA / name
    if not path.exists():
        message = f"{path} is absent (../shared/data ships the real data sets)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI=true must run the real-data tests", pytrace=False)
        pytest.skip(message)
    return path
