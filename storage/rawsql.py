"""Driver-level statements inside a SQLAlchemy transaction, for the ingest hot path.

A Core statement costs tens of times more CPU in SQLAlchemy (cache lookup, parameter
processing, result metadata, greenlet switches) than the same statement through the DB-API
(figures: docs/benchmarks.md). Ingest runs about fifteen statements per batch, so the
machinery cost more than the work. The few statements on that path are
written here once in SQL (``?`` placeholders, turned into ``%b`` for psycopg: binary
parameters, whose array dumper does not quote each element with regular expressions as the
text one does) and converted exactly as the column types would (``storage.models.UTCDateTime``:
naive UTC on disk, text on SQLite; booleans as 0/1 on SQLite); tests compare both ways of
reading and writing.
Everything else keeps using SQLAlchemy.

On PostgreSQL, sets travel as arrays (``= ANY(?)``, ``unnest``): the statement text stays the
same whatever the batch size, so psycopg parses and prepares it once, and a bulk insert is
one statement instead of a pipelined row-by-row executemany.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Boolean, DateTime, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from storage.records import instant, when
from storage.sqlite_inline import InlineConnection

__all__ = ["instant", "when"]  # shared with storage.fastread (storage.records)

_KEY = "nudgebot_raw"


def to_db(value: Any, sqlite: bool) -> Any:
    """What SQLAlchemy's column types would bind: naive UTC times (text on SQLite), 0/1."""
    if isinstance(value, datetime):
        return _time_text(value) if sqlite else _time(value)
    if sqlite and isinstance(value, bool):
        return int(value)
    return value


def _naive(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the database; use an aware UTC time")
    return value.astimezone(UTC).replace(tzinfo=None)


def _time_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is UTC:  # the common case; formatted by hand: isoformat() asks the
        # zone for its offset first (0.97 against 0.65 µs, once per distinct time written)
        return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031 - f-string: 1.4 µs
            value.year, value.month, value.day,
            value.hour, value.minute, value.second, value.microsecond,
        )  # fmt: skip
    return _naive(value).isoformat(" ", "microseconds")


def _time(value: datetime | None) -> datetime | None:
    return None if value is None else _naive(value)


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


