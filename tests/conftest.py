"""Shared fixtures: a real database for every test, SQLite or PostgreSQL.

``NUDGEBOT_TEST_DB=postgresql`` runs the suite against PostgreSQL (``NUDGEBOT_TEST_PG``
names the server, default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``). Each
test session gets its own database, migrated once; tests start from empty tables.
Under ``CI=true`` an unreachable PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

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


def _truncate_pg(url: str) -> None:
    engine = create_engine(url)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database URL of the backend under test."""
    if BACKEND == "postgresql":
        url: str = request.getfixturevalue("pg_database")
        _truncate_pg(url)
        return url
    url = f"sqlite:///{tmp_path / 'nudgebot.db'}"
    upgrade(url)
    return url


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
