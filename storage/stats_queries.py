"""The response-time report aggregated in the database (``stats``, ``/api/stats``, dashboard).

A report over a month of a million-conversation history used to read every period and
conversation of the window into Python (tens of seconds cold). Here the database groups and
counts, and for the medians and p90s it ranks each group's durations with window functions
(``row_number()``/``count(*) OVER (PARTITION BY …)``, SQLite ≥ 3.25 and PostgreSQL alike) and
returns only the (at most four) ranked values that the interpolation needs. The caller turns
them into a ``Summary`` with ``bot.domain.stats.from_ranks``: the same arithmetic on the same
floats as ``summarise`` over every value, so the report stays identical to the byte.

Durations travel as whole microseconds (exact on both databases: SQLite's stored text is
split into whole seconds and its six-digit fraction; PostgreSQL's ``EXTRACT(EPOCH …)`` of an
interval is numeric), and become seconds as ``timedelta.total_seconds()`` makes them.
``percentile_cont`` would interpolate in different floating-point steps and differ in the
last bits from what ``stats --json`` printed before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.stats import middle_ranks
from storage.models import UTCDateTime

Key = str | int  # a source, a person, a bucket index, or "" for the whole window


@dataclass
class Ranked:
    """A group's size and the durations (seconds) at the 0-based ranks asked for."""

    count: int = 0
    at: dict[int, float] = field(default_factory=dict)


@dataclass
class PeriodCounts:
    unanswered: int
    judged: int
    met: int


