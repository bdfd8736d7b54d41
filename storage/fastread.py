"""A read-only path for the query commands (`waiting`, `oncall`) through the bare driver.

Importing SQLAlchemy's async ORM costs about half a second on this project's reference
machine, twenty times the query `nudgebot waiting` runs. This module opens the database with
the standard library's ``sqlite3`` (or ``psycopg`` alone) and runs the same statements as
``storage.conversation_queries.waiting``/``count_waiting_by_source`` and ``storage.oncall_repo
.load_overrides``, converting values as the column types would (``storage.records``); a test
compares both ways on the same database.

It only ever reads, and it declines (``open_reader`` returns None) whenever the full path
could do or say something else: a URL it does not parse as plainly as ``storage.db`` does, a
database file that does not exist yet (the full path names the problem or creates and
migrates it), a schema not at the migrations' head, any error while connecting. The caller
then takes the full path, which migrates or reports exactly as before.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage.records import StoredOverride, WaitingRecord, instant, when

_SQLITE = re.compile(r"^sqlite(?:\+(?:pysqlite|aiosqlite))?:///(?P<path>[^?#]+)$")
_POSTGRES = re.compile(r"^postgres(?:ql)?(?:\+psycopg)?://(?P<rest>[^?#]*(?:\?[^#]*)?)$")
_BUSY_MS = 30_000
PG_CONNECT_TIMEOUT = 5  # as storage.db: an unreachable server fails in seconds

_WAITING = """
SELECT c.id, c.source, c.platform, c.channel, c.thread, c.customer_id, c.customer_name,
       c.waiting_since, c.due_at, c.claimed_by,
       (SELECT count(*) FROM nudges n WHERE n.conversation_id = c.id
          AND n.period_start = c.waiting_since AND n.state = 'sent'),
       c.last_text, c.url, c.last_message_at
FROM conversations c
WHERE c.waiting_since IS NOT NULL{source}
ORDER BY c.waiting_since, c.id{limit}
"""
_COUNT = "SELECT count(*) FROM conversations WHERE waiting_since IS NOT NULL{source}"
_OVERRIDES = """
SELECT id, rotation, person, starts_at, ends_at, created_at, created_by, note
FROM oncall_overrides WHERE ends_at > ? ORDER BY created_at, id
"""


def _waiting_record(r: tuple[Any, ...]) -> WaitingRecord:
    return WaitingRecord(
        r[0], r[1], r[2], r[3], r[4], r[5], r[6], instant(r[7]), when(r[8]), r[9],
        int(r[10]), r[11], r[12], when(r[13]),
    )  # fmt: skip


class FastReader:
    """One connection, read statements only; ``?`` placeholders (``%s`` on psycopg)."""

    def __init__(self, conn: Any, sqlite: bool) -> None:
        self.conn, self.sqlite = conn, sqlite

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        if not self.sqlite:
            sql = sql.replace("?", "%s")
        return list(self.conn.execute(sql, tuple(params)).fetchall())

    def _time(self, value: datetime) -> object:
        naive = value.astimezone(UTC).replace(tzinfo=None)
        return naive.isoformat(" ", "microseconds") if self.sqlite else naive

    def schema_revision(self) -> str | None:
        rows = self._rows("SELECT version_num FROM alembic_version")
        return str(rows[0][0]) if rows else None

    def waiting(
        self, *, source: str | None = None, limit: int | None = None
    ) -> list[WaitingRecord]:
        params: list[object] = []
        where = ""
        if source is not None:
            where = " AND c.source = ?"
            params.append(source)
        tail = ""
        if limit is not None:
            tail = " LIMIT ?"
            params.append(limit)
        rows = self._rows(_WAITING.format(source=where, limit=tail), params)
        return [_waiting_record(r) for r in rows]

    def count_waiting(self, source: str | None = None) -> int:
        if source is None:
            return int(self._rows(_COUNT.format(source=""))[0][0])
        return int(self._rows(_COUNT.format(source=" AND source = ?"), [source])[0][0])

    def overrides(self, *, ending_after: datetime) -> list[StoredOverride]:
        rows = self._rows(_OVERRIDES, [self._time(ending_after)])
        return [
            StoredOverride(
                r[0], r[1], r[2], instant(r[3]), instant(r[4]), instant(r[5]), r[6], r[7]
            )
            for r in rows
        ]

    def close(self) -> None:
        self.conn.close()


def _connect(url: str) -> tuple[Any, bool] | None:
    if found := _SQLITE.match(url):
        path = Path(found.group("path"))
        if not path.is_file():  # missing: the full path names the problem (or creates it)
            return None
        # mode=rw: never creates the file; WAL readers need the -shm file writable anyway.
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
        return conn, True
    if found := _POSTGRES.match(url):
        import psycopg  # only for PostgreSQL URLs

        libpq = "postgresql://" + found.group("rest")
        if "connect_timeout=" not in libpq:
            return psycopg.connect(
                libpq, autocommit=True, connect_timeout=PG_CONNECT_TIMEOUT
            ), False
        return psycopg.connect(libpq, autocommit=True), False
    return None


def open_reader(url: str | None, head: str | None) -> FastReader | None:
    """A reader on ``url`` (default: ``$DATABASE_URL``, as storage.db reads it) if its schema
    is at ``head``; None when the full path must answer instead (see the module's doc)."""
    raw = url or os.environ.get("DATABASE_URL") or "sqlite:///nudgebot.db"
    if head is None:
        return None
    try:
        opened = _connect(raw)
    except Exception:  # the full path reports it in its own words
        return None
    if opened is None:
        return None
    reader = FastReader(*opened)
    try:
        if reader.schema_revision() == head:
            return reader
    except Exception:  # no alembic_version: a new database, which the full path migrates
        pass
    reader.close()
    return None
