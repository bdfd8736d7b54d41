"""Batching rules on the real engine and database, with a recording messenger: quiet hours,
answered → summary edited, retries, a messenger without summaries, per-person limits."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from adapters.console.recording import RecordingMessenger
from bot.config import NudgeLimits, NudgeOverrides
from bot.domain.events import ActionKind
from bot.domain.ports import Delivered, NudgeUpdate, NudgeView, Recipient
from bot.services.import_history import settle_import
from storage.db import Database
from storage.models import Conversation, Nudge, NudgeSummary
from storage.summaries_repo import BATCHED
from tests.engine.engine_kit import SOURCE, Clock, Harness, berlin, make_config, person

T0 = berlin("2026-06-03 10:00")  # a Wednesday; the test policy runs 24/7
DEFAULTS = NudgeLimits()


async def burst(h: Harness, count: int, at: timedelta = timedelta()) -> list[int]:
    return [await h.customer(f"t{i}", T0 + at + timedelta(milliseconds=i)) for i in range(count)]


def posts(h: Harness) -> list[str]:
    return [c.kind for c in h.messenger.calls if c.ok and c.kind in ("nudge", "summary", "text")]


async def test_a_burst_is_one_summary_and_an_answer_edits_it(db: Database) -> None:
    h = Harness(db, Clock(T0), make_config(remind_every=None, nudges=DEFAULTS))
    cids = await burst(h, 8)
    await h.tick(T0 + timedelta(minutes=15, seconds=1))
    assert posts(h) == ["summary"]
    [summary] = h.messenger.summaries
    assert summary.summary is not None and summary.summary.waiting == 8
    assert [i.conversation_id for i in summary.summary.oldest] == cids[:5]
    assert all(i.nudge_id for i in summary.summary.oldest)  # the batched nudge behind each

    await h.team("t0", T0 + timedelta(minutes=16), "bob")
    await h.tick(T0 + timedelta(minutes=16, seconds=2))
    edit = h.messenger.summaries[-1]
    assert edit.kind == "summary-update" and edit.ref == summary.ref
    assert edit.summary is not None and edit.summary.waiting == 7
    async with db.read() as s:
        outcome = await s.scalar(select(Nudge.outcome).where(Nudge.conversation_id == cids[0]))
    assert outcome == "answered"  # recorded on the batched nudge too (history)
    assert posts(h) == ["summary"]


async def test_a_member_with_a_higher_batch_after_gets_single_nudges(db: Database) -> None:
    team = {
        "alice": person("alice", owner=True, nudges=NudgeOverrides(batch_after=20)),
        "bob": person("bob"),
    }
    h = Harness(db, Clock(T0), make_config(team=team, remind_every=None, nudges=DEFAULTS))
    await burst(h, 8)
    await h.tick(T0 + timedelta(minutes=15, seconds=1))
    assert posts(h) == ["nudge"] * 8


async def test_a_failed_summary_is_retried_and_posted_once(db: Database) -> None:
    h = Harness(db, Clock(T0), make_config(remind_every=None, nudges=DEFAULTS))
    await burst(h, 5)
    h.messenger.fail_next(2)
    await h.tick(T0 + timedelta(minutes=15, seconds=1))
    assert posts(h) == []
    for minutes in (16, 18, 25):
        await h.tick(T0 + timedelta(minutes=minutes))
    assert posts(h) == ["summary"]
    async with db.read() as s:
        [row] = (await s.scalars(select(NudgeSummary))).all()
    assert row.state == "idle" and row.platform_ref is not None and row.attempts == 3


class TextOnly:
    """A messenger that can only send text (no summary rendering of its own)."""

    platform = "slack"

    def __init__(self) -> None:
        self.inner = RecordingMessenger("slack")

    async def send_nudge(self, view: NudgeView) -> Delivered:
        return await self.inner.send_nudge(view)

    async def update_nudge(self, ref: str, view: NudgeView, update: NudgeUpdate) -> None:
        await self.inner.update_nudge(ref, view, update)

    async def send_text(self, recipient: Recipient, text: str) -> Delivered:
        return await self.inner.send_text(recipient, text)


async def test_a_messenger_without_summaries_gets_one_text(db: Database) -> None:
    h = Harness(db, Clock(T0), make_config(remind_every=None, nudges=DEFAULTS))
    plain = TextOnly()
    h.runtime.messengers["slack"] = plain  # type: ignore[assignment]
    await burst(h, 7)
    await h.tick(T0 + timedelta(minutes=15, seconds=1))
    [call] = plain.inner.calls
    assert call.kind == "text" and call.text.startswith("7 conversations are waiting on you.")
    assert "… and 2 more: /waiting mine" in call.text


async def test_imported_history_summary_waits_for_the_persons_hours(db: Database) -> None:
    night = berlin("2026-06-03 22:00")
    team = {"alice": person("alice", owner=True, hours="Mon-Fri 09:00-17:00",
                            timezone="Europe/Berlin")}  # fmt: skip
    h = Harness(db, Clock(night), make_config(team=team, nudges=DEFAULTS))
    cids = [await h.customer(f"t{i}", night - timedelta(days=3, minutes=i)) for i in range(4)]
    found = await settle_import(db, h.engine.settings, cids, night, nudge=False)
    assert found.count == 4 and found.summaries_to == ("alice",)
    await h.tick(night + timedelta(hours=1))
    assert posts(h) == []  # 23:00 in Berlin: not now
    await h.tick(berlin("2026-06-04 09:00"))
    assert posts(h) == ["summary"]
    [call] = h.messenger.summaries
    assert call.summary is not None and call.summary.waiting == 4
    assert call.summary.team_waiting == 4  # alice owns the team: she sees the totals
    async with db.read() as s:
        assert not (await s.scalars(select(Nudge).where(Nudge.state != "cancelled"))).all()
    await h.tick(berlin("2026-06-05 12:00"))  # a day on: still no single nudge for history
    assert posts(h) == ["summary"]


async def test_an_import_summary_counts_only_what_it_imported(db: Database) -> None:
    h = Harness(db, Clock(T0), make_config(nudges=DEFAULTS))
    live = await h.customer("live", T0 - timedelta(days=9))  # older, waiting, not imported
    cids = [await h.customer(f"t{i}", T0 - timedelta(days=3, minutes=i)) for i in range(5)]
    await h.team("t4", T0 - timedelta(days=2), "bob")  # answered: not waiting
    await h.act(cids[1], ActionKind.CLAIM, "bob")
    found = await settle_import(db, h.engine.settings, [*cids, cids[0]], T0, nudge=False)
    assert found.count == 4
    assert found.oldest is not None and found.oldest.conversation == cids[3]
    assert found.by_source == ((SOURCE, 4),)
    assert found.by_person == (("alice", 3), ("bob", 1))  # the claim decides
    assert found.summaries_to == ("alice", "bob")
    async with db.read() as s:
        history = dict((await s.execute(select(Conversation.id, Conversation.imported_wait))).all())
    assert history[live] is None and history[cids[4]] is None
    assert all(history[c] is not None for c in cids[:4])


async def test_a_late_nudge_in_the_window_joins_the_open_summary(db: Database) -> None:
    h = Harness(db, Clock(T0), make_config(remind_every=None, nudges=DEFAULTS))
    await burst(h, 4)
    await h.customer("late", T0 + timedelta(minutes=1))
    await h.tick(T0 + timedelta(minutes=15, seconds=1))
    await h.tick(T0 + timedelta(minutes=16, seconds=1))
    assert posts(h) == ["summary"]
    assert h.messenger.summaries[-1].summary.waiting == 5  # type: ignore[union-attr]
    async with db.read() as s:
        states = (await s.scalars(select(Nudge.state))).all()
    assert sorted(states) == [BATCHED] * 5