async def for_reports(session: AsyncSession) -> None:
    """Tune this read transaction for report statements. PostgreSQL JIT-compiles any plan
    estimated above ``jit_above_cost``, which these (a month of messages probed one by one)
    are: ~180 ms of compiling for ~200 ms of work, every statement, every cold dashboard.
    ``SET LOCAL`` ends with the transaction."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SET LOCAL jit = off"))


def _bucket(column: str, bounds: Sequence[datetime]) -> tuple[str, dict[str, datetime]]:
    """``CASE`` giving the index i of [bounds[i], bounds[i+1]) holding ``column`` (NULL when
    none) and its parameters: a binary search, so a row costs a handful of comparisons
    however many weeks or days there are."""
    if len(bounds) < 2:
        return "NULL", {}
    params = {f"b{i}": b for i, b in enumerate(bounds)}

    def within(lo: int, hi: int) -> str:  # column in [bounds[lo], bounds[hi])
        if hi - lo == 1:
            return str(lo)
        mid = (lo + hi) // 2
        return f"CASE WHEN {column} < :b{mid} THEN {within(lo, mid)} ELSE {within(mid, hi)} END"

    last = len(bounds) - 1
    return f"CASE WHEN {column} >= :b0 AND {column} < :b{last} THEN {within(0, last)} END", params


def _stmt(sql: str, params: dict[str, datetime]) -> TextClause:
    """``text`` with its (time) parameters bound as the column type binds them."""
    return text(sql).bindparams(*(bindparam(k, v, type_=UTCDateTime()) for k, v in params.items()))


# The 1-based ranks summarise() reads: the median's one or two middle values and the two
# that p90 interpolates between (statistics.quantiles, method="inclusive"); bot.domain.stats.
_PG_RANKS = ("(n + 1) / 2", "n / 2 + 1", "9 * (n - 1) / 10 + 1", "9 * (n - 1) / 10 + 2")


async def _ranked(
    session: AsyncSession,
    durations: tuple[str, str],
    keys: Sequence[str],
    from_where: str,
    params: dict[str, datetime],
) -> list[dict[Key, Ranked]]:
    """Durations ``durations`` = (end column, start column) of the rows of ``from_where``,
    grouped once per key in ``keys`` (a column or expression; "" for all rows together): per
    group, its size and the values at ``middle_ranks``. A NULL key leaves the row out of
    that key's groups.

    PostgreSQL groups them in one pass (``GROUPING SETS``, each group's durations sorted by
    ``array_agg(… ORDER BY …)``) and returns a few values per group. SQLite's window
    functions cost ~15 µs a row here, so it reads the window's rows (through the
    ``started_at`` index: a bounded range) and sorts them in Python, ~5 µs a row.
    """
    end, start = durations
    named = [k for k in keys if k]
    cols = ", ".join(f"{k} AS k{i}" for i, k in enumerate(named))
    out: list[dict[Key, Ranked]] = [{} for _ in keys]
    if session.bind.dialect.name == "sqlite":
        sql = f"SELECT {end}, {start}{', ' if cols else ''}{cols} {from_where}"
        groups: list[dict[Key, list[float]]] = [{} for _ in keys]
        parse = datetime.fromisoformat
        for row in (await session.execute(_stmt(sql, params))).tuples():
            seconds = (parse(row[0]) - parse(row[1])).total_seconds()
            n = 2
            for level, k in enumerate(keys):
                if k:
                    key, n = row[n], n + 1
                    if key is None:
                        continue
                else:
                    key = ""
                groups[level].setdefault(key, []).append(seconds)
        for level, by_key in enumerate(groups):
            for key, values in by_key.items():
                values.sort()
                at = {r: values[r] for r in middle_ranks(len(values))}
                out[level][key] = Ranked(len(values), at)
        return out
    micros = f"CAST(EXTRACT(EPOCH FROM ({end} - {start})) * 1000000 AS BIGINT)"
    keys_out = ", ".join(f"k{i}" for i in range(len(named)))
    sets = ", ".join(f"(k{named.index(k)})" if k else "()" for k in keys)
    flags = f"GROUPING({keys_out})" if named else "0"  # which set a row belongs to
    picks = ", ".join(f"a[{r}]" for r in _PG_RANKS)  # 1-based; past the end: NULL
    sql = (
        f"WITH src AS (SELECT {micros} AS v{', ' if cols else ''}{cols} {from_where}) "
        f"SELECT {keys_out}{', ' if keys_out else ''}g, n, {picks} FROM ("
        f"SELECT {keys_out}{', ' if keys_out else ''}{flags} AS g, count(*) AS n, "
        f"array_agg(v ORDER BY v) AS a FROM src GROUP BY GROUPING SETS ({sets})) AS grouped"
    )
    # GROUPING(k0…kn-1): a bit per key, the first the highest, set when not grouped by it.
    full = (1 << len(named)) - 1
    levels = {full if not k else full ^ (1 << (len(named) - 1 - named.index(k))): level
              for level, k in enumerate(keys)}  # fmt: skip
    for row in (await session.execute(_stmt(sql, params))).tuples():
        key_values, (g, n, *values) = row[: len(named)], row[len(named) :]
        level = levels[int(g)]
        key = "" if not keys[level] else key_values[named.index(keys[level])]
        if key is None:
            continue
        n = int(n)
        ranks = ((n + 1) // 2, n // 2 + 1, 9 * (n - 1) // 10 + 1, 9 * (n - 1) // 10 + 2)
        # as timedelta.total_seconds() divides
        at = {r - 1: int(v) / 10**6 for r, v in zip(ranks, values, strict=True) if v is not None}
        out[level][key] = Ranked(n, at)
    return out


_PERSON = "CASE WHEN end_reason = 'reply' AND answered_by <> '' THEN answered_by END"


async def period_counts(
    session: AsyncSession, since: datetime, until: datetime, now: datetime
) -> dict[tuple[str, str | None], PeriodCounts]:
    """Per (source, person credited with the reply): open periods, periods judged against
    their due time, and those met (the rules are bot.services.stats.report's)."""
    answered = "(end_reason = 'reply' AND ended_at IS NOT NULL)"
    judged = (f"(due_at IS NOT NULL AND (end_reason IS NULL OR end_reason <> 'not_needed') "
              f"AND ({answered} OR due_at <= :now))")  # fmt: skip
    sql = (
        f"SELECT source, {_PERSON} AS person, "
        "SUM(CASE WHEN ended_at IS NULL THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN {judged} THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN {judged} AND {answered} AND ended_at <= due_at THEN 1 ELSE 0 END) "
        "FROM waiting_periods WHERE started_at >= :since AND started_at < :until "
        f"GROUP BY source, {_PERSON}"
    )
    params = {"since": since, "until": until, "now": now}
    rows = (await session.execute(_stmt(sql, params))).tuples()
    return {
        (source, person): PeriodCounts(int(u or 0), int(j or 0), int(m or 0))
        for source, person, u, j, m in rows
    }


async def reply_ranks(
    session: AsyncSession,
    since: datetime,
    until: datetime,
    bounds: Sequence[datetime] = (),
    *,
    by_source: bool = True,
) -> tuple[Ranked, dict[str, Ranked], dict[str, Ranked], dict[int, Ranked]]:
    """Reply times of the periods started in [since, until) and answered by a reply: for the
    whole window, per source, per person credited, and per bucket of ``bounds`` (by start)."""
    bucket, params = _bucket("started_at", bounds)
    keys = ["", "source", _PERSON, bucket] if by_source else [bucket]
    found = await _ranked(
        session,
        ("ended_at", "started_at"),
        keys,
        "FROM waiting_periods WHERE started_at >= :since AND started_at < :until "
        "AND ended_at IS NOT NULL AND end_reason = 'reply'",
        {**params, "since": since, "until": until},
    )
    if not by_source:
        return Ranked(), {}, {}, _ints(found[0])
    total, sources, people, buckets = found
    return total.get("", Ranked()), _strs(sources), _strs(people), _ints(buckets)


async def first_response_ranks(
    session: AsyncSession, since: datetime, until: datetime
) -> tuple[Ranked, dict[str, Ranked], dict[str, Ranked]]:
    """First-response times of conversations started in [since, until): for the window, per
    source and per first responder."""
    total, sources, people = await _ranked(
        session,
        ("first_response_at", "started_at"),
        ["", "source", "CASE WHEN first_responder <> '' THEN first_responder END"],
        "FROM conversations WHERE started_at >= :since AND started_at < :until "
        "AND first_response_at IS NOT NULL",
        {"since": since, "until": until},
    )
    return total.get("", Ranked()), _strs(sources), _strs(people)


async def started_per_bucket(
    session: AsyncSession, bounds: Sequence[datetime]
) -> dict[int, tuple[int, int]]:
    """Per bucket of ``bounds``: conversations started in it, and those of them with a first
    team response by now."""
    if len(bounds) < 2:
        return {}
    bucket, params = _bucket("started_at", bounds)
    sql = (
        f"SELECT {bucket} AS bucket, count(*), count(first_response_at) FROM conversations "
        f"WHERE started_at >= :b0 AND started_at < :b{len(bounds) - 1} GROUP BY {bucket}"
    )
    rows = (await session.execute(_stmt(sql, params))).tuples()
    return {int(b): (int(n), int(a)) for b, n, a in rows if b is not None}


def _strs(groups: dict[Key, Ranked]) -> dict[str, Ranked]:
    return {str(k): v for k, v in groups.items()}


def _ints(groups: dict[Key, Ranked]) -> dict[int, Ranked]:
    return {int(k): v for k, v in groups.items()}
