"""PostgreSQL plans each statement for its parameters and the tables as they are now.

psycopg prepares a statement it has run five times; with the server's default plan cache mode
the plan is then made once, with the statistics of that moment, and kept. On a new database
that moment is an empty table: the inbox's key lookups kept sequential scans as the tables
grew (docs/benchmarks.md, "PostgreSQL plans"). ``storage.db`` sets every connection to plan
each execution.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from storage.db import Database
from storage.messages_repo import existing_message_ids
from tests.conftest import BACKEND

pytestmark = pytest.mark.skipif(
    BACKEND != "postgresql",
    reason="plan caching is PostgreSQL's; run with NUDGEBOT_TEST_DB=postgresql",
)

KEYS = [("s", "m1"), ("s", "m2")]
_INSERT = """INSERT INTO conversations (source, thread_key, platform, channel, thread, url,
  last_text, customer_messages, team_messages, nudges_sent, version)
VALUES ('s', 't', 'telegram', '', 't', '', '', 0, 0, 0, 0)"""
_FILL = """INSERT INTO messages (source, message_id, conversation_id, at, author_id, author_name,
  is_team, text, url, deleted)
SELECT 's', 'm' || n, (SELECT id FROM conversations), now(), 'a', 'a', false, '', '', false
FROM generate_series(1, 20000) AS n"""


async def test_every_kind_of_session_plans_per_execution(db: Database) -> None:
    for session_of in (db.read, db.write, db.quick):
        async with session_of() as session:
            mode = (await session.execute(text("SHOW plan_cache_mode"))).scalar_one()
            assert mode == "force_custom_plan"


async def test_a_lookup_first_run_on_an_empty_table_uses_the_index_once_it_is_full(
    db: Database,
) -> None:
    """The same statement, on one connection, twelve times on an empty table, then on a full
    one: its plan must be the index's, not the one made for the empty table."""
    async with db.write() as session:
        await session.execute(text(_INSERT))
        for _ in range(12):
            assert await existing_message_ids(session, KEYS) == set()
        await session.execute(text(_FILL))
        assert await existing_message_ids(session, KEYS) == set(KEYS)
        raw = await session.connection()
        driver = (await raw.get_raw_connection()).driver_connection
        prepared = await (await driver.execute(
            "SELECT name, generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE 'SELECT m.source, m.message_id FROM messages%'"
        )).fetchall()  # fmt: skip
    assert len(prepared) == 1, prepared  # psycopg did prepare it: the trap is armed
    _name, generic, custom = prepared[0]
    # psycopg prepares on the sixth run: eight prepared executions, each planned anew.
    assert (generic, custom) == (0, 8)
