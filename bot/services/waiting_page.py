"""One page of who's waiting, for the dashboard and ``/api/waiting``: filters, sort, an opaque
cursor to the next page, and how many conversations each filter value would show.

Who is responsible depends on claims, owners' hours and rotations, which the database does
not know; but for waiting conversations alike in source and claim it is the same person. So
the person filter and its counts route each (source, claimed_by) group once — a few dozen
routing calls, however many thousand are waiting — and hand SQL the matching groups.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from bot.domain.routing import Routing
from bot.services.waiting import WaitingRow, to_row
from storage import waiting_page_queries as store
from storage.db import Database
from storage.waiting_page_queries import SORTS, Group, Key, PageFilter

MAX_LIMIT = 1000


class BadQuery(ValueError):
    """A filter, sort or cursor the caller should fix; the message names it."""


@dataclass(frozen=True)
class Query:
    source: str | None = None
    person: str | None = None
    platform: str | None = None
    overdue: bool | None = None
    sort: str = "waiting"
    cursor: str | None = None
    limit: int = 50

    def without(self, name: str) -> Query:
        drop: dict[str, None] = {name: None}
        return replace(self, **drop)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Counts:
    """Per filter value, how many match it together with the other filters in force."""

    total: int  # waiting, no filter at all
    matching: int  # under every filter of the query
    overdue_total: int  # overdue, no filter at all
    source: dict[str, int] = field(default_factory=dict)
    person: dict[str, int] = field(default_factory=dict)
    platform: dict[str, int] = field(default_factory=dict)
    overdue: dict[str, int] = field(default_factory=dict)  # "overdue" | "not_due"

    def as_json(self) -> dict[str, object]:
        return {
            "total": self.total,
            "matching": self.matching,
            "overdue_total": self.overdue_total,
            "source": self.source,
            "person": self.person,
            "platform": self.platform,
            "overdue": self.overdue,
        }


@dataclass(frozen=True)
class Page:
    rows: list[WaitingRow]
    next: str | None
    counts: Counts


def encode_cursor(sort: str, key: Key) -> str:
    at = key.at.astimezone(UTC).isoformat() if key.at is not None else None
    raw = json.dumps([sort, at, key.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> Key:
    """The key a cursor names; BadQuery for anything this module did not write for ``sort``."""
    bad = BadQuery("cursor is not one this server gave out; start again without it")
    if len(cursor) > 200:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        got_sort, at, ident = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise bad from None
    if got_sort != sort:
        raise BadQuery(f"cursor belongs to sort={got_sort!s:.20}, not sort={sort}") from None
    if type(ident) is not int or not 0 < ident < 2**63:
        raise bad
    if at is None:
        if sort == "waiting":
            raise bad
        return Key(None, ident)
    if not isinstance(at, str):
        raise bad
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        raise bad from None
    if when.tzinfo is None:
        raise bad
    return Key(when, ident)


def people_of(routing: Routing, now: datetime) -> Callable[[Group], tuple[str, ...]]:
    cache: dict[tuple[str, str | None], tuple[str, ...]] = {}

    def people(g: Group) -> tuple[str, ...]:
        key = (g.source, g.claimed_by)
        if key not in cache:
            cache[key] = routing.route(g.source, g.claimed_by, now).people
        return cache[key]

    return people


def _matches(g: Group, q: Query, people: Callable[[Group], tuple[str, ...]]) -> bool:
    return (
        (q.source is None or g.source == q.source)
        and (q.platform is None or g.platform == q.platform)
        and (q.overdue is None or g.overdue == q.overdue)
        and (q.person is None or q.person in people(g))
    )


def count(groups: list[Group], q: Query, people: Callable[[Group], tuple[str, ...]]) -> Counts:
    def tally(name: str, keys: Callable[[Group], tuple[str, ...]]) -> dict[str, int]:
        out: Counter[str] = Counter()
        others = q.without(name)
        for g in groups:
            if _matches(g, others, people):
                for k in keys(g):
                    out[k] += g.count
        return dict(sorted(out.items()))

    return Counts(
        total=sum(g.count for g in groups),
        matching=sum(g.count for g in groups if _matches(g, q, people)),
        overdue_total=sum(g.count for g in groups if g.overdue),
        source=tally("source", lambda g: (g.source,)),
        person=tally("person", people),
        platform=tally("platform", lambda g: (g.platform,)),
        overdue=tally("overdue", lambda g: ("overdue" if g.overdue else "not_due",)),
    )


async def waiting_page(
    db: Database, routing: Routing, now: datetime, q: Query, groups: list[Group] | None = None
) -> Page:
    """``groups``: ``store.groups`` read already by the caller in this instant."""
    if q.sort not in SORTS:
        raise BadQuery(f"sort must be one of {', '.join(SORTS)}")
    if not 1 <= q.limit <= MAX_LIMIT:
        raise BadQuery(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    after = decode_cursor(q.cursor, q.sort) if q.cursor else None
    async with db.read() as session:
        if groups is None:
            groups = await store.groups(session, now)
        people = people_of(routing, now)
        pairs = None
        if q.person is not None:
            pairs = sorted(
                {(g.source, g.claimed_by) for g in groups if q.person in people(g)},
                key=lambda p: (p[0], p[1] or ""),
            )
        f = PageFilter(q.source, q.platform, q.overdue, pairs)
        # One row more than asked: whether it exists says if there is a next page.
        records = await store.page(session, f, now, sort=q.sort, after=after, limit=q.limit + 1)
    more = len(records) > q.limit
    records = records[: q.limit]
    rows = [to_row(r, routing, now) for r in records]
    nxt = encode_cursor(q.sort, store.key_of(records[-1], q.sort)) if more else None
    return Page(rows, nxt, count(groups, q, people))
