"""Ingest against a real database: order-, batch- and duplicate-independence, idempotency."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from bot.domain.conversation import DEFAULT_CLOSING_WORDS, compute_state
from bot.domain.events import Action, ActionKind, Author, InboundMessage, Kind, MessageFact
from bot.inbox.inbox import Inbox
from bot.inbox.store import IngestResult, NoPlanning, Rules, recompute, thread_key
from bot.services.stats import report
from storage.db import Database
from storage.models import ActionRecord, Conversation, Message, WaitingPeriod

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
DUE = timedelta(minutes=4)
RULES = Rules(due_at=lambda _source, since: since + DUE)


async def ingest(db: Database, messages: Sequence[InboundMessage], rules: Rules) -> IngestResult:
    """The inbox's write of one batch, on its own (no nudge planning in these tests)."""
    return await Inbox(db, rules).ingest_batch(messages)


TABLES = (ActionRecord, WaitingPeriod, Message, Conversation)  # children first


def t(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def msg(
    mid: str,
    minute: float,
    *,
    thread: str = "ticket-1",
    team: bool = False,
    text: str = "where is my order?",
    person: str | None = None,
    author: str | None = None,
    source: str = "web",
    channel: str = "",
    kind: Kind = Kind.MESSAGE,
    edited_at: datetime | None = None,
    url: str | None = None,
) -> InboundMessage:
    return InboundMessage(
        source=source,
        platform="webhook",
        message_id=mid,
        thread=thread,
        at=t(minute),
        author=Author(author or ("U-bob" if team else "cust-9"), "Bob" if team else "Dana"),
        is_team=team,
        text=text,
        channel=channel,
        url=f"https://example.com/{thread}/{mid}" if url is None else url,
        person=person,
        kind=kind,
        edited_at=edited_at,
    )


def edit(m: InboundMessage, text: str, at: datetime) -> InboundMessage:
    return dataclasses.replace(m, kind=Kind.EDIT, text=text, edited_at=at)


def deletion(m: InboundMessage) -> InboundMessage:
    return dataclasses.replace(m, kind=Kind.DELETE)


# --- reading the database back ----------------------------------------------------------------


def _row(obj: Any, skip: Sequence[str] = ()) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns if c.key not in skip}


