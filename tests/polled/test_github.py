"""GitHub through the real poller, real HTTP (a local fake REST API) and the real database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.domain.events import ActionKind
from bot.domain.ports import ActionRequest
from tests.polled.fake_github import (
    BOT_LOGIN,
    REPO,
    TOKEN,
    FakeGitHub,
    FakeGitHubWithDiscussions,
)
from tests.polled.kit import Clock, Harness, harness

MIN = timedelta(minutes=1)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeGitHub]:
    with FakeGitHub(clock) as server:
        yield server


def sources(fake: FakeGitHub, extra: str = "") -> str:
    return f"""\
  issues:
    platform: github
    repo: {REPO}
    token: {TOKEN}
    api_url: {fake.base_url}
    poll_every: 5m
    policy: standard
{extra}"""


@pytest.fixture
async def h(tmp_path: Path, db_url: str, fake: FakeGitHub, clock: Clock) -> AsyncIterator[Harness]:
    async with harness(tmp_path, db_url, sources(fake), clock) as running:
        yield running


async def test_issue_waits_maintainer_answers_closing_ends_the_wait(
    h: Harness, fake: FakeGitHub, clock: Clock
) -> None:
    issue = fake.open("dana", "Crash on start", "Stack trace attached", clock() - 10 * MIN)
    n = str(issue["number"])
    pr = fake.open("eve", "Fix typo", "small fix", clock() - 9 * MIN, pr=True)
    fake.comment(pr["number"], "eve", "ping?", clock() - 8 * MIN)  # a PR: skipped
    fake.comment(issue["number"], "dependabot[bot]", "bump", clock() - 7 * MIN, kind="Bot")
    assert await h.step("issues") == 300.0
    assert await h.waiting() == [n]
    [opening] = await h.messages()
    assert (
        opening.message_id == f"issue:{n}"
        and opening.text == "Crash on start\nStack trace attached"
    )
    assert opening.url == f"https://github.com/{REPO}/issues/{n}"

    # A maintainer (team member by GitHub login) answers.
    clock.advance(MIN)
    fake.comment(issue["number"], "alice-gh", "Which version?", clock(), association="MEMBER")
    await h.step("issues")
    assert await h.waiting() == []
    assert (await h.messages())[-1].person == "alice"

    # The customer follows up, then edits the follow-up: still one message, new text.
    clock.advance(MIN)
    follow = fake.comment(issue["number"], "dana", "v1.2", clock())
    await h.step("issues")
    assert await h.waiting() == [n]
    clock.advance(MIN)
    fake.edit(follow["id"], "v1.2.3 on Linux", clock())
    await h.step("issues")
    texts = [m.text for m in await h.messages()]
    assert "v1.2.3 on Linux" in texts and "v1.2" not in texts

    # She closes it herself: the waiting period ends (a synthetic team-side "closed" message).
    clock.advance(MIN)
    fake.close(issue["number"], "dana", clock(), reason="not_planned")
    await h.step("issues")
    assert await h.waiting() == []
    closed = (await h.messages())[-1]
    assert closed.message_id.startswith(f"closed:{n}:") and closed.is_team
    assert closed.text == "closed this issue (not planned)" and closed.person is None

    # Reopened and asked again: waiting again. Polling again changes nothing.
    clock.advance(MIN)
    fake.reopen(issue["number"], clock())
    fake.comment(issue["number"], "dana", "it is back", clock())
    await h.step("issues")
    await h.step("issues")
    assert await h.waiting() == [n]
    assert all(m.thread == n for m in await h.messages())
    assert h.duplicates() == [("issues", f"comment:{follow['id']}")]  # only the edit


async def test_collaborators_and_pull_requests_when_configured(
    tmp_path: Path, db_url: str, fake: FakeGitHub, clock: Clock
) -> None:
    extra = "    maintainers: collaborators\n    pull_requests: true\n"
    issue = fake.open("dana", "Question", None, clock() - 5 * MIN)
    pr = fake.open("eve", "Feature", "please merge", clock() - 4 * MIN, pr=True)
    fake.comment(issue["number"], "carol", "Answered in the docs", clock(), association="NONE")
    async with harness(tmp_path, db_url, sources(fake, extra), clock) as h:
        await h.step("issues")
        assert await h.waiting() == [str(pr["number"])]  # carol is a collaborator
        clock.advance(MIN)
        fake.comment(pr["number"], "zed", "LGTM", clock(), association="OWNER")  # by association
        await h.step("issues")
        assert await h.waiting() == []
        assert len(fake.calls("GET", f"/repos/{REPO}/collaborators")) == 1  # cached


async def test_restart_pages_through_without_repeats(
    tmp_path: Path, db_url: str, fake: FakeGitHub, clock: Clock
) -> None:
    first = fake.open("dana", "First", "body", clock() - 30 * MIN)
    async with harness(tmp_path, db_url, sources(fake), clock) as before:
        await before.step("issues")

    expected = {f"issue:{first['number']}"}
    for i in range(5):
        clock.advance(MIN)
        issue = fake.open("eve", f"Issue {i}", "body", clock())
        expected.add(f"issue:{issue['number']}")
        for j in range(2):  # two comments in the same second: a keyset boundary
            c = fake.comment(issue["number"], "dana", f"detail {i}.{j}", clock())
            expected.add(f"comment:{c['id']}")

    async with harness(tmp_path, db_url, sources(fake), clock) as after:
        after.source("issues").poller.page = 2  # type: ignore[attr-defined]
        fake.requests.clear()
        await after.drain("issues")
        assert {m.message_id for m in await after.messages()} == expected
        assert after.duplicates() == []  # not even the boundary items were handed over twice
        # The saved cursor was used: what the first process stored is not handed over again
        # (without it the poller would start over from ``backfill`` and re-read everything).
        assert ("issues", f"issue:{first['number']}") not in after.core.ingested
        sinces = [r.arg("since") for r in fake.calls("GET", f"/repos/{REPO}/issues")]
        assert sinces == sorted(sinces) and sinces[0] is not None  # the keyset only moves on
        assert sinces[0] == first["updated_at"]  # resumed at the cursor, not the backfill
        count = len(after.core.ingested)
        await after.step("issues")
        assert len(after.core.ingested) == count


async def test_rate_limits_outage_and_timeouts(
    tmp_path: Path, db_url: str, fake: FakeGitHub, clock: Clock
) -> None:
    fake.open("dana", "Help", "please", clock())
    async with harness(tmp_path, db_url, sources(fake), clock, timeout=0.2) as h:
        # Primary limit spent: 403 with x-ratelimit-remaining 0 -> wait for the reset.
        fake.fail(
            status=403,
            body={"message": "API rate limit exceeded"},
            headers={
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(int((clock() + 20 * MIN).timestamp())),
            },
        )
        assert await h.step("issues") == 1200.0
        # Secondary limit: 403 with Retry-After.
        fake.fail(
            status=403,
            body={"message": "You have exceeded a secondary rate limit"},
            headers={"Retry-After": "60"},
        )
        assert await h.step("issues") == 60.0
        fake.fail(delay=1.0)
        assert await h.step("issues") == 15.0  # third failure in a row: 5 s doubled twice
        fake.fail(times=2, status=502, body=b"<html>Unicorn!</html>", content_type="text/html")
        assert await h.step("issues") == 30.0
        assert await h.step("issues") == 60.0
        assert await h.step("issues") == 300.0
        assert len(await h.messages()) == 1
        # Few calls left: the pause spreads them until the window resets.
        fake.remaining = 5
        assert await h.step("issues") == 600.0  # 3600 s / (5 + 1)


async def test_429_with_retry_after_waits_as_told(
    h: Harness, fake: FakeGitHub, clock: Clock
) -> None:
    fake.open("dana", "Help", "please", clock())
    # GitHub answers a secondary rate limit with 403 or 429 and Retry-After.
    fake.fail(
        status=429,
        body={"message": "You have exceeded a secondary rate limit."},
        headers={"Retry-After": "90"},
    )
    assert await h.step("issues") == 90.0
    assert await h.messages() == []
    assert await h.step("issues") == 300.0
    assert len(await h.messages()) == 1


async def test_hostile_issues_are_skipped(h: Harness, fake: FakeGitHub, clock: Clock) -> None:
    good = fake.open("dana", "Real", "real question", clock())
    fake.fail(
        status=200, body=b"\x1f\x8b garbage", content_type="application/json", path="/issues$"
    )
    assert await h.step("issues") > 0
    hostile = [
        {**good, "number": "1; DROP TABLE", "id": 1},
        {**good, "number": 77, "id": 2, "user": "dana"},
        {**good, "number": 78, "id": 3, "created_at": None},
        {**good, "number": 79, "id": 4, "title": ["x"] * 10},
        good,
    ]
    fake.fail(status=200, body=hostile, path="/issues$")
    fake.fail(
        status=200,
        body=[{"id": 5, "updated_at": "2026-11-30T10:00:00Z", "issue_url": "http://evil/../x"}],
        path="/comments$",
    )
    assert await h.step("issues") == 300.0
    assert [m.message_id for m in await h.messages()] == [f"issue:{good['number']}"]


async def test_reply_through_comments_as_the_token_account(
    h: Harness, fake: FakeGitHub, clock: Clock
) -> None:
    issue = fake.open("dana", "Docs?", "where are the docs", clock())
    await h.step("issues")
    [conv] = await h.conversations()
    clock.advance(MIN)
    assert h.runtime.engine is not None
    result = await h.runtime.engine.act(
        ActionRequest(conv.id, ActionKind.REPLY, "bob", clock(), text="See docs.acme.dev")
    )
    assert result.ok, result.message
    [sent] = fake.calls("POST", rf"/repos/{REPO}/issues/{issue['number']}/comments")
    assert sent.json() == {"body": "See docs.acme.dev"}
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert await h.waiting() == []
    await h.step("issues")  # the comment by acme-bot comes back: same id, still bob's
    stored = await h.messages()
    assert len(stored) == 2 and stored[1].is_team and stored[1].person == "bob"
    assert BOT_LOGIN  # posted as the token's own account, which the poller counts as team


async def test_discussions_over_graphql(tmp_path: Path, db_url: str, clock: Clock) -> None:
    with FakeGitHubWithDiscussions(clock) as fake:
        config = sources(fake, "    discussions: true\n")
        async with harness(tmp_path, db_url, config, clock) as h:
            d = fake.discuss("dana", "How to configure?", "Where is the config file?", clock())
            thread = f"discussion:{d['number']}"
            await h.step("issues")
            assert await h.waiting() == [thread]

            clock.advance(MIN)
            answer = fake.discussion_comment(
                d["number"], "alice-gh", "In ~/.widget", clock(), association="MEMBER"
            )
            await h.step("issues")
            assert await h.waiting() == []

            clock.advance(MIN)
            fake.discussion_comment(
                d["number"], "dana", "Not there on Windows", clock(), reply_to=answer["databaseId"]
            )
            await h.step("issues")
            await h.step("issues")  # nothing new: nothing handed over again
            assert await h.waiting() == [thread]
            assert h.duplicates() == []

            # Reply-through posts addDiscussionComment as the token's account.
            clock.advance(MIN)
            [conv] = await h.conversations()
            assert h.runtime.engine is not None
            done = await h.runtime.engine.act(
                ActionRequest(conv.id, ActionKind.REPLY, "bob", clock(), text="%APPDATA%")
            )
            assert done.ok, done.message
            [find, add] = fake.calls("POST", "/graphql")[-2:]
            assert find.json()["variables"]["number"] == d["number"]
            assert add.json()["variables"] == {"discussion": d["id"], "body": "%APPDATA%"}
            assert await h.waiting() == []
            await h.step("issues")
            stored = await h.messages()
            assert len(stored) == 4 and stored[-1].person == "bob" and stored[-1].is_team

            # Closing ends a later wait; GraphQL rate limits wait like REST ones.
            clock.advance(MIN)
            fake.discussion_comment(d["number"], "dana", "one more thing", clock())
            clock.advance(MIN)
            fake.close_discussion(d["number"], clock())
            await h.step("issues")
            assert await h.waiting() == []
            assert (await h.messages())[-1].message_id.startswith(f"closed:{thread}:")
            fake.fail(
                status=200,
                body={"errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded"}]},
                headers={
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-reset": str(int((clock() + 10 * MIN).timestamp())),
                },
                path="/graphql",
            )
            assert await h.step("issues") == 600.0  # until x-ratelimit-reset
