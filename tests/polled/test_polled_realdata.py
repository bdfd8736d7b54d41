"""The real Mastodon, Discourse and GitHub payloads in ../shared/data/realdata through the real
pollers: each fake serves them at the endpoint the poller reads, adapted only as
realdata/README.md says (ids and times). Customer messages wait, the team's reply ends the
wait, favourites and staff announcements store no waiting, nothing is a 5xx or a crash."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import shared_data
from tests.polled.fake_discourse import API_KEY, FakeDiscourse
from tests.polled.fake_github import REPO, FakeGitHub
from tests.polled.fake_github import TOKEN as GH_TOKEN
from tests.polled.fake_mastodon import TOKEN as MASTODON_TOKEN
from tests.polled.fake_mastodon import FakeMastodon
from tests.polled.fakeserver import Answer, Request
from tests.polled.kit import Clock, harness

MIN = timedelta(minutes=1)
_TIME_KEYS = ("created_at", "updated_at", "closed_at", "edited_at", "last_posted_at")


def _load(path: str) -> Any:
    return json.loads(shared_data(f"realdata/{path}").read_text(encoding="utf-8"))


def _iso(at: datetime, millis: bool = True) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z" if millis else "%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def shift_times(data: Any, newest: datetime, *, millis: bool = True) -> Any:
    """Every timestamp moved so the newest is ``newest``, differences kept."""
    data = copy.deepcopy(data)
    found: list[datetime] = []

    def walk(node: Any, apply: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _TIME_KEYS and isinstance(value, str):
                    apply(node, key, value)
                else:
                    walk(value, apply)
        elif isinstance(node, list):
            for value in node:
                walk(value, apply)

    walk(data, lambda _n, _k, v: found.append(_parse(v)))
    delta = newest - max(found)
    walk(data, lambda n, k, v: n.__setitem__(k, _iso(_parse(v) + delta, millis)))
    return data


# -- Mastodon -----------------------------------------------------------------------------


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def mastodon(clock: Clock) -> Iterator[FakeMastodon]:
    with FakeMastodon(clock) as server:
        yield server


async def test_mastodon_docs_payloads(
    tmp_path: Path, db_url: str, mastodon: FakeMastodon, clock: Clock
) -> None:
    me = _load("mastodon/docs_verify_credentials.json")
    notifications = shift_times(_load("mastodon/docs_notifications.json"), clock() - 10 * MIN)
    context = _load("mastodon/docs_status_context.json")
    reply = _load("mastodon/docs_status_entity.json")
    mention = next(n for n in notifications if n["type"] == "mention")["status"]
    # As the README says: the account's own reply to the mention, just after it.
    reply.update(account=me, in_reply_to_id=mention["id"], id=str(int(mention["id"]) + 1),
                 created_at=_iso(_parse(mention["created_at"]) + 2 * MIN))  # fmt: skip
    mastodon.accounts["acme"] = me
    mastodon.notifications = notifications
    mastodon.statuses[mention["id"]] = {**mention, "visibility": "public"}

    def served_context(_request: Request, _m: re.Match[str]) -> Answer:
        return Answer(body=context)  # the docs' thread, as the mention's context

    mastodon.routes.insert(
        0, ("GET", re.compile(rf"^/api/v1/statuses/{mention['id']}/context$"), served_context)
    )
    sources = f"""\
  fediverse:
    platform: mastodon
    instance: {mastodon.base_url}
    token: {MASTODON_TOKEN}
    owner: alice
    policy: standard
