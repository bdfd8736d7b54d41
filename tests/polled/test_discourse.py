"""Discourse through the real poller, real HTTP (a local fake forum) and the real database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.domain.events import ActionKind
from bot.domain.ports import ActionRequest
from tests.polled.fake_discourse import API_KEY, RATE_LIMITED, FakeDiscourse
from tests.polled.kit import Clock, Harness, harness

MIN = timedelta(minutes=1)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeDiscourse]:
    with FakeDiscourse(clock, page=3) as server:
        server.user("dana")
        server.user("eve")
        server.user("sam", staff=True)  # staff, not in the team config
        server.user("alice_forum")  # alice by handle, not staff
        yield server


def sources(fake: FakeDiscourse) -> str:
    return f"""\
  forum:
    platform: discourse
    url: {fake.base_url}
    api_key: {API_KEY}
    api_username: system
    categories: [support]
    poll_every: 2m
    policy: standard
"""


@pytest.fixture
async def h(
    tmp_path: Path, db_url: str, fake: FakeDiscourse, clock: Clock
) -> AsyncIterator[Harness]:
    async with harness(tmp_path, db_url, sources(fake), clock) as running:
        yield running


async def test_customer_topic_waits_and_staff_or_team_answers(
    h: Harness, fake: FakeDiscourse, clock: Clock
) -> None:
    first = fake.topic("dana", "Login broken", "I cannot log in & it hurts", clock() - 3 * MIN)
    fake.topic("eve", "Off topic", "Nice weather", clock() - 2 * MIN, category=9)  # unwatched
    billing = fake.topic("eve", "Refund", "Please refund", clock() - MIN, category=7)  # sub
    assert await h.step("forum") == 120.0
    assert sorted(await h.waiting()) == sorted([str(first["topic_id"]), str(billing["topic_id"])])
    stored = {m.message_id: m for m in await h.messages()}
    assert stored[str(first["id"])].text == "Login broken\nI cannot log in & it hurts"
    assert stored[str(first["id"])].url.endswith(f"/t/login-broken/{first['topic_id']}/1")

    # A staff whisper is not an answer; a staff reply is; a team member by handle is too.
    clock.advance(MIN)
    fake.reply("sam", first["topic_id"], "internal: check the SSO logs", clock(), post_type=4)
    await h.step("forum")
    assert str(first["topic_id"]) in await h.waiting()
    fake.reply("sam", first["topic_id"], "Fixed, try again please", clock())
    fake.reply("alice_forum", billing["topic_id"], "Refund issued", clock())
    await h.step("forum")
    assert await h.waiting() == []
    by_text = {m.text: m for m in await h.messages()}
    assert by_text["Refund issued"].person == "alice"
    assert (
        by_text["Fixed, try again please"].is_team
        and by_text["Fixed, try again please"].person is None
    )

    # Her follow-up reopens the waiting; "thanks!" after an answer would not.
    clock.advance(MIN)
    fake.reply("dana", first["topic_id"], "Still broken :(", clock())
    fake.reply("eve", billing["topic_id"], "thanks!", clock())
    await h.step("forum")
    assert await h.waiting() == [str(first["topic_id"])]
    assert h.duplicates() == []


async def test_restart_and_a_failure_mid_walk_neither_miss_nor_repeat(
    tmp_path: Path, db_url: str, fake: FakeDiscourse, clock: Clock
) -> None:
    topic = fake.topic("dana", "First", "first question", clock())
    async with harness(tmp_path, db_url, sources(fake), clock) as before:
        await before.step("forum")

    posted = [topic]
    for i in range(8):  # nearly three pages of three while nobody polls
        clock.advance(MIN)
        if i % 3 == 0:
            posted.append(fake.topic("eve", f"Topic {i}", f"question {i}", clock()))
        else:
            posted.append(fake.reply("dana", topic["topic_id"], f"more detail {i}", clock()))
    fake.topic("dana", "Elsewhere", "not watched", clock(), category=9)

    async with harness(tmp_path, db_url, sources(fake), clock) as after:
        fake.requests.clear()
        assert await after.step("forum") == 0.0  # page 1 of the walk back
        fake.fail(
            status=500, body=b"Internal Server Error", content_type="text/plain", path="/posts.json"
        )
        assert await after.step("forum") > 0  # page 2 fails
        await after.drain("forum")
        befores = [r.arg("before") for r in fake.calls("GET", "/posts.json")]
        assert befores[0] is None and befores[1] == befores[2]  # resumed where it stopped
        ids = [m.message_id for m in await after.messages()]
        assert sorted(ids) == sorted(str(p["id"]) for p in posted)
        assert after.duplicates() == []
        assert ("forum", str(topic["id"])) not in after.core.ingested
        # Caught up: the next poll reads one page and finds nothing new.
        fake.requests.clear()
        assert await after.step("forum") == 120.0
        assert len(fake.calls("GET", "/posts.json")) == 1
        assert len(after.core.ingested) == len(posted) - 1


async def test_outage_and_rate_limit(h: Harness, fake: FakeDiscourse, clock: Clock) -> None:
    fake.topic("dana", "Hello", "anyone?", clock())
    fake.down = True
    delays = [await h.step("forum") for _ in range(3)]
    assert delays == [3.75, 7.5, 15.0]
    fake.down = False
    fake.fail(status=429, body=RATE_LIMITED, headers={"Retry-After": "7"}, path="/posts.json")
    assert await h.step("forum") == 7.0
    assert await h.step("forum") == 120.0
    assert len(await h.messages()) == 1


async def test_timeout_then_a_long_outage_is_caught_up(
    tmp_path: Path, db_url: str, fake: FakeDiscourse, clock: Clock
) -> None:
    first = fake.topic("dana", "Before", "before the outage", clock())
    async with harness(tmp_path, db_url, sources(fake), clock, timeout=0.2) as h:
        await h.step("forum")
        fake.fail(delay=1.0, path="/posts.json")  # slower than the client's timeout
        assert await h.step("forum") == 3.75
        assert "Timeout" in (h.source("forum").status.last_error or "")
        fake.down = True
        posted = []
        for i in range(7):  # more than two pages of three arrive while the forum is down
            clock.advance(MIN)
            posted.append(fake.reply("dana", first["topic_id"], f"still waiting {i}", clock()))
            assert await h.step("forum") > 0
        assert h.source("forum").status.failures == 8
        fake.down = False
        await h.drain("forum")
        assert sorted(m.message_id for m in await h.messages()) == sorted(
            str(p["id"]) for p in [first, *posted]
        )
        assert h.source("forum").status.failures == 0
        assert h.duplicates() == []
        assert await h.waiting() == [str(first["topic_id"])]


async def test_hostile_posts_are_skipped(h: Harness, fake: FakeDiscourse, clock: Clock) -> None:
    good = fake.topic("dana", "Real", "a real question", clock())
    fake.fail(
        status=200,
        body=b"<html>Discourse is updating</html>",
        content_type="text/html",
        path="/posts.json",
    )
    assert await h.step("forum") > 0
    fake.fail(status=200, body={"latest_posts": {"id": 1}}, path="/posts.json")
    assert await h.step("forum") > 0
    hostile = [
        {**good, "id": 999_999, "created_at": "yesterday"},
        {**good, "id": 999_998, "username": None},
        {**good, "id": True},
        {**good, "id": 999_997, "topic_id": "../../admin"},
        {**good, "id": 999_996, "staff": "yes"},
        good,
        17,
    ]
    fake.fail(status=200, body={"latest_posts": hostile}, path="/posts.json")
    assert await h.step("forum") == 120.0
    assert [m.message_id for m in await h.messages()] == [str(good["id"])]


async def test_reply_through_posts_as_the_api_user(
    h: Harness, fake: FakeDiscourse, clock: Clock
) -> None:
    post = fake.topic("dana", "Question", "How do I export?", clock())
    await h.step("forum")
    [conv] = await h.conversations()
    assert h.runtime.engine is not None

    too_short = await h.runtime.engine.act(
        ActionRequest(conv.id, ActionKind.REPLY, "alice", clock(), text="Menu.")
    )
    assert not too_short.ok and "too short" in too_short.message
    assert await h.waiting() == [str(post["topic_id"])]

    clock.advance(MIN)
    text = "Settings → Export, then pick CSV."
    done = await h.runtime.engine.act(
        ActionRequest(conv.id, ActionKind.REPLY, "alice", clock(), text=text)
    )
    assert done.ok, done.message
    [_, sent] = fake.calls("POST", "/posts.json")
    assert sent.json() == {"topic_id": post["topic_id"], "raw": text}
    assert sent.headers["api-username"] == "system" and sent.headers["api-key"] == API_KEY
    assert await h.waiting() == []
    await h.step("forum")  # the forum shows the post: same id, no second message
    stored = await h.messages()
    assert len(stored) == 2 and stored[1].is_team and stored[1].person == "alice"
