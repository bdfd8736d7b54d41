"""Engine and session setup for SQLite (embedded default) and PostgreSQL (psycopg 3).

SQLite gets the service tuning SQLAlchemy's pysqlite notes describe: the driver's own
transaction handling is switched off so that we emit ``BEGIN`` ourselves — ``BEGIN IMMEDIATE``
for writers, so two writers queue on the busy timeout instead of failing on lock upgrade.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage import sqlite_inline

DEFAULT_URL = "sqlite:///nudgebot.db"
_WRITE = "nudgebot_write"
_BUSY_SECONDS = 30.0
# The in-loop writer (storage.sqlite_inline) must not sleep in SQLite's busy handler while
# another process holds the write lock: that would stall every request of this one. It tries
# BEGIN IMMEDIATE with this short timeout and waits between tries on the event loop
# (``Database._begin_write``), ``busy_seconds`` in all, then gives up: the database is
# "locked", which the web layer answers with 503.
_INLINE_BUSY_SECONDS = 0.05
_LOCKED_PAUSE = 0.05
PG_CONNECT_TIMEOUT = 5


class DatabaseURLError(ValueError):
    pass


# What "the database is not there right now" looks like: PostgreSQL down, restarting or
# unreachable (psycopg's connection errors, "terminating connection due to administrator
# command", "the database system is starting up"), SQLite locked past its busy timeout, a
# pool with no connection to give. Callers answer 503 / retry with backoff instead of
# treating it as a bug. (Driver errors arrive wrapped by SQLAlchemy; raw ones are checked too.)
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    sqlite3.OperationalError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)


def is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, _UNAVAILABLE):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(is_unavailable(e) for e in exc.exceptions)
    return False


def describe_error(exc: BaseException) -> str:
    """One line for a log: the class and the first line of the message (SQLAlchemy appends
    the statement and parameters on later lines, which need not reach the log)."""
    first = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def database_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get("DATABASE_URL") or DEFAULT_URL


_USERINFO = re.compile(r"(?P<user>[^:/@\s]*):[^@/\s]+@")


def redacted(url: str) -> str:
    """``url`` with any password replaced, for messages: DATABASE_URL errors never echo it."""
    return _USERINFO.sub(r"\g<user>:***@", url)


def _parse(url: str) -> URL:
    shown = redacted(url)
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise DatabaseURLError(
            f"DATABASE_URL {shown!r} is not a database URL; use sqlite:///path.db or "
            "postgresql://user@host/db"
        ) from None if "@" in url else exc
    backend = parsed.get_backend_name()
    if backend == "postgres":  # what most providers hand out (Heroku, Render, Supabase…)
        parsed = parsed.set(drivername="postgresql")
        backend = "postgresql"
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseURLError(
            f"DATABASE_URL {shown!r}: {backend} is not supported; use sqlite or postgresql"
        )
    if backend == "sqlite":
        _check_sqlite(parsed, shown)
    return parsed


def _check_sqlite(parsed: URL, shown: str) -> None:
    if parsed.host:  # sqlite://x.db: the file name was read as a host
        name = parsed.host + (f"/{parsed.database}" if parsed.database else "")
        raise DatabaseURLError(
            f"DATABASE_URL {shown!r}: use three slashes for a file, sqlite:///{name} "
            f"(relative) or sqlite:////abs/path/{name.rsplit('/', 1)[-1]} (absolute)"
        )
    database = parsed.database or ""
    if database in ("", ":memory:"):
        # Each pooled connection would otherwise see its own empty in-memory database.
        raise DatabaseURLError(
            f"DATABASE_URL {shown!r}: in-memory SQLite is not supported; use sqlite:///path.db"
        )
    # Never create directories: a typo in the path must not become an empty new database.
    parent = Path(database).expanduser().resolve().parent
    if not parent.is_dir():
        raise DatabaseURLError(
            f"DATABASE_URL {shown!r}: directory {parent} does not exist; create it or fix the path"
        )


def async_url(url: str) -> URL:
    parsed = _parse(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    return parsed.set(drivername="postgresql+psycopg")


def sync_url(url: str) -> URL:
    parsed = _parse(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+pysqlite")
    return parsed.set(drivername="postgresql+psycopg")


def insert_for(session: AsyncSession, table: Any) -> Any:
    """The dialect's ``INSERT`` (it has ``on_conflict_do_*``), for the session's database."""
    dialect = session.bind.dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _tune_postgresql(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # psycopg prepares a statement run five times, and after five more runs the server
        # keeps one generic plan for it, costed with the statistics of that moment. A new
        # database's first batches are planned on empty tables — sequential scans — and
        # keep those plans as the tables grow, until autovacuum's ANALYZE: the inbox's
        # lookups by key then read whole tables (PostgreSQL CPU per Telegram update grew from
        # 3 to 7 ms over 9,000 updates; docs/benchmarks.md). A plan made for the parameters
        # at hand costs a fraction of a millisecond per statement and follows the tables.
        cur = dbapi_conn.cursor()
        cur.execute("SET plan_cache_mode = force_custom_plan")
        cur.close()
        dbapi_conn.commit()


def _tune_sqlite(engine: AsyncEngine, busy_seconds: float = _BUSY_SECONDS) -> None:
    sync = engine.sync_engine

    @event.listens_for(sync, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, below
        cur = dbapi_conn.cursor()
        # The busy timeout first, so that every later statement queues instead of failing.
        cur.execute(f"PRAGMA busy_timeout={int(busy_seconds * 1000)}")
        # Switching to WAL takes an exclusive lock even when the file is in WAL already, and
        # several processes opening one file at once then fail with "database is locked":
        # only the first opener of a new file switches it.
        cur.execute("PRAGMA journal_mode")
        if str(cur.fetchone()[0]).lower() != "wal":
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(sync, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# Per event loop and SQLite file: the process's writers take turns (see ``Database.write``).
_write_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _write_lock(path: str) -> asyncio.Lock:
    locks = _write_locks.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(path, asyncio.Lock())


@dataclass
class Database:
    """One engine per process; ``write()`` and ``read()`` hand out short transactions.

    On SQLite, writes go through ``write_engine``, whose connections run in the event-loop
    thread (``storage.sqlite_inline``), one write transaction at a time per process and file:
    a writer never waits on SQLite's lock for another of the same process, so it never holds
    the loop while waiting. Reads keep aiosqlite's worker threads."""

    engine: AsyncEngine
    url: str
    write_engine: AsyncEngine | None = field(default=None)
    busy_seconds: float = field(default=_BUSY_SECONDS)  # SQLite: how long a writer waits
    # The session holding this process's poll locks (storage.cursors_repo), on first use.
    lock_session: Any = field(default=None, init=False, repr=False, compare=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        if self.write_engine is None:
            async with self._writer() as session, session.begin():
                yield session
            return
        async with _write_lock(self._path):
            session = await self._begin_write()
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
            finally:
                await session.close()

    async def _begin_write(self) -> AsyncSession:
        """SQLite: a session in ``BEGIN IMMEDIATE``, waiting on the event loop (not in the
        driver) while another process holds the write lock, up to ``busy_seconds``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.busy_seconds
        while True:
            session = self._writer()
            try:
                await session.connection()  # emits BEGIN IMMEDIATE (see _tune_sqlite)
                return session
            except sa_exc.OperationalError as exc:
                await session.close()
                if "locked" not in str(exc.orig) or loop.time() >= deadline:
                    raise
            await asyncio.sleep(_LOCKED_PAUSE)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._reader() as session, session.begin():
            yield session

    @asynccontextmanager
    async def quick(self) -> AsyncIterator[AsyncSession]:
        """A read of a few rows by key (adapters' thread lookups, per batch of events). On
        SQLite it runs in the event-loop thread like the writes: aiosqlite's hand-offs cost
        ~2 ms of CPU per such read, the read itself a few µs; WAL readers take no lock that
        a writer holds, so it never waits on one. Long reads (reports) use ``read()``."""
        async with self._quick() as session, session.begin():
            yield session

    async def refresh_statistics(self, tables: Sequence[str]) -> None:
        """PostgreSQL: ``ANALYZE`` ``tables`` now rather than when autovacuum gets round to it.

        A bulk import into a new database grows tables from nothing within seconds; with the
        statistics of an empty table the planner filters whole index ranges for a key set
        (``thread_key = ANY(...)``: 100 ms per batch at 6,000 rows, growing with the table)
        instead of looking each key up. SQLite's planner needs no statistics for these."""
        if self.is_sqlite:
            return
        async with self.engine.connect() as conn:
            await conn.execute(text(f"ANALYZE {', '.join(tables)}"))
            await conn.commit()

    async def dispose(self) -> None:
        if self.write_engine is not None:
            await self.write_engine.dispose()
        await self.engine.dispose()

    def __post_init__(self) -> None:
        writes = self.write_engine or self.engine
        self._path = os.path.abspath(self.engine.url.database or "")
        self._writer = async_sessionmaker(
            writes.execution_options(**{_WRITE: True}), expire_on_commit=False
        )
        self._reader = async_sessionmaker(self.engine, expire_on_commit=False)
        self._quick = async_sessionmaker(writes, expire_on_commit=False)


def connect(url: str | None = None, *, echo: bool = False) -> Database:
    raw = database_url(url)
    target = async_url(raw)
    kwargs: dict[str, Any] = {"echo": echo}
    if target.get_backend_name() == "sqlite":
        database = target.database or ""
        if database in ("", ":memory:"):
            # Each pooled connection would otherwise see its own empty in-memory database.
            raise DatabaseURLError("in-memory SQLite is not supported; use sqlite:///path.db")
    else:
        # pre_ping: a connection the server dropped (restart, failover) is replaced at checkout
        # instead of failing a request; connect_timeout: an unreachable server fails a
        # request in seconds (a 503 the sender retries) rather than hanging it.
        kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True, pool_timeout=10)
        if "connect_timeout" not in target.query:
            kwargs["connect_args"] = {"connect_timeout": PG_CONNECT_TIMEOUT}
    engine = create_async_engine(target, **kwargs)
    if engine.dialect.name != "sqlite":
        _tune_postgresql(engine)
        return Database(engine=engine, url=raw)
    _tune_sqlite(engine)
    inline = sqlite_inline.creator(target.database or "", timeout=_INLINE_BUSY_SECONDS)
    write_engine = create_async_engine(target, async_creator=inline, **kwargs)
    _tune_sqlite(write_engine, _INLINE_BUSY_SECONDS)
    return Database(engine=engine, url=raw, write_engine=write_engine)