"""
    async with harness(tmp_path, db_url, sources, clock) as h:
        await h.drain("fediverse")
        assert h.source("fediverse").status.failures == 0
        stored = await h.messages("fediverse")
        assert [(m.message_id, m.is_team) for m in stored] == [(mention["id"], False)]
        assert stored[0].text.endswith("sup!")
        root = context["ancestors"][0]["id"]
        assert await h.waiting("fediverse") == [root]  # the favourite stored nothing

        mastodon.statuses[reply["id"]] = reply
        clock.advance(5 * MIN)
        await h.drain("fediverse")
        stored = await h.messages("fediverse")
        assert [(m.message_id, m.is_team) for m in stored] == [
            (mention["id"], False), (reply["id"], True),
        ]  # fmt: skip
        assert {m.thread for m in stored} == {root}
        assert await h.waiting("fediverse") == []


# -- Discourse ----------------------------------------------------------------------------


async def test_discourse_docs_payloads(tmp_path: Path, db_url: str, clock: Clock) -> None:
    latest = shift_times(_load("discourse/docs_latest_posts.json"), clock() - 30 * MIN)
    posts = latest["latest_posts"]
    staff_reply = _load("discourse/docs_get_post.json")
    last_customer = max(_parse(p["created_at"]) for p in posts if p["topic_id"] == 8)
    staff_reply["created_at"] = staff_reply["updated_at"] = _iso(last_customer + 5 * MIN)
    staff_reply.setdefault("topic_title", "Welcome")
    with FakeDiscourse(clock) as forum:
        forum.posts = list(posts)
        sources = f"""\
  forum:
    platform: discourse
    url: {forum.base_url}
    api_key: {API_KEY}
    api_username: system
    owner: alice
    policy: standard
"""
        async with harness(tmp_path, db_url, sources, clock) as h:
            await h.drain("forum")
            assert h.source("forum").status.failures == 0
            stored = await h.messages("forum")
            assert len(stored) == len(posts)
            staff = {p["id"] for p in posts if p["staff"]}
            assert {m.message_id for m in stored if m.is_team} == {str(i) for i in staff}
            # Topic 8: customers wrote after the last staff post; every other topic is a
            # staff announcement nobody answered: no waiting there.
            [waiting] = await h.waiting("forum")
            assert "8" in waiting

            forum.posts.append(staff_reply)
            clock.advance(5 * MIN)
            await h.drain("forum")
            assert await h.waiting("forum") == []
            assert any(m.message_id == str(staff_reply["id"]) and m.is_team
                       for m in await h.messages("forum"))  # fmt: skip


# -- GitHub --------------------------------------------------------------------------------


def _github_payloads() -> dict[str, dict[str, Any]]:
    names = [
        "issues_opened", "issues_opened.with-empty-body", "issue_comment_created",
        "issue_comment_edited", "issues_deleted", "issues_milestoned", "issues_reopened",
    ]  # fmt: skip
    return {n: _load(f"github/octokit_{n}.json") for n in names}


async def test_github_octokit_payloads(tmp_path: Path, db_url: str, clock: Clock) -> None:
    loaded = _github_payloads()
    base = clock() - 60 * MIN

    def issue(payload: dict[str, Any], at: datetime, **changes: Any) -> dict[str, Any]:
        found = shift_times(payload["issue"], at, millis=False)
        found.update(changes)
        return found

    def comment(payload: dict[str, Any], at: datetime, issue_url: str) -> dict[str, Any]:
        found = shift_times(payload["comment"], at, millis=False)
        found["user"] = {**found["user"], "login": "alice-gh"}  # the team member's login
        found["issue_url"] = issue_url
        return found

    with FakeGitHub(clock) as github:
        opened = issue(loaded["issues_opened"], base)
        empty = issue(loaded["issues_opened.with-empty-body"], base + MIN, number=3, id=3)
        github.issues = {opened["number"]: opened, 3: empty}
        sources = f"""\
  issues:
    platform: github
    repo: {REPO}
    token: {GH_TOKEN}
    api_url: {github.base_url}
    policy: standard
