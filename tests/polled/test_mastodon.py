"""Mastodon through the real poller, real HTTP (a local fake Mastodon) and the real database."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.domain.events import ActionKind
from bot.domain.ports import ActionRequest
from storage import dead_letters_repo
from tests.polled.fake_mastodon import TOKEN, FakeMastodon
from tests.polled.kit import Clock, Harness, harness

MIN = timedelta(minutes=1)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeMastodon]:
    with FakeMastodon(clock) as server:
        yield server


def sources(fake: FakeMastodon) -> str:
    return f"""\
  fediverse:
    platform: mastodon
    instance: {fake.base_url}
    token: {TOKEN}
    poll_every: 60s
    owner: alice
    policy: standard
"""


@pytest.fixture
async def h(tmp_path: Path, db_url: str, fake: FakeMastodon, clock: Clock) -> Iterator[Harness]:
    async with harness(tmp_path, db_url, sources(fake), clock) as running:
        yield running


async def test_mention_waits_the_accounts_reply_answers_and_threads_hold(
    h: Harness, fake: FakeMastodon, clock: Clock
) -> None:
    dana = fake.account("dana", domain="other.example")
    question = fake.mention(dana, "Where is my order? <3 & thanks", clock() - 5 * MIN)
    fake.favourite(dana, question, clock())  # not a mention: never a message

    assert await h.step("fediverse") == 60.0
    [stored] = await h.messages()
    assert stored.message_id == question["id"] and stored.thread == question["id"]
    assert stored.text == "@acme Where is my order? <3 & thanks"  # HTML -> text
    assert not stored.is_team
    [conv] = await h.conversations()
    assert conv.waiting_since == clock() - 5 * MIN
    assert conv.customer_id == dana["id"]

    clock.advance(MIN)
    me = fake.accounts["acme"]
    answer = fake.post(me, "@dana It ships today.", clock(), reply_to=question["id"])
    await h.step("fediverse")
    assert await h.waiting() == []
    assert [m.message_id for m in await h.messages()] == [question["id"], answer["id"]]
    assert (await h.messages())[1].is_team

    # Dana answers the account's reply (no new mention of the root): same conversation,
    # found through the status context.
    clock.advance(MIN)
    follow_up = fake.mention(dana, "And the invoice?", clock(), reply_to=answer["id"])
    await h.step("fediverse")
    assert await h.waiting() == [question["id"]]
    assert {m.thread for m in await h.messages()} == {question["id"]}

    # A team member by handle (@alice@<instance>) mentioning the account answers too.
    alice = fake.account("alice")
    clock.advance(MIN)
    fake.mention(alice, "Invoice sent by mail.", clock(), reply_to=follow_up["id"])
    await h.step("fediverse")
    assert await h.waiting() == []
    last = (await h.messages())[-1]
    assert last.is_team and last.person == "alice"
    assert h.duplicates() == []


async def test_first_poll_reads_only_the_newest_page(
    h: Harness, fake: FakeMastodon, clock: Clock
) -> None:
    h.source("fediverse").poller.page = 3  # type: ignore[attr-defined]
    dana = fake.account("dana", domain="other.example")
    posted = [fake.mention(dana, f"old {i}", clock() - (10 - i) * MIN) for i in range(5)]
    assert await h.step("fediverse") == 60.0
    assert [m.message_id for m in await h.messages()] == [s["id"] for s in posted[-3:]]


async def test_restart_neither_misses_nor_repeats(
    tmp_path: Path, db_url: str, fake: FakeMastodon, clock: Clock
) -> None:
    dana = fake.account("dana", domain="other.example")
    eve = fake.account("eve")
    first = fake.mention(dana, "hello?", clock())
    async with harness(tmp_path, db_url, sources(fake), clock) as before:
        await before.step("fediverse")
        assert len(await before.messages()) == 1

    # While the bot is away: seven mentions (more than two pages of three) and a reply.
    later = []
    for i in range(7):
        clock.advance(MIN)
        later.append(fake.mention(eve if i % 2 else dana, f"still there {i}?", clock()))
    fake.post(fake.accounts["acme"], "@dana yes", clock(), reply_to=first["id"])

    async with harness(tmp_path, db_url, sources(fake), clock) as after:
        after.source("fediverse").poller.page = 3  # type: ignore[attr-defined]
        fake.requests.clear()
        delays = await after.drain("fediverse")
        assert after.source("fediverse").status.last_error is None, delays
        # Three pages, paced by X-RateLimit-* (299 calls left in 300 s: one a second).
        assert delays == [1.0, 1.0, 60.0]
        ids = [m.message_id for m in await after.messages()]
        assert set(ids) == set(fake.statuses)  # 8 mentions and the account's reply
        assert len(ids) == len(set(ids)) == 9
        # Nothing already stored was fetched again: every page asked for what came after.
        asked = [r.arg("min_id") for r in fake.calls("GET", "/api/v1/notifications")]
        assert asked[0] is not None and all(asked)
        assert after.duplicates() == []
        assert ("fediverse", first["id"]) not in after.core.ingested


async def test_outage_backs_off_with_jitter_then_catches_up(
    h: Harness, fake: FakeMastodon, clock: Clock
) -> None:
    dana = fake.account("dana", domain="other.example")
    fake.mention(dana, "one", clock())
    await h.step("fediverse")
    h.source("fediverse").poller.page = 2  # type: ignore[attr-defined]

    fake.down = True
    delays = []
    for _ in range(6):
        clock.advance(MIN)
        fake.mention(dana, f"during the outage at {clock():%H:%M}", clock())
        delays.append(await h.step("fediverse"))
    # rng() = 0.5: equal jitter on 5 s doubling, capped at 10 x poll_every.
    assert delays == [3.75, 7.5, 15.0, 30.0, 60.0, 120.0]
    assert h.source("fediverse").status.failures == 6
    assert "503" in (h.source("fediverse").status.last_error or "")

    fake.down = False
    await h.drain("fediverse")
    assert len(await h.messages()) == 7
    assert h.source("fediverse").status.failures == 0
    assert h.duplicates() == []


async def test_rate_limits_are_honoured(h: Harness, fake: FakeMastodon, clock: Clock) -> None:
    dana = fake.account("dana", domain="other.example")
    fake.mention(dana, "hi", clock())
    fake.fail(status=429, headers={"Retry-After": "120"}, body={"error": "Too many requests"})
    assert await h.step("fediverse") == 120.0
    assert await h.messages() == []
    # Budget spent: wait for X-RateLimit-Reset (five minutes on) before the next poll.
    fake.remaining = 0
    assert await h.step("fediverse") == 300.0
    assert len(await h.messages()) == 1


async def test_timeouts_and_server_errors_are_retried(
    tmp_path: Path, db_url: str, fake: FakeMastodon, clock: Clock
) -> None:
    dana = fake.account("dana", domain="other.example")
    fake.mention(dana, "hi", clock())
    async with harness(tmp_path, db_url, sources(fake), clock, timeout=0.2) as h:
        fake.fail(delay=1.0)
        assert await h.step("fediverse") == 3.75
        assert "Timeout" in (h.source("fediverse").status.last_error or "")
        fake.fail(status=502, body=b"Bad Gateway", content_type="text/plain")
        assert await h.step("fediverse") == 7.5
        assert await h.step("fediverse") == 60.0
        assert len(await h.messages()) == 1


async def test_hostile_answers_are_logged_and_skipped(
    tmp_path: Path,
    db_url: str,
    fake: FakeMastodon,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    dana = fake.account("dana", domain="other.example")
    good = fake.mention(dana, "a real question", clock())
    async with harness(tmp_path, db_url, sources(fake), clock, limit=64 * 1024) as h:
        # HTML where JSON was expected
        fake.fail(
            status=200,
            body=b"<!DOCTYPE html><html><body>Maintenance</body></html>",
            content_type="text/html",
            path="notifications",
        )
        assert await h.step("fediverse") > 0
        assert "not JSON" in (h.source("fediverse").status.last_error or "")
        # A body over the cap
        fake.fail(status=200, body=b"[" + b" " * (1024 * 1024) + b"]", path="notifications")
        await h.step("fediverse")
        assert "over" in (h.source("fediverse").status.last_error or "")
        # JSON of the wrong shape altogether
        fake.fail(status=200, body={"notifications": "nope"}, path="notifications")
        await h.step("fediverse")
        assert await h.messages() == []

        # Items of the wrong types, and a hostile id, around one good item: only it is stored.
        hostile = [
            {"id": "2001", "type": "mention", "status": "not an object"},
            {"id": ["2002"], "type": "mention"},
            {"id": "2003", "type": "mention", "status": {**good, "id": "../../admin"}},
            {
                "id": "2004",
                "type": "mention",
                "status": {**good, "id": "2004", "created_at": 12345},
            },
            {
                "id": "2005",
                "type": "mention",
                "status": {**good, "id": "2005", "in_reply_to_id": "../x"},
            },
            {"id": "2006", "type": "mention", "status": good},
            "garbage",
        ]
        fake.fail(status=200, body=hostile, path="notifications")
        assert await h.step("fediverse") == 60.0
        assert [m.message_id for m in await h.messages()] == [good["id"]]
        assert h.source("fediverse").status.failures == 0
        # Nothing silent: each skipped item is kept whole as a dead letter.
        letters = await dead_letters_repo.listing(h.runtime.db)
        assert {(x.platform, x.source) for x in letters} == {("mastodon", "fediverse")}
        kept = {json.dumps(json.loads(x.payload), sort_keys=True) for x in letters}
        skipped = [item for i, item in enumerate(hostile) if i != 5]  # all but the good one
        assert kept == {json.dumps(item, sort_keys=True) for item in skipped}
    assert "skipped a malformed item" in caplog.text


async def test_reply_through_posts_as_the_account_and_answers(
    h: Harness, fake: FakeMastodon, clock: Clock
) -> None:
    dana = fake.account("dana", domain="other.example")
    question = fake.mention(dana, "Can you help?", clock(), visibility="unlisted")
    await h.step("fediverse")
    [conv] = await h.conversations()

    clock.advance(2 * MIN)
    assert h.runtime.engine is not None
    result = await h.runtime.engine.act(
        ActionRequest(conv.id, ActionKind.REPLY, "alice", clock(), text="Sure, what's up?")
    )
    assert result.ok, result.message
    [post] = fake.calls("POST", "/api/v1/statuses")
    body = post.json()
    assert body == {
        "status": "@dana@other.example Sure, what's up?",
        "in_reply_to_id": question["id"],
        "visibility": "unlisted",
    }
    assert post.headers["idempotency-key"]
    assert await h.waiting() == []

    # The poller then sees the account's own status: the same message, not a second one.
    await h.step("fediverse")
    stored = await h.messages()
    assert len(stored) == 2 and stored[1].is_team and stored[1].person == "alice"

    # A rejected post is a failed action, not a crash.
    fake.fail(status=422, body={"error": "Validation failed"}, path="/api/v1/statuses$")
    result = await h.runtime.engine.act(
        ActionRequest(conv.id, ActionKind.REPLY, "alice", clock(), text="again")
    )
    assert not result.ok