Converter = Callable[[Any], Any]
CHUNK = 500  # keeps IN (...) lists well under SQLite's variable limit


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _transpose(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """Rows into one list per column: PostgreSQL takes a set as arrays (``unnest``)."""
    return [list(column) for column in zip(*rows, strict=True)]


@cache
def _converters(table: Table, sqlite: bool) -> dict[str, Converter]:
    """Per column, what its type does to a value on the way in (absent: nothing)."""
    out: dict[str, Converter] = {}
    for column in table.columns:
        kind = getattr(column.type, "impl", column.type)  # UTCDateTime decorates DateTime
        if isinstance(kind, DateTime):
            out[column.name] = _time_text if sqlite else _time
        elif isinstance(kind, Boolean) and sqlite:
            out[column.name] = _flag
    return out


@cache
def _pg_types(table: Table) -> dict[str, str]:
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    return {c.name: c.type.compile(dialect=dialect) for c in table.columns}


class DriverConnection:
    """The current transaction's DB-API connection. On SQLite's write connections
    (``storage.sqlite_inline``) calls run synchronously; otherwise they are awaited."""

    def __init__(self, driver: Any, sqlite: bool) -> None:
        self.sqlite = sqlite
        self._inline = driver._conn if isinstance(driver, InlineConnection) else None
        self._driver = driver
        # Converted values, for this transaction: a batch's times repeat across its messages,
        # periods and conversations, and formatting one costs ~1.3 µs. (Keys are compared by
        # value: only times and booleans are converted, and they never compare equal.)
        self._memo: dict[Any, Any] = {}
        self._time = _time_text if sqlite else _time

    @classmethod
    async def of(cls, session: AsyncSession) -> DriverConnection:
        """The session's current transaction's connection (remembered per transaction:
        asking the session again costs a greenlet round trip each time)."""
        transaction = session.sync_session.get_transaction()
        found = session.info.get(_KEY)
        if transaction is not None and found is not None and found[0] is transaction:
            raw: DriverConnection = found[1]
            return raw
        conn = await session.connection()  # begins the transaction (BEGIN IMMEDIATE on SQLite)
        fairy = await conn.get_raw_connection()
        raw = cls(fairy.driver_connection, conn.dialect.name == "sqlite")
        session.info[_KEY] = (session.sync_session.get_transaction(), raw)
        return raw

    def marks(self, count: int) -> str:
        return ", ".join(["?"] * count)

    def value(self, value: Any) -> Any:
        return to_db(value, self.sqlite)

    def time(self, value: datetime | None) -> Any:
        """A time as ``UTCDateTime`` binds it (remembered for the transaction)."""
        if value is None:
            return None
        done = self._memo.get(value)
        if done is None:
            done = self._memo[value] = self._time(value)
        return done

    def _sql(self, sql: str) -> str:
        return sql if self.sqlite else sql.replace("?", "%b")

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self._inline is not None:
            return self._inline.execute(sql, params).fetchall()
        cursor = await self._driver.execute(self._sql(sql), params)
        found: list[tuple[Any, ...]] = await cursor.fetchall()
        return found

    async def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """A statement without results; returns the rows it touched."""
        if self._inline is not None:
            return int(self._inline.execute(sql, params).rowcount)
        cursor = await self._driver.execute(self._sql(sql), params)
        return int(cursor.rowcount)

    async def many(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        if not params:
            return
        if self._inline is not None:
            self._inline.executemany(sql, params)
            return
        if self.sqlite:  # aiosqlite
            await self._driver.executemany(sql, params)
            return
        async with self._driver.cursor() as cursor:  # psycopg: pipelined executemany
            await cursor.executemany(self._sql(sql), params)

    def member(self, column: str, values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
        """``column IN (values)`` and its parameters."""
        if self.sqlite:
            return f"{column} IN ({self.marks(len(values))})", tuple(values)
        return f"{column} = ANY(?)", (list(values),)

    async def rows_by_pairs(
        self, select: str, keys: tuple[str, str], pairs: Sequence[tuple[str, str]]
    ) -> list[tuple[Any, ...]]:
        """The rows of ``select`` (``SELECT … FROM …`` with its joins, no ``WHERE``) whose
        columns ``keys`` hold one of ``pairs`` — a batch's (source, id) keys. PostgreSQL:
        one statement for every source, the pairs as arrays joined by ``unnest`` (the unique
        index is probed per pair). SQLite would scan the table for a row-value
        ``IN (VALUES …)``: one statement per first value, whose round trips cost nothing."""
        first, second = keys
        out: list[tuple[Any, ...]] = []
        if not self.sqlite:
            for part in chunks(pairs):
                out += await self.rows(
                    f"{select} JOIN unnest(CAST(? AS text[]), CAST(? AS text[])) AS k(a, b) "
                    f"ON {first} = k.a AND {second} = k.b",
                    ([a for a, _ in part], [b for _, b in part]),
                )
            return out
        grouped: dict[str, list[str]] = {}
        for a, b in pairs:
            grouped.setdefault(a, []).append(b)
        for a, values in grouped.items():
            for part in chunks(values):
                where, params = self.member(second, part)
                out += await self.rows(f"{select} WHERE {first} = ? AND {where}", (a, *params))
        return out

    def _unnest(self, table: Table, columns: Sequence[str]) -> str:
        types = _pg_types(table)
        return ", ".join(f"CAST(? AS {types[c]}[])" for c in columns)

    def _tuples(
        self,
        table: Table,
        rows: Sequence[Mapping[str, Any]],
        columns: Sequence[str],
        constants: Mapping[str, Any] | None = None,
    ) -> list[list[Any]]:
        """Each row's values in ``columns`` order (then ``constants``, the same for every
        row), converted as the column types would: a converter picked once per column, and
        each distinct value converted once (a conversation's times repeat in its messages,
        periods and row; ingest converts hundreds of thousands of cells)."""
        convert = _converters(table, self.sqlite)
        steps = [(i, convert[c]) for i, c in enumerate(columns) if c in convert]
        tail = [
            convert[c](v) if c in convert and v is not None else v
            for c, v in (constants or {}).items()
        ]
        get = itemgetter(*columns)
        memo = self._memo
        out: list[list[Any]] = []
        for row in rows:
            values = list(get(row)) if len(columns) > 1 else [get(row)]
            for i, fn in steps:
                value = values[i]
                if value is not None:  # every converter keeps None
                    done = memo.get(value)
                    if done is None:
                        done = memo[value] = fn(value)
                    values[i] = done
            if tail:
                values += tail
            out.append(values)
        return out

    async def insert(
        self,
        table: Table,
        rows: Sequence[Mapping[str, Any]],
        *,
        suffix: str = "",
        returning: str = "",
        constants: Mapping[str, Any] | None = None,
    ) -> list[tuple[Any, ...]]:
        """Insert ``rows`` (dicts with the same keys, plus ``constants`` for every row) in one
        statement; on PostgreSQL, returns the ``RETURNING`` rows when asked for."""
        if not rows:
            return []
        columns = list(rows[0])
        every = [*columns, *(constants or {})]
        values = self._tuples(table, rows, columns, constants)
        return await self.insert_values(table, every, values, suffix=suffix, returning=returning)

    async def insert_values(
        self,
        table: Table,
        every: Sequence[str],
        values: Sequence[Sequence[Any]],
        *,
        suffix: str = "",
        returning: str = "",
    ) -> list[tuple[Any, ...]]:
        """``insert`` of rows already in ``every``'s order and converted (``time``)."""
        if not values:
            return []
        names = ", ".join(every)
        tail = f" {suffix}" + (f" RETURNING {returning}" if returning else "")
        if not self.sqlite:
            arrays = self._unnest(table, every)
            sql = f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({arrays}){tail}"
            params = _transpose(values)
            if returning:
                return await self.rows(sql, params)
            await self.run(sql, params)
            return []
        if returning:  # executemany returns no rows (see create_conversations for the ids)
            raise ValueError("insert(returning=...) is for PostgreSQL; SQLite has executemany")
        one = f"({self.marks(len(every))})"
        await self.many(f"INSERT INTO {table.name} ({names}) VALUES {one}{tail}", values)
        return []

    async def update_by_id(
        self, table: Table, rows: Sequence[Mapping[str, Any]], *, bump: str | None = None
    ) -> None:
        """Set each row's columns on the row with its ``id``; ``bump``: a counter column
        each of those rows also adds one to."""
        if not rows:
            return
        columns = [c for c in rows[0] if c != "id"]
        if self.sqlite:
            assigned = [f"{c} = ?" for c in columns] + ([f"{bump} = {bump} + 1"] if bump else [])
            await self.many(
                f"UPDATE {table.name} SET {', '.join(assigned)} WHERE id = ?",
                self._tuples(table, rows, [*columns, "id"]),
            )
            return
        ordered = sorted(rows, key=lambda r: int(r["id"]))  # one lock order for every writer
        sets = ", ".join(
            [f"{c} = v.{c}" for c in columns] + ([f"{bump} = t.{bump} + 1"] if bump else [])
        )
        await self.run(
            f"UPDATE {table.name} AS t SET {sets} FROM unnest("
            f"{self._unnest(table, ['id', *columns])}) AS v(id, {', '.join(columns)}) "
            "WHERE t.id = v.id",
            _transpose(self._tuples(table, ordered, ["id", *columns])),
        )
