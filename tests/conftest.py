"""Shared fixtures: a real database for every test, SQLite or PostgreSQL.

``NUDGEBOT_TEST_DB=postgresql`` runs the suite against PostgreSQL (``NUDGEBOT_TEST_PG``
names the server, default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``). Each
test session gets its own database, migrated once; tests start from empty tables.
Under ``CI=true`` an unreachable PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import ssl
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


@pytest.fixture(scope="session", autouse=True)
def one_ca_bundle_load() -> Iterator[None]:
    """httpx loads certifi's CA bundle into a new SSL context for every client it makes with
    the default ``verify=True`` (~30-100 ms of CPU): PTB alone makes two per Telegram test,
    188 loads in tests/telegram. Each distinct setting is loaded once per session instead;
    the context is the one httpx would make, and no test speaks TLS through httpx."""
    import httpx._transports.default as transports  # the name httpx's transports call

    real = transports.create_ssl_context
    made: dict[tuple[object, ...], ssl.SSLContext] = {}

    def create_ssl_context(
        verify: ssl.SSLContext | str | bool = True, cert: object = None, trust_env: bool = True
    ) -> ssl.SSLContext:
        if verify is not True or cert is not None:
            return real(verify=verify, cert=cert, trust_env=trust_env)  # type: ignore[arg-type]
        key = (trust_env, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
        if key not in made:
            made[key] = real(verify=True, trust_env=trust_env)
        return made[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(transports, "create_ssl_context", create_ssl_context)
        yield


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


# Emptying the tables between tests. TRUNCATE gives a table, its indexes and its sequences
# new files, and its commit always waits on a WAL flush: 0.2–1 s for all 15 tables on a busy
# machine. So only the tables a test touched are truncated (with CASCADE, as before), and a
# test that wrote nothing costs one catalog query. DELETE would be cheaper still but is not
# the same: dead rows keep the files' size, which the planner reads (a plan test chose
# another index after a bulk test's deleted rows).
# A table is untouched while each of its relations (table, indexes, TOAST) keeps the file,
# size and planner statistics it had after its last TRUNCATE, and its sequences are unused:
# such a table is in exactly the state TRUNCATE would leave it in.
_TABLES = [t.name for t in Base.metadata.sorted_tables]
_PG_SIGNATURES = text(
    """
    WITH t AS (
        SELECT oid, relname, reltoastrelid FROM pg_class
        WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'
            AND relname = ANY(CAST(:names AS text[]))
    ), rels AS (
        SELECT relname AS tbl, oid AS rel FROM t
        UNION ALL SELECT relname, reltoastrelid FROM t WHERE reltoastrelid <> 0
        UNION ALL SELECT t.relname, i.indexrelid FROM t JOIN pg_index i ON i.indrelid = t.oid
    )
    SELECT rels.tbl, format('%s:%s:%s:%s:%s', c.relname, c.relfilenode, c.relpages,
                            c.reltuples, pg_relation_size(c.oid))
    FROM rels JOIN pg_class c ON c.oid = rels.rel
    UNION ALL
    SELECT t.relname, format('%s:%s', s.seqrelid, pg_sequence_last_value(s.seqrelid))
    FROM t
    JOIN pg_depend d ON d.refobjid = t.oid AND d.classid = 'pg_class'::regclass
        AND d.deptype IN ('a', 'i')
    JOIN pg_sequence s ON s.seqrelid = d.objid
    """
)


@pytest.fixture(scope="session")
def pg_emptier(pg_database: str) -> Iterator[Callable[[], None]]:
    """Empties the session database's tables, over one connection kept for the session (a
    new connection per test costs more than a test that wrote nothing: a backend, its
    catalog caches)."""
    engine = create_engine(pg_database, pool_size=1)
    clean: dict[str, list[str]] = {}  # table -> its signature after its last TRUNCATE

    def signatures() -> dict[str, list[str]]:
        with engine.connect() as conn:
            rows = conn.execute(_PG_SIGNATURES, {"names": _TABLES}).all()
        found: dict[str, list[str]] = {name: [] for name in _TABLES}
        for table, signature in rows:
            found[table].append(signature)
        return {table: sorted(sig) for table, sig in found.items()}

    def empty() -> None:
        nonlocal clean
        touched = [t for t, sig in signatures().items() if clean.get(t) != sig]
        if touched:  # the first call truncates all: none is known clean yet
            names = ", ".join(f'"{t}"' for t in touched)
            with engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            clean = signatures()

    def empty_or_reconnect() -> None:
        try:
            empty()
        except DBAPIError as exc:  # a test ended sessions (pg_terminate_backend): reconnect
            if not exc.connection_invalidated:
                raise
            empty()

    yield empty_or_reconnect
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
