"""A SQLite connection for SQLAlchemy's aiosqlite dialect that runs each call in the caller.

aiosqlite runs every call on a worker thread and wakes the event loop for each result: a
statement costs four thread hand-offs (cursor, execute, fetch, close), each far slower than
the statement itself on a busy machine, so a short write transaction spent most of its time
waiting on hand-offs (figures: docs/benchmarks.md). Running the calls
in the event-loop thread instead removes that, at the price of blocking the loop for as
long as SQLite works, so ``storage.db`` uses this connection only for write transactions
(short, and serialised within the process so that none ever waits on another's lock while
holding the loop) and keeps aiosqlite's threads for reads, which can be long reports.

The object mimics exactly the part of ``aiosqlite.Connection`` the dialect calls.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

Request = tuple["asyncio.Future[Any] | None", Callable[[], Any]]


class _RunNow:
    """Stands in for aiosqlite's request queue, which the dialect's isolation-level setter
    writes to directly: the request runs at once."""

    def put_nowait(self, request: Request) -> None:
        future, function = request
        try:
            result = function()
        except BaseException as exc:  # handed to the awaiting caller, as aiosqlite does
            if future is not None:
                future.set_exception(exc)
            return
        if future is not None:
            future.set_result(result)


class InlineCursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    async def execute(self, sql: str, parameters: Any = ()) -> InlineCursor:
        self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> InlineCursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class InlineConnection:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._tx = _RunNow()

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    async def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> InlineCursor:
        return InlineCursor(self._conn.execute(sql, parameters))

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self._conn.close()

    def stop(self) -> None:
        self._conn.close()


def creator(path: str, *, timeout: float) -> Callable[[], Any]:
    """An ``async_creator`` for ``create_async_engine``. The pool may close a connection
    from another thread (garbage collection at exit), hence ``check_same_thread=False``;
    every other use stays on the event loop's thread."""

    async def connect() -> InlineConnection:
        return InlineConnection(sqlite3.connect(path, timeout=timeout, check_same_thread=False))

    return connect
