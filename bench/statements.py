"""Counting the SQL statements a timed region sends, whichever way they are sent.

SQLAlchemy's ``before_cursor_execute`` sees what goes through an engine — and SQLite writes
have an engine of their own (``Database.write_engine``). The ingest hot path bypasses
SQLAlchemy altogether (``storage.rawsql.DriverConnection`` talks to the DB-API connection),
so those calls are counted by wrapping ``DriverConnection``'s statement methods for the
duration. An ``executemany`` is one statement here; the rows it carries are counted apart.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from storage import rawsql

_RAW_METHODS = ("rows", "run", "many")  # many = executemany: its second argument is the rows


def statement_kind(sql: str) -> str:
    words = sql.split(None, 4)
    verb = words[0].upper() if words else "?"
    if verb in ("INSERT", "DELETE") and len(words) > 2:
        return f"{verb} {words[2].split('(')[0]}"
    if verb == "UPDATE" and len(words) > 1:
        return f"UPDATE {words[1]}"
    if verb == "SELECT" and "FROM" in sql:
        return f"SELECT {sql.split('FROM', 1)[1].split()[0]}"
    return verb


def describe(statements: Counter[str], rows: Counter[str], top: int = 4) -> str:
    def one(kind: str, n: int) -> str:
        carried = f" ({rows[kind]:,} rows)" if rows[kind] else ""
        return f"{kind} x{n:,}{carried}"

    common = ", ".join(one(kind, n) for kind, n in statements.most_common(top))
    more = ", ..." if len(statements) > top else ""
    return f"{statements.total():,} SQL statements ({common}{more})"


@contextmanager
def count_statements(
    engines: list[Engine], statements: Counter[str], rows: Counter[str]
) -> Iterator[None]:
    """Adds to ``statements`` (by kind) and ``rows`` (executemany rows, by kind) while open."""

    def on_execute(*args: Any) -> None:  # before_cursor_execute(conn, cursor, statement, ...)
        kind = statement_kind(args[2])
        statements[kind] += 1
        if args[5]:  # executemany: the parameters are a list of rows
            rows[kind] += len(args[3])

    def wrap(name: str, method: Any) -> Any:
        @functools.wraps(method)
        async def counted(self: Any, sql: str, params: Any = (), *more: Any) -> Any:
            kind = statement_kind(sql)
            statements[kind] += 1
            if name == "many":
                rows[kind] += len(params)
            return await method(self, sql, params, *more)

        return counted

    originals = {
        n: getattr(rawsql.DriverConnection, n)
        for n in _RAW_METHODS
        if hasattr(rawsql.DriverConnection, n)
    }
    for engine in engines:
        event.listen(engine, "before_cursor_execute", on_execute)
    for name, method in originals.items():
        setattr(rawsql.DriverConnection, name, wrap(name, method))
    try:
        yield
    finally:
        for name, method in originals.items():
            setattr(rawsql.DriverConnection, name, method)
        for engine in engines:
            event.remove(engine, "before_cursor_execute", on_execute)
