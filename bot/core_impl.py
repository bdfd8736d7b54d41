"""The ``Core`` that adapters are handed: services bound to one runtime."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    BindParameter,
    Boolean,
    Integer,
    String,
    TextualSelect,
    bindparam,
    column,
    select,
    text,
    tuple_,
)

from bot.app import Runtime
from bot.domain.events import InboundMessage
from bot.domain.ports import (
    ActionRequest,
    ActionResult,
    ChannelMessage,
    LatestQuery,
    OnCallItem,
    WaitingItem,
)
from bot.services.ingest import ingest
from bot.services.waiting import list_waiting
from storage.models import Conversation, Message, UTCDateTime


class CoreService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def ingest(self, messages: Sequence[InboundMessage]) -> None:
        await ingest(self.rt.db, messages, self.rt.rules)

    async def act(self, request: ActionRequest) -> ActionResult:
        """Claim, snooze, not needed, reply, unclaim (bot.services.nudge_actions)."""
        if self.rt.engine is None:
            return ActionResult(False, "Actions are not available in this process.")
        return await self.rt.engine.act(request)

    async def waiting(self, person: str | None = None) -> Sequence[WaitingItem]:
        rows = await list_waiting(self.rt.db, self.rt.routing, self.rt.now(), person=person)
        return [
            WaitingItem(
                r.conversation,
                r.source,
                r.platform,
                r.channel,
                r.customer,
                r.waiting_since,
                r.due_at,
                r.overdue,
                r.responsible_all,
                r.last_message,
                r.url,
            )
            for r in rows
        ]

    async def on_call(self) -> Sequence[OnCallItem]:
        service = self.rt.oncall
        await service.prepare()
        now = self.rt.now()
        items = []
        for rid in service.rotation_ids:
            s = service.status(rid, now)
            nxt = s.next.person if s.next else None
            items.append(OnCallItem(rid, s.person, s.since, s.until, nxt))
        return items

    async def conversation_ref(self, conversation_id: int) -> tuple[str, str, str, str] | None:
        c = Conversation
        async with self.rt.db.read() as session:
            row = (
                await session.execute(
                    select(c.source, c.platform, c.channel, c.thread).where(c.id == conversation_id)
                )
            ).first()
        return (row[0], row[1], row[2], row[3]) if row else None

    async def last_customer_message_id(self, conversation_id: int) -> str | None:
        m = Message
        async with self.rt.db.read() as session:
            found: str | None = await session.scalar(
                select(m.message_id)
                .where(
                    m.conversation_id == conversation_id, m.is_team.is_(False), m.deleted.is_(False)
                )
                .order_by(m.at.desc(), m.message_id.desc())
                .limit(1)
            )
        return found

    async def thread_of(self, source: str, message_ids: Sequence[str]) -> Mapping[str, str]:
        if not message_ids:
            return {}
        m, c = Message, Conversation
        async with self.rt.db.quick() as session:
            rows = await session.execute(
                select(m.message_id, c.thread)
                .join(c, c.id == m.conversation_id)
                .where(m.source == source, m.message_id.in_(list(message_ids)))
            )
            return {mid: thread for mid, thread in rows.tuples()}

    async def threads_of(self, keys: Sequence[tuple[str, str]]) -> Mapping[tuple[str, str], str]:
        m, c = Message, Conversation
        found: dict[tuple[str, str], str] = {}
        async with self.rt.db.quick() as session:
            for start in range(0, len(keys), 500):
                part = list(keys[start : start + 500])
                rows = await session.execute(
                    select(m.source, m.message_id, c.thread)
                    .join(c, c.id == m.conversation_id)
                    .where(tuple_(m.source, m.message_id).in_(part))
                )
                found.update({(s, mid): thread for s, mid, thread in rows.tuples()})
        return found

    async def latest_messages(
        self, queries: Sequence[LatestQuery]
    ) -> Sequence[ChannelMessage | None]:
        # One statement for the whole batch: a UNION ALL of LIMIT 1 arms, each a range of
        # ix_messages_source_at (source, at) filtered by channel/author — its cost grows with
        # the source's messages inside [since, at], which the callers keep short. An index on
        # messages (source, author_id, at) would make the by-author arms exact ranges.
        found: list[ChannelMessage | None] = [None] * len(queries)
        order = sorted(range(len(queries)), key=lambda i: queries[i].author_id is None)
        async with self.rt.db.quick() as session:
            for start in range(0, len(order), _LATEST_ARMS):
                part = [(i, queries[i]) for i in order[start : start + _LATEST_ARMS]]
                by_author = sum(1 for _, q in part if q.author_id is not None)
                params: dict[str, object] = {}
                for k, (_, q) in enumerate(part):
                    params.update({
                        f"s{k}": q.source, f"c{k}": q.channel, f"lo{k}": q.since, f"hi{k}": q.at,
                        f"t{k}": q.is_team, f"x{k}": q.exclude or "",
                    })  # fmt: skip
                    if q.author_id is not None:
                        params[f"a{k}"] = q.author_id
                statement = _latest_statement(by_author, len(part) - by_author)
                rows = await session.execute(statement, params)
                for k, mid, thread, at, team, author, waiting in rows.tuples():
                    found[part[k][0]] = ChannelMessage(
                        mid, thread, at, bool(team), author, waiting is not None
                    )
        return found

    async def conversation_of(self, source: str, message_id: str) -> int | None:
        m = Message
        async with self.rt.db.quick() as session:
            found: int | None = await session.scalar(
                select(m.conversation_id).where(m.source == source, m.message_id == message_id)
            )
        return found


_LATEST_ARMS = 100  # UNION ALL arms per statement (SQLite allows 500)
_LATEST_ARM = """SELECT {k} AS k, * FROM (
  SELECT m.message_id, c.thread, m.at, m.is_team, m.author_id, c.waiting_since
  FROM messages AS m JOIN conversations AS c ON c.id = m.conversation_id
  WHERE m.source = :s{k} AND m.at >= :lo{k} AND m.at <= :hi{k} AND NOT m.deleted
    AND c.channel = :c{k} AND {author} AND coalesce(:t{k}, m.is_team) = m.is_team
    AND m.message_id <> :x{k}
  ORDER BY m.at DESC, m.id DESC LIMIT 1) AS arm{k}"""


@functools.lru_cache(maxsize=512)
def _latest_statement(by_author: int, others: int) -> TextualSelect:
    """Plain SQL, built once per shape: ``by_author`` arms filtering on the author (an
    indexable equality), then ``others`` without; NULL team means "any". A text statement
    skips the expression-building and cache-key work a Core union of this size costs on
    every call."""
    arms = [
        _LATEST_ARM.format(k=k, author=f"m.author_id = :a{k}" if k < by_author else "1 = 1")
        for k in range(by_author + others)
    ]
    binds: list[BindParameter[Any]] = []
    for k in range(by_author + others):
        binds += [
            bindparam(f"s{k}", type_=String), bindparam(f"c{k}", type_=String),
            bindparam(f"lo{k}", type_=UTCDateTime), bindparam(f"hi{k}", type_=UTCDateTime),
            bindparam(f"t{k}", type_=Boolean), bindparam(f"x{k}", type_=String),
        ]  # fmt: skip
        if k < by_author:
            binds.append(bindparam(f"a{k}", type_=String))
    return (
        text("\nUNION ALL\n".join(arms))
        .bindparams(*binds)
        .columns(
            column("k", Integer), column("message_id", String), column("thread", String),
            column("at", UTCDateTime), column("is_team", Boolean),
            column("author_id", String), column("waiting_since", UTCDateTime),
        )
    )  # fmt: skip
