"""History is not an emergency: what `nudgebot import` does with conversations still waiting
at its end.

Without ``--nudge`` their waits are marked as history (``conversations.imported_wait``): the
ladder leaves them alone and any nudge planned meanwhile is cancelled. Each responsible
person and each owner is owed one summary message instead (storage.summaries_repo, sent by a
running `nudgebot run`, in the person's hours). With ``--nudge`` they are nudged like any
other conversation (and batched like any other burst).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import update

from bot.domain.summary import SummaryReason
from bot.services.nudge_settings import NudgeSettings
from bot.services.waiting import WaitingRow, to_row
from storage import nudges_repo
from storage import summaries_repo as summaries
from storage.conversation_queries import waiting_groups
from storage.db import Database
from storage.models import Conversation
from storage.rawsql import chunks


@dataclass(frozen=True)
class ImportedWaiting:
    count: int = 0
    oldest: WaitingRow | None = None
    by_source: tuple[tuple[str, int], ...] = ()
    by_person: tuple[tuple[str, int], ...] = ()
    summaries_to: tuple[str, ...] = ()  # people owed a summary
    unreachable: tuple[str, ...] = field(default=())  # people with no address to notify


def _counted(counts: Counter[str]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


async def mark_history(db: Database, ids: Sequence[int]) -> None:
    """The current waits of ``ids`` become history: no ladder, nothing pending."""
    c = Conversation
    async with db.write() as session:  # all or nothing: no import half history, half live
        for part in chunks(sorted(ids)):
            await session.execute(
                update(c)
                .where(c.id.in_(part), c.waiting_since.is_not(None))
                .values(imported_wait=c.waiting_since, next_nudge_at=None)
                .execution_options(synchronize_session=False)
            )
            pending = await nudges_repo.pending_ids(session, part)
            await nudges_repo.cancel(session, pending, "imported as history: summarised instead")


async def settle_import(
    db: Database,
    settings: NudgeSettings,
    touched: Iterable[int],
    now: datetime,
    *,
    nudge: bool,
) -> ImportedWaiting:
    ids = sorted(set(touched))
    if not ids:
        return ImportedWaiting()
    if not nudge:
        await mark_history(db, ids)
    async with db.read() as session:
        groups, oldest = await waiting_groups(session, ids)
    if oldest is None:
        return ImportedWaiting()
    by_source: Counter[str] = Counter()
    by_person: Counter[str] = Counter()
    concerned = set(settings.routing.owners)
    for (source, claimed_by), count in groups.items():
        route = settings.routing.route(source, claimed_by, now)
        by_source[source] += count
        by_person[route.primary or "nobody"] += count
        concerned.update(route.people)
    people = sorted(concerned)
    owed: list[tuple[str, str, str | None, datetime]] = []
    unreachable: list[str] = []
    if not nudge:
        for person in people:
            recipient = settings.recipient(f"person:{person}")
            if recipient is None:
                unreachable.append(person)
                continue
            clock = settings.person_clocks.get(person)
            at = clock.next_open(now) if clock is not None else now
            owed.append((recipient.platform, recipient.address, person, at))
        if owed:
            async with db.write() as session:
                await summaries.request(session, owed, SummaryReason.IMPORT.value)
    return ImportedWaiting(
        count=sum(groups.values()),
        oldest=to_row(oldest, settings.routing, now),
        by_source=_counted(by_source),
        by_person=_counted(by_person),
        summaries_to=tuple(p for _pl, _a, p, _at in owed if p),
        unreachable=tuple(unreachable),
    )
