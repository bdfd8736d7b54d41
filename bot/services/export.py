"""CSV export of conversations and their response times (`stats --csv`, the API's
``/api/conversations.csv``).

One row per customer conversation that started in the window, oldest first. Rows are made
page by page (keyset pagination, one short read transaction per page), so an export of any
size streams in constant memory. Cells that a spreadsheet would read as a formula (starting
with ``=``, ``+``, ``-``, ``@``, tab or carriage return) get a leading ``'`` (OWASP's advice
against CSV injection); numbers we write ourselves are never negative, so they stay numbers.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from bot.services.waiting import iso
from storage.db import Database
from storage.report_queries import ExportConversation, PeriodRow, conversations_page, periods_of

COLUMNS = (
    "conversation",
    "source",
    "platform",
    "channel",
    "thread",
    "customer",
    "started_at",
    "first_response_at",
    "first_response_seconds",
    "first_responder",
    "waiting_periods",
    "replies",
    "reply_seconds_median",
    "reply_seconds_max",
    "sla_missed",
    "waiting_since",
    "last_message",
    "customer_messages",
    "team_messages",
    "url",
)
PAGE = 500
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | float | None


def guard(value: Cell) -> Cell:
    """Defuse text a spreadsheet would evaluate; numbers and empty cells pass as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _seconds(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds()))


def row_of(c: ExportConversation, periods: Sequence[PeriodRow], now: datetime) -> list[Cell]:
    replies = [
        _seconds(p.started_at, p.ended_at)
        for p in periods
        if p.ended_at is not None and p.end_reason == "reply"
    ]
    # As `stats` judges them: answered after the due time, or still open past it.
    missed = sum(
        1
        for p in periods
        if p.due_at is not None
        and p.end_reason != "not_needed"
        and (p.ended_at or now) > p.due_at
        and (p.ended_at is None or p.end_reason == "reply")
    )
    first = c.first_response_at
    return [
        c.id,
        c.source,
        c.platform,
        c.channel,
        c.thread,
        c.customer_name or c.customer_id or "",
        iso(c.started_at),
        iso(first) if first else "",
        _seconds(c.started_at, first) if first else "",
        c.first_responder or "",
        len(periods),
        len(replies),
        statistics.median(replies) if replies else "",
        max(replies) if replies else "",
        missed,
        iso(c.waiting_since) if c.waiting_since else "",
        c.last_text,
        c.customer_messages,
        c.team_messages,
        c.url,
    ]


async def export_rows(
    db: Database, since: datetime, until: datetime, *, now: datetime | None = None, page: int = PAGE
) -> AsyncIterator[list[Cell]]:
    """Data rows (no header), unguarded; ``csv_lines`` renders them. ``now`` (default
    ``until``) decides whether a still-open period has missed its due time."""
    after: tuple[datetime, int] | None = None
    while True:
        async with db.read() as session:
            batch = await conversations_page(session, since, until, after=after, limit=page)
            periods = await periods_of(session, [c.id for c in batch])
        grouped: dict[int, list[PeriodRow]] = defaultdict(list)
        for p in periods:
            grouped[p.conversation_id].append(p)
        for c in batch:
            yield row_of(c, grouped[c.id], now or until)
        if len(batch) < page:
            return
        after = (batch[-1].started_at, batch[-1].id)


def _line(cells: Sequence[Cell]) -> str:
    buffer = io.StringIO()
    # QUOTE_MINIMAL quotes cells holding the delimiter, quotes or line breaks; \r\n per RFC 4180.
    csv.writer(buffer, lineterminator="\r\n").writerow(
        ["" if v is None else v for v in map(guard, cells)]
    )
    return buffer.getvalue()


async def csv_lines(db: Database, since: datetime, until: datetime) -> AsyncIterator[str]:
    """The CSV text, a header and one line per conversation, ready to stream."""
    yield _line(COLUMNS)
    async for cells in export_rows(db, since, until):
        yield _line(cells)