"""
        async with harness(tmp_path, db_url, sources, clock) as h:
            await h.drain("issues")
            assert h.source("issues").status.failures == 0
            assert len(await h.waiting("issues")) == 2  # two customers' issues wait

            # The maintainer answers the first (created, then edited: one message).
            url = opened["url"]
            created = comment(loaded["issue_comment_created"], base + 5 * MIN, url)
            edited = comment(loaded["issue_comment_edited"], base + 6 * MIN, url)
            edited["id"] = created["id"]
            github.comments = {created["id"]: edited}
            # Milestoned and reopened: the same issue, updated; nothing new said.
            for name in ("issues_milestoned", "issues_reopened"):
                changed = issue(loaded[name], base + 7 * MIN, number=opened["number"],
                                id=opened["id"])  # fmt: skip
                github.issues[opened["number"]] = changed
            clock.advance(10 * MIN)
            await h.drain("issues")
            waiting = await h.waiting("issues")
            assert len(waiting) == 1 and waiting[0].endswith("3"), waiting
            team = [m for m in await h.messages("issues") if m.is_team]
            assert [m.person for m in team] == ["alice"]

            # Deleted (the REST view: closed, closed_by null) closes the second issue's wait.
            # Its times: closed two minutes after it was opened, as in the payload, both after
            # the second issue's opening (updated_at is the close: nothing changed since).
            gone = loaded["issues_deleted"]["issue"]
            opened_to_closed = _parse(gone["closed_at"]) - _parse(gone["created_at"])
            closed = base + 20 * MIN
            github.issues[3] = {**gone, "number": 3, "id": 3,
                                "created_at": _iso(closed - opened_to_closed, False),
                                "closed_at": _iso(closed, False),
                                "updated_at": _iso(closed, False)}  # fmt: skip
            clock.advance(10 * MIN)
            await h.drain("issues")
            assert await h.waiting("issues") == []


def _graphql_node(discussion: dict[str, Any], at: datetime) -> dict[str, Any]:
    """The webhook's REST-style discussion as the GraphQL node the poller asks for (same
    values, GraphQL field names)."""
    return {
        "id": discussion["node_id"], "number": discussion["number"],
        "title": discussion["title"], "body": discussion["body"],
        "url": discussion["html_url"], "createdAt": _iso(at, False),
        "updatedAt": _iso(at, False), "closed": False, "closedAt": None,
        "authorAssociation": discussion["author_association"],
        "author": {"login": discussion["user"]["login"], "__typename": discussion["user"]["type"]},
        "comments": [],
    }  # fmt: skip


def _graphql_comment(comment: dict[str, Any], at: datetime, login: str) -> dict[str, Any]:
    return {
        "databaseId": comment["id"], "body": comment["body"], "createdAt": _iso(at, False),
        "updatedAt": _iso(at, False), "url": comment["html_url"],
        "authorAssociation": comment["author_association"],
        "author": {"login": login, "__typename": comment["user"]["type"]}, "replies": [],
    }  # fmt: skip


async def test_github_octokit_discussions(tmp_path: Path, db_url: str, clock: Clock) -> None:
    from tests.polled.fake_github import FakeGitHubWithDiscussions

    created = _load("github/octokit_discussion_created.json")
    answered = _load("github/octokit_discussion_comment_created.json")
    gone = _parse(created["discussion"]["updated_at"]) - _parse(created["discussion"]["created_at"])
    start = clock() - 60 * MIN
    with FakeGitHubWithDiscussions(clock) as github:
        node = _graphql_node(created["discussion"], start)
        github.discussions = {node["number"]: node}
        sources = f"""\
  issues:
    platform: github
    repo: {REPO}
    token: {GH_TOKEN}
    api_url: {github.base_url}
    discussions: true
    policy: standard
"""
        async with harness(tmp_path, db_url, sources, clock) as h:
            await h.drain("issues")
            assert h.source("issues").status.failures == 0
            [opening] = await h.messages("issues")
            assert opening.text.endswith("TEST edit")
            before = await h.waiting("issues")

            comment = _graphql_comment(answered["comment"], start + gone, "alice-gh")
            node["comments"].append(comment)
            node["updatedAt"] = comment["updatedAt"]
            clock.advance(5 * MIN)
            await h.drain("issues")
            stored = await h.messages("issues")
            assert [(m.is_team, m.person) for m in stored][-1] == (True, "alice")
            assert stored[-1].text == "ANSWER"
            assert await h.waiting("issues") == []
            # Codertocat is not on the configured team: the opening waited until the answer.
            assert before == [f"discussion:{node['number']}"] and opening.is_team is False
