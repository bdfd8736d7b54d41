"""X through the real poller, real HTTP (a local fake API v2) and the real database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.domain.events import ActionKind
from bot.domain.ports import ActionRequest
from tests.polled.fake_x import ME, TOKEN, FakeX
from tests.polled.kit import Clock, Harness, harness

MIN = timedelta(minutes=1)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeX]:
    with FakeX(clock) as server:
        yield server


def sources(fake: FakeX, extra: str = "") -> str:
    return f"""\
  social:
    platform: x
    token: {TOKEN}
    api_url: {fake.base_url}
    poll_every: 15m
    policy: standard
{extra}"""


@pytest.fixture
async def h(tmp_path: Path, db_url: str, fake: FakeX, clock: Clock) -> AsyncIterator[Harness]:
    async with harness(tmp_path, db_url, sources(fake), clock) as running:
        yield running


async def test_mention_waits_own_reply_answers_by_conversation(
    h: Harness, fake: FakeX, clock: Clock
) -> None:
    dana = fake.user("dana")
    asked = fake.tweet(dana, "@acme my parcel is lost", clock() - 3 * MIN)
    fake.tweet(dana, "unrelated musings", clock() - 2 * MIN)  # no mention: not ours
    assert await h.step("social") == 900.0
    [stored] = await h.messages()
    assert stored.thread == asked["id"] and stored.text == "@acme my parcel is lost"
    assert stored.url == f"https://x.com/dana/status/{asked['id']}"
    assert await h.waiting() == [asked["id"]]

    clock.advance(MIN)
    ours = fake.tweet(ME, "@dana sorry! DM us the number", clock(), reply_to=asked["id"])
    fake.tweet(ME, "Our summer sale starts now", clock())  # a broadcast: its own thread
    fake.tweet(ME, "RT", clock(), retweet_of=asked["id"])  # retweets are skipped
    await h.step("social")
    assert await h.waiting() == []
    by_id = {m.message_id: m for m in await h.messages()}
    assert by_id[ours["id"]].is_team and by_id[ours["id"]].thread == asked["id"]

    # Dana replies to our reply without @acme in front? X prefixes it: still a mention,
    # and the conversation_id keeps it in the same thread.
    clock.advance(MIN)
    again = fake.tweet(dana, "@acme done, thanks but still no parcel", clock(), reply_to=ours["id"])
    await h.step("social")
    assert await h.waiting() == [asked["id"]]
    alice = fake.user("alice_x")  # a team member by handle
    fake.tweet(alice, "@dana @acme found it, arriving tomorrow", clock(), reply_to=again["id"])
    await h.step("social")
    assert await h.waiting() == []
    assert (await h.messages())[-1].person == "alice"
    assert h.duplicates() == []
    assert len(fake.calls("GET", "/2/users/me")) == 1  # asked once, then remembered


async def test_restart_walks_back_with_until_id_and_resumes_after_a_failure(
    tmp_path: Path, db_url: str, fake: FakeX, clock: Clock
) -> None:
    extra = f'    user_id: "{ME["id"]}"\n'
    eve = fake.user("eve")
    first = fake.tweet(eve, "@acme hello", clock())
    async with harness(tmp_path, db_url, sources(fake, extra), clock) as before:
        await before.step("social")

    later = []
    for i in range(12):
        clock.advance(MIN)
        later.append(fake.tweet(eve, f"@acme ping {i}", clock()))
    async with harness(tmp_path, db_url, sources(fake, extra), clock) as after:
        after.source("social").poller.page = 5  # type: ignore[attr-defined]
        fake.requests.clear()
        await after.step("social")  # newest five
        fake.fail(status=503, body={"title": "Service Unavailable"}, path="mentions")
        assert await after.step("social") > 0
        await after.drain("social")
        queries = [
            (r.arg("since_id"), r.arg("until_id"))
            for r in fake.calls("GET", r"/2/users/\d+/mentions")
        ]
        assert all(since == first["id"] for since, _ in queries)
        assert queries[0][1] is None and queries[1][1] == queries[2][1] is not None
        assert sorted(m.message_id for m in await after.messages()) == sorted(
            [first["id"], *(t["id"] for t in later)]
        )
        assert after.duplicates() == []
        assert len(fake.calls("GET", "/2/users/me")) == 0  # user_id from the config
        fake.requests.clear()
        await after.step("social")
        [(since, until)] = [
            (r.arg("since_id"), r.arg("until_id"))
            for r in fake.calls("GET", r"/2/users/\d+/mentions")
        ]
        assert since == later[-1]["id"] and until is None


async def test_rate_limit_and_outage(h: Harness, fake: FakeX, clock: Clock) -> None:
    fake.tweet(fake.user("dana"), "@acme hi", clock())
    reset = str(int((clock() + 7 * MIN).timestamp()))
    fake.fail(
        status=429,
        body={
            "title": "Too Many Requests",
            "status": 429,
            "detail": "Too Many Requests",
            "type": "about:blank",
        },
        headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": reset},
    )
    assert await h.step("social") == 420.0
    fake.down = True
    assert await h.step("social") == 7.5
    fake.down = False
    assert await h.step("social") == 900.0
    assert len(await h.messages()) == 1


async def test_timeout_then_an_outage_is_caught_up(
    tmp_path: Path, db_url: str, fake: FakeX, clock: Clock
) -> None:
    eve = fake.user("eve")
    first = fake.tweet(eve, "@acme hello", clock())
    async with harness(tmp_path, db_url, sources(fake), clock, timeout=0.2) as h:
        h.source("social").poller.page = 5  # type: ignore[attr-defined]
        await h.step("social")
        fake.fail(delay=1.0, path="mentions")  # slower than the client's timeout
        assert await h.step("social") == 3.75
        assert "Timeout" in (h.source("social").status.last_error or "")
        fake.down = True
        later = []
        for i in range(12):  # more than two pages of five while X is unreachable
            clock.advance(MIN)
            later.append(fake.tweet(eve, f"@acme ping {i}", clock()))
        for _ in range(3):
            assert await h.step("social") > 0
        fake.down = False
        await h.drain("social")
        assert sorted(m.message_id for m in await h.messages()) == sorted(
            [first["id"], *(t["id"] for t in later)]
        )
        assert h.source("social").status.failures == 0
        assert h.duplicates() == []


async def test_hostile_tweets_are_skipped(h: Harness, fake: FakeX, clock: Clock) -> None:
    good = fake.tweet(fake.user("dana"), "@acme real", clock())
    fake.fail(status=200, body={"data": "nope", "meta": {}}, path="mentions")
    assert await h.step("social") > 0
    hostile = {
        "data": [
            {**good, "id": 12},
            {**good, "id": "x/../y"},
            {**good, "created_at": []},
            {"id": "1860000000000009999"},
            None,
            good,
        ],
        "includes": {"users": "everyone"},
        "meta": {"result_count": 6, "newest_id": good["id"]},
    }
    fake.fail(status=200, body=hostile, path="mentions")
    assert await h.step("social") == 900.0
    stored = await h.messages()
    assert {m.message_id for m in stored} == {good["id"], "12"}  # 12: a valid id, odd type
    assert all(not m.is_team for m in stored)


async def test_reply_through_posts_a_reply_tweet(h: Harness, fake: FakeX, clock: Clock) -> None:
    asked = fake.tweet(fake.user("dana"), "@acme where?", clock())
    await h.step("social")
    [conv] = await h.conversations()
    clock.advance(MIN)
    assert h.runtime.engine is not None
    done = await h.runtime.engine.act(
        ActionRequest(conv.id, ActionKind.REPLY, "alice", clock(), text="@dana on its way")
    )
    assert done.ok, done.message
    [sent] = fake.calls("POST", "/2/tweets")
    assert sent.json() == {
        "text": "@dana on its way",
        "reply": {"in_reply_to_tweet_id": asked["id"]},
    }
    assert await h.waiting() == []
    await h.step("social")
    stored = await h.messages()
    assert len(stored) == 2 and stored[1].person == "alice" and stored[1].thread == asked["id"]
    again = await h.runtime.engine.act(
        ActionRequest(conv.id, ActionKind.REPLY, "alice", clock(), text="@dana on its way")
    )
    assert not again.ok  # duplicate content refused by X: reported, not raised