async def raw_dump(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, surrogate ids included: for "nothing changed" checks."""
    out: dict[str, list[dict[str, Any]]] = {}
    async with db.read() as s:
        for model in TABLES:
            rows = (await s.execute(select(model).order_by(model.id))).scalars().all()
            out[model.__tablename__] = [_row(r) for r in rows]
    return out


async def logical_dump(db: Database) -> dict[str, Any]:
    """Rows keyed by their natural keys, without surrogate ids and recompute counters.

    Two databases that received the same set of messages in different orders or batches
    assign different ids and recompute a different number of times; everything else must
    be identical.
    """
    async with db.read() as s:
        convs = (await s.execute(select(Conversation))).scalars().all()
        key = {c.id: (c.source, c.thread_key) for c in convs}
        messages = (await s.execute(select(Message))).scalars().all()
        periods = (await s.execute(select(WaitingPeriod))).scalars().all()
    by_conv: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for p in periods:
        by_conv[key[p.conversation_id]].append(_row(p, ("id", "conversation_id")))
    return {
        "conversations": {key[c.id]: _row(c, ("id", "version")) for c in convs},
        "messages": {
            (m.source, m.message_id): {
                **_row(m, ("id", "conversation_id")),
                "conversation": key[m.conversation_id],
            }
            for m in messages
        },
        "periods": {k: sorted(v, key=lambda r: r["started_at"]) for k, v in by_conv.items()},
    }


async def clear(db: Database) -> None:
    async with db.write() as s:
        for model in TABLES:
            await s.execute(delete(model))


async def conversation(db: Database, thread: str, source: str = "web") -> Conversation:
    async with db.read() as s:
        return (
            await s.execute(
                select(Conversation).where(
                    Conversation.source == source, Conversation.thread_key == thread
                )
            )
        ).scalar_one()


async def periods_of(db: Database, thread: str) -> list[tuple[Any, ...]]:
    c = await conversation(db, thread)
    async with db.read() as s:
        rows = (
            await s.execute(
                select(WaitingPeriod)
                .where(WaitingPeriod.conversation_id == c.id)
                .order_by(WaitingPeriod.started_at)
            )
        ).scalars()
        return [(p.started_at, p.ended_at, p.end_reason, p.answered_by, p.due_at) for p in rows]


async def full_report(db: Database, now: datetime) -> dict[str, Any]:
    return await report(db, t(-60 * 24), t(60 * 24), now)


# --- examples ---------------------------------------------------------------------------------


async def test_ingest_stores_messages_and_state(db: Database) -> None:
    result = await ingest(
        db,
        [
            msg("m1", 0),
            msg("m2", 2, text="hello?"),
            msg("r1", 10, team=True, person="bob", text="on it"),
            msg("m3", 12, text="thanks!"),
            msg("x1", 5, thread="ticket-2", text="refund please"),
        ],
        RULES,
    )
    assert result.received == 5
    assert len(result.conversations) == 2

    c1 = await conversation(db, "ticket-1")
    assert c1.waiting_since is None
    assert c1.due_at is None
    assert (c1.started_at, c1.first_response_at, c1.first_responder) == (t(0), t(10), "bob")
    assert (c1.customer_id, c1.customer_name) == ("cust-9", "Dana")
    assert (c1.customer_messages, c1.team_messages) == (3, 1)
    assert c1.last_message_at == t(12)
    assert c1.last_text == "thanks!"
    assert c1.url == "https://example.com/ticket-1/m1"  # the thread's first message
    assert await periods_of(db, "ticket-1") == [(t(0), t(10), "reply", "bob", t(0) + DUE)]

    c2 = await conversation(db, "ticket-2")
    assert c2.waiting_since == t(5)
    assert c2.waiting_message_id == "x1"
    assert c2.due_at == t(5) + DUE
    assert await periods_of(db, "ticket-2") == [(t(5), None, None, None, t(5) + DUE)]


async def test_channel_is_part_of_the_conversation_key(db: Database) -> None:
    await ingest(
        db, [msg("a", 0, channel="C1", thread="1"), msg("b", 0, channel="C2", thread="1")], RULES
    )
    assert (await conversation(db, thread_key("C1", "1"))).channel == "C1"
    assert (await conversation(db, thread_key("C2", "1"))).channel == "C2"


async def test_edit_before_original_keeps_the_edit(db: Database) -> None:
    original = msg("m1", 0, text="where is my order?")
    await ingest(db, [edit(original, "never mind, found it. thanks", t(1))], RULES)
    await ingest(db, [original], RULES)
    async with db.read() as s:
        stored = (await s.execute(select(Message))).scalar_one()
    assert stored.text == "never mind, found it. thanks"
    assert stored.edited_at == t(1)
    assert (await conversation(db, "ticket-1")).last_text == "never mind, found it. thanks"


async def test_latest_edit_wins_whatever_the_arrival_order(db: Database) -> None:
    original = msg("m1", 0)
    e1, e2 = edit(original, "first edit", t(1)), edit(original, "second edit", t(2))
    await ingest(db, [e2], RULES)
    await ingest(db, [original, e1], RULES)
    assert (await conversation(db, "ticket-1")).last_text == "second edit"


async def test_editing_a_follow_up_into_a_closing_word_ends_waiting(db: Database) -> None:
    follow_up = msg("m2", 12, text="it still fails")
    await ingest(db, [msg("m1", 0), msg("r1", 10, team=True, person="bob"), follow_up], RULES)
    assert (await conversation(db, "ticket-1")).waiting_since == t(12)
    await ingest(db, [edit(follow_up, "ok thanks", t(13))], RULES)
    assert (await conversation(db, "ticket-1")).waiting_since is None


async def test_delete_before_original_keeps_it_deleted(db: Database) -> None:
    original = msg("m1", 0)
    # A deletion often carries nothing but the ids: no text, no author name.
    bare = dataclasses.replace(original, kind=Kind.DELETE, text="", author=Author("cust-9"))
    await ingest(db, [bare], RULES)
    await ingest(db, [original, edit(original, "edited", t(1))], RULES)
    c = await conversation(db, "ticket-1")
    assert c.waiting_since is None
    assert c.started_at is None
    assert c.customer_messages == 0
    assert await periods_of(db, "ticket-1") == []


async def test_deleting_the_waiting_messages_ends_waiting(db: Database) -> None:
    m1, m2 = msg("m1", 0), msg("m2", 1)
    await ingest(db, [m1, m2], RULES)
    assert (await conversation(db, "ticket-1")).waiting_since == t(0)
    await ingest(db, [deletion(m1)], RULES)
    c = await conversation(db, "ticket-1")
    assert (c.waiting_since, c.waiting_message_id, c.due_at) == (t(1), "m2", t(1) + DUE)
    await ingest(db, [deletion(m2)], RULES)
    c = await conversation(db, "ticket-1")
    assert (c.waiting_since, c.due_at, c.last_text) == (None, None, "")
    assert await periods_of(db, "ticket-1") == []


async def test_not_needed_action_is_applied_on_recompute(db: Database) -> None:
    await ingest(db, [msg("m1", 0)], RULES)
    c = await conversation(db, "ticket-1")
    async with db.write() as s:
        s.add(ActionRecord(conversation_id=c.id, kind="not_needed", person="alice", at=t(3)))
        await s.flush()
        await recompute(s, [c.id], RULES, NoPlanning())
    c = await conversation(db, "ticket-1")
    assert c.waiting_since is None
    assert c.due_at is None
    assert await periods_of(db, "ticket-1") == [(t(0), t(3), "not_needed", "alice", t(0) + DUE)]
    # A later message of the same conversation keeps the action in force.
    await ingest(db, [msg("m2", 2, text="hello?")], RULES)
    assert (await conversation(db, "ticket-1")).waiting_since is None


async def test_redelivery_changes_nothing(db: Database) -> None:
    batch = [
        msg("m1", 0),
        msg("r1", 10, team=True, person="bob"),
        msg("m2", 20, text="why?"),
        msg("b1", 5, thread="news", team=True, text="We are live"),
    ]
    await ingest(db, batch, RULES)
    before = await raw_dump(db)
    await ingest(db, batch, RULES)
    await ingest(db, [batch[2]], RULES)
    await ingest(db, list(reversed(batch)), RULES)
    assert await raw_dump(db) == before


async def test_a_changed_conversation_bumps_its_version_only(db: Database) -> None:
    await ingest(db, [msg("m1", 0), msg("x1", 0, thread="other")], RULES)
    v1, o1 = (await conversation(db, "ticket-1")).version, (await conversation(db, "other")).version
    await ingest(db, [msg("r1", 10, team=True), msg("x1", 0, thread="other")], RULES)
    assert (await conversation(db, "ticket-1")).version > v1
    assert (await conversation(db, "other")).version == o1


async def test_empty_batch(db: Database) -> None:
    assert (await ingest(db, [], RULES)).conversations == ()
    assert await raw_dump(db) == {m.__tablename__: [] for m in TABLES}


# --- order-, batch- and duplicate-independence (property) -------------------------------------

_TEXTS = [*DEFAULT_CLOSING_WORDS, "thanks!", "where is my order?", "still broken", "hello"]


@dataclasses.dataclass(frozen=True)
class Case:
    deliveries: tuple[InboundMessage, ...]  # originals, edits and deletions, each once
    final: tuple[MessageFact, ...]  # what the store must end up with
    threads: tuple[tuple[str, str], ...]  # (source, thread)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    deliveries: list[InboundMessage] = []
    final: list[tuple[str, str, MessageFact]] = []
    threads: set[tuple[str, str]] = set()
    for i in range(draw(st.integers(1, 10))):
        source = draw(st.sampled_from(["web", "shop"]))
        thread = draw(st.sampled_from(["t1", "t2", "t3"]))
        team = draw(st.booleans())
        person = draw(st.sampled_from(["alice", None])) if team else None
        author = draw(st.sampled_from(["U-al", "U-x"] if team else ["c1", "c2"]))
        original = msg(
            f"m{i}",
            draw(st.integers(0, 6)),
            thread=thread,
            team=team,
            person=person,
            author=author,
            text=draw(st.sampled_from(_TEXTS)),
            source=source,
        )
        deliveries.append(original)
        text, edited_at = original.text, None
        for k in range(draw(st.integers(0, 2))):
            edited_at = original.at + timedelta(seconds=k + 1)
            text = draw(st.sampled_from(_TEXTS))
            deliveries.append(edit(original, text, edited_at))
        deleted = draw(st.integers(0, 4)) == 0
        if deleted:
            deliveries.append(deletion(original))
        threads.add((source, thread))
        final.append(
            (
                source,
                thread,
                MessageFact(
                    original.message_id,
                    original.at,
                    team,
                    author,
                    person,
                    text,
                    deleted,
                    original.author.name,
                    original.url,
                ),
            )
        )
    return Case(tuple(deliveries), tuple(f for _, _, f in final), tuple(sorted(threads)))


def arrival(
    data: st.DataObject, deliveries: Sequence[InboundMessage]
) -> list[list[InboundMessage]]:
    """The same deliveries, some repeated, shuffled and cut into batches."""
    extra = data.draw(st.lists(st.sampled_from(deliveries), max_size=len(deliveries)))
    stream = data.draw(st.permutations([*deliveries, *extra]))
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(stream) - 1)), max_size=4)))
    bounds = [0, *[c for c in cuts if c < len(stream)], len(stream)]
    return [list(stream[a:b]) for a, b in pairwise(bounds) if a < b]


async def snapshot(db: Database) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return await logical_dump(db), [await full_report(db, t(n)) for n in (3, 60)]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=cases(), data=st.data())
async def test_same_set_of_messages_gives_the_same_state(
    db: Database, case: Case, data: st.DataObject
) -> None:
    # Reference: everything in one batch, in platform-time order.
    await clear(db)
    await ingest(db, sorted(case.deliveries, key=lambda m: (m.at, m.message_id, m.kind)), RULES)
    expected = await snapshot(db)

    # The stored facts are the resolved set: latest edit's text, deletions in force.
    stored = expected[0]["messages"]
    for f in case.final:
        row = stored[
            (next(m.source for m in case.deliveries if m.message_id == f.message_id), f.message_id)
        ]
        assert (row["text"], row["deleted"]) == (f.text, f.deleted)

    # And the conversation rows agree with the pure domain function over those facts.
    by_thread: dict[tuple[str, str], list[MessageFact]] = defaultdict(list)
    for m in case.deliveries:
        if m.kind is Kind.MESSAGE:
            f = next(x for x in case.final if x.message_id == m.message_id)
            by_thread[(m.source, m.thread)].append(f)
    totals: dict[str, int] = defaultdict(int)
    for key, facts in by_thread.items():
        state = compute_state(facts, (), RULES.closing_words)
        row = expected[0]["conversations"][key]
        assert row["waiting_since"] == state.waiting_since
        assert row["first_response_at"] == state.first_response_at
        assert row["started_at"] == state.started_at
        assert len(expected[0]["periods"].get(key, [])) == len(state.periods)
        totals["replies"] += state.replies
        totals["broadcasts"] += state.broadcasts
        totals["answered"] += sum(p.end_reason == "reply" for p in state.periods)
        totals["open"] += state.waiting_since is not None
        totals["first"] += state.first_response_at is not None
    # The report counts what the domain counts (all messages lie inside the report window).
    whole = expected[1][-1]
    assert whole["replies"] == totals["replies"]
    assert whole["broadcasts"] == totals["broadcasts"]
    assert whole["reply"]["count"] == totals["answered"]
    assert whole["unanswered"] == totals["open"]
    assert whole["first_response"]["count"] == totals["first"]

    for _ in range(2):
        await clear(db)
        for batch in arrival(data, case.deliveries):
            await ingest(db, batch, RULES)
        assert await snapshot(db) == expected

    # Idempotency: delivering any of it again changes no row at all, ids and versions included.
    before = await raw_dump(db)
    for batch in arrival(data, case.deliveries):
        await ingest(db, batch, RULES)
    assert await raw_dump(db) == before


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    actions=st.lists(
        st.tuples(st.sampled_from(["alice", "bob"]), st.integers(0, 6)), min_size=1, max_size=3
    ),
    data=st.data(),
)
async def test_not_needed_actions_commute_with_messages(
    db: Database, actions: list[tuple[str, int]], data: st.DataObject
) -> None:
    deliveries = [
        msg("m1", 0),
        msg("m2", 2, text="hello?"),
        msg("r1", 4, team=True),
        msg("m3", 5, text="one more thing"),
    ]
    results = []
    for _ in range(2):
        await clear(db)
        await ingest(db, [deliveries[0]], RULES)
        cid = (await conversation(db, "ticket-1")).id
        batches = arrival(data, deliveries[1:])
        pending = list(actions)
        for batch in batches:
            async with db.write() as s:
                for person, minute in pending[: data.draw(st.integers(0, len(pending)))]:
                    s.add(
                        ActionRecord(
                            conversation_id=cid, kind="not_needed", person=person, at=t(minute)
                        )
                    )
                    pending.remove((person, minute))
            await ingest(db, batch, RULES)
        async with db.write() as s:
            for person, minute in pending:
                s.add(
                    ActionRecord(
                        conversation_id=cid, kind="not_needed", person=person, at=t(minute)
                    )
                )
            await s.flush()
            await recompute(s, [cid], RULES, NoPlanning())
        results.append(await snapshot(db))
    assert results[0] == results[1]
    c = await conversation(db, "ticket-1")
    facts = [
        MessageFact(m.message_id, m.at, m.is_team, m.author.id, m.person, m.text)
        for m in deliveries
    ]
    expected = compute_state(facts, [Action(ActionKind.NOT_NEEDED, p, t(n)) for p, n in actions])
    assert c.waiting_since == expected.waiting_since


async def test_edits_of_equal_edit_time_resolve_alike_in_any_order(db: Database) -> None:
    original = msg("m1", 0)
    a, b = edit(original, "alpha", t(1)), edit(original, "beta", t(1))
    untimed = dataclasses.replace(original, kind=Kind.EDIT, text="untimed")  # edited_at=None
    results = []
    for order in ([original, a, b, untimed], [b, untimed, a, original], [untimed, b, original, a]):
        await clear(db)
        for m in order:
            await ingest(db, [m], RULES)
        results.append((await conversation(db, "ticket-1")).last_text)
        await clear(db)
        await ingest(db, order, RULES)  # the same, all in one batch
        results.append((await conversation(db, "ticket-1")).last_text)
    assert len(set(results)) == 1
    assert results[0] in {"alpha", "beta"}  # an edit without a time never beats a timed one
