"""Query plans of the statements the product itself runs.

A plan test that explains SQL written in the test proves nothing about the product: the
product's query can drift from the copy. ``product_plans`` runs one of the product's own
functions, records every statement it sends to the database (as compiled for this dialect,
with its parameters), then asks the database how it would run each one: ``EXPLAIN QUERY
PLAN`` on SQLite, ``EXPLAIN`` on PostgreSQL with sequential scans switched off (the test
tables are tiny, and an empty table is always cheapest to scan, so the question is whether
an index *can* serve the statement).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection

from storage.db import Database

# SQLite's way of saying "reads the whole table": SCAN without a USING clause.
FULL_SCAN = re.compile(r"^SCAN (\w+)$")


TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
EXPLAINABLE = ("SELECT", "WITH", "UPDATE", "DELETE", "INSERT")


def _engines(db: Database) -> list[Any]:
    engines = [db.engine.sync_engine]
    if db.write_engine is not None:
        engines.append(db.write_engine.sync_engine)
    return engines


async def product_statements(
    db: Database, run: Callable[[], Awaitable[object]]
) -> list[tuple[str, Any]]:
    """Every (statement, parameters) ``run`` sent, in order; transaction control left out."""
    seen: list[tuple[str, Any]] = []

    def record(
        conn: Connection, cursor: object, statement: str, params: Any, context: object, many: bool
    ) -> None:
        if not statement.lstrip().upper().startswith(TRANSACTION_CONTROL):
            seen.append((statement, params))

    engines = _engines(db)
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        await run()
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)
    return seen


async def explain(db: Database, statement: str, params: Any) -> str:
    """The plan of one recorded statement, as one string (one line per plan step)."""
    async with db.engine.connect() as conn:
        if db.is_sqlite:
            rows = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
            plan = "\n".join(str(r[-1]) for r in rows)
        else:
            await conn.execute(text("SET LOCAL enable_seqscan = off"))
            rows = await conn.exec_driver_sql("EXPLAIN " + statement, params)
            plan = "\n".join(str(r[0]) for r in rows)
        await conn.rollback()
    return plan


async def product_plans(db: Database, run: Callable[[], Awaitable[object]]) -> list[str]:
    """The plan of every statement ``run`` sent; fails when it sent none."""
    statements = [
        (sql, params)
        for sql, params in await product_statements(db, run)
        if sql.lstrip().upper().startswith(EXPLAINABLE)
    ]
    assert statements, "the product function sent no statement"
    return [await explain(db, sql, params) for sql, params in statements]


def full_scans(plan: str) -> list[str]:
    """Tables a plan reads from end to end (SQLite's ``SCAN t``, PostgreSQL's Seq Scan)."""
    found = [m.group(1) for line in plan.splitlines() if (m := FULL_SCAN.search(line.strip()))]
    found += re.findall(r"Seq Scan on (\w+)", plan)
    return found
