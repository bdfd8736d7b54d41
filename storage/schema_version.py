"""Is the database at the migrations' head? Answered without importing Alembic.

Read-only commands (`waiting`, `stats`, `history`, `oncall`) check this on every start;
importing Alembic for it cost more than the query they run. Only when the database is behind
(or new) is Alembic loaded to migrate it."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

VERSIONS = Path(__file__).resolve().parent / "migrations" / "versions"
_REVISION = re.compile(r'^revision(?:: str)? = "([^"]+)"', re.M)
_DOWN = re.compile(r'^down_revision(?:: str \| None)? = "([^"]+)"', re.M)


@cache
def head_revision() -> str | None:
    """The one revision no other revision names as its parent (None if that is ambiguous,
    which sends the caller to Alembic)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in VERSIONS.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        if found := _REVISION.search(source):
            revisions.add(found.group(1))
        if down := _DOWN.search(source):
            parents.add(down.group(1))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def current_revision(url: str | None = None) -> str | None:
    # SQLAlchemy only here: the fast read path (storage.fastread) needs head_revision alone.
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.pool import NullPool

    from storage.db import database_url, sync_url

    engine = create_engine(sync_url(database_url(url)), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:  # no such table: a new database
        return None
    finally:
        engine.dispose()


def ensure_schema(url: str | None = None) -> None:
    head = head_revision()
    if head is not None and current_revision(url) == head:
        return
    from storage.migrate import upgrade

    upgrade(url)
