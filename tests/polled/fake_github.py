"""A fake GitHub REST API speaking the documented shapes (docs.github.com/rest):
``/user``, ``/repos/{repo}/issues`` and ``/issues/comments`` (``since`` inclusive on
``updated_at``, ``sort``/``direction``, ``per_page``/``page`` with ``Link`` headers; pull
requests appear among issues with a ``pull_request`` key), ``/issues/{n}`` (with
``closed_by``, which lists leave out), ``POST …/issues/{n}/comments``, ``/collaborators``,
and ``x-ratelimit-*`` headers (reset in epoch seconds)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from tests.polled.fakeserver import Answer, FakeServer, Request, page_links

TOKEN = "ghp_test_token"
REPO = "acme/widget"
BOT_LOGIN = "acme-bot"


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _user(login: str, kind: str = "User") -> dict[str, Any]:
    return {
        "login": login,
        "id": abs(hash(login)) % 10**8,
        "type": kind,
        "html_url": f"https://github.com/{login}",
        "site_admin": False,
    }


class FakeGitHub(FakeServer):
    def __init__(self, clock: Callable[[], datetime]) -> None:
        super().__init__()
        self.clock = clock
        self.issues: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, dict[str, Any]] = {}
        self.collaborators = ["alice-gh", "carol"]
        self.remaining = 4999
        self._numbers = itertools.count(1)
        self._comment_ids = itertools.count(9_000_001)
        self.extra_headers = lambda _r: {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(int((self.clock() + timedelta(hours=1)).timestamp())),
            "x-ratelimit-resource": "core",
        }
        prefix = "/repos/acme/widget"
        self.route("GET", "/user")(self._me)
        self.route("GET", f"{prefix}/issues")(self._list_issues)
        self.route("GET", f"{prefix}/issues/comments")(self._list_comments)
        self.route("GET", rf"{prefix}/issues/(\d+)")(self._get_issue)
        self.route("POST", rf"{prefix}/issues/(\d+)/comments")(self._create_comment)
        self.route("GET", f"{prefix}/collaborators")(self._collaborators)

    # -- the world -------------------------------------------------------------------------

    def open(
        self,
        login: str,
        title: str,
        body: str | None,
        at: datetime,
        *,
        pr: bool = False,
        association: str = "NONE",
        kind: str = "User",
    ) -> dict[str, Any]:
        number = next(self._numbers)
        issue = {
            "id": 500_000 + number,
            "number": number,
            "title": title,
            "body": body,
            "user": _user(login, kind),
            "state": "open",
            "state_reason": None,
            "locked": False,
            "comments": 0,
            "created_at": _iso(at),
            "updated_at": _iso(at),
            "closed_at": None,
            "author_association": association,
            "labels": [],
            "assignees": [],
            "url": f"{self.base_url}/repos/{REPO}/issues/{number}",
            "html_url": f"https://github.com/{REPO}/issues/{number}",
        }
        if pr:
            issue["pull_request"] = {
                "url": f"{self.base_url}/repos/{REPO}/pulls/{number}",
                "html_url": f"https://github.com/{REPO}/pull/{number}",
            }
        with self.lock:
            self.issues[number] = issue
        return issue

    def comment(
        self,
        number: int,
        login: str,
        body: str,
        at: datetime,
        *,
        association: str = "NONE",
        kind: str = "User",
    ) -> dict[str, Any]:
        cid = next(self._comment_ids)
        comment = {
            "id": cid,
            "node_id": f"IC_{cid}",
            "body": body,
            "user": _user(login, kind),
            "created_at": _iso(at),
            "updated_at": _iso(at),
            "author_association": association,
            "issue_url": f"{self.base_url}/repos/{REPO}/issues/{number}",
            "html_url": f"https://github.com/{REPO}/issues/{number}#issuecomment-{cid}",
            "url": f"{self.base_url}/repos/{REPO}/issues/comments/{cid}",
        }
        with self.lock:
            self.comments[cid] = comment
            self.issues[number]["comments"] += 1
            self.issues[number]["updated_at"] = _iso(at)
        return comment

    def edit(self, cid: int, body: str, at: datetime) -> None:
        with self.lock:
            self.comments[cid].update(body=body, updated_at=_iso(at))

    def close(self, number: int, login: str, at: datetime, reason: str = "completed") -> None:
        with self.lock:
            self.issues[number].update(
                state="closed",
                closed_at=_iso(at),
                updated_at=_iso(at),
                state_reason=reason,
                _closed_by=_user(login),
            )

    def reopen(self, number: int, at: datetime) -> None:
        with self.lock:
            self.issues[number].update(
                state="open",
                closed_at=None,
                updated_at=_iso(at),
                state_reason="reopened",
                _closed_by=None,
            )

    # -- the API ---------------------------------------------------------------------------

    def _me(self, request: Request, _m: Any) -> Answer:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return Answer(
                401,
                {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"},
            )
        return Answer(body=_user(BOT_LOGIN))

    def _list(self, request: Request, items: list[dict[str, Any]]) -> Answer:
        since = request.arg("since")
        if since:
            items = [i for i in items if i["updated_at"] >= since]
        key = "updated_at" if request.arg("sort") == "updated" else "created_at"
        items.sort(key=lambda i: (i[key], i["id"]), reverse=request.arg("direction") != "asc")
        per_page = min(int(request.arg("per_page") or 30), 100)
        page = int(request.arg("page") or 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        params = {k: v[0] for k, v in request.query.items() if k != "page"}
        rels = {}
        if page * per_page < len(items):
            rels["next"] = {"page": str(page + 1)}
            rels["last"] = {"page": str((len(items) - 1) // per_page + 1)}
        if page > 1:
            rels["prev"] = {"page": str(page - 1)}
        return Answer(body=chunk, headers=page_links(self.base_url, request.path, params, rels))

    def _public(self, issue: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in issue.items() if not k.startswith("_")}

    def _list_issues(self, request: Request, _m: Any) -> Answer:
        state = request.arg("state", "open")
        with self.lock:
            items = [
                self._public(i)
                for i in self.issues.values()
                if state == "all" or i["state"] == state
            ]
        return self._list(request, items)

    def _list_comments(self, request: Request, _m: Any) -> Answer:
        with self.lock:
            items = [dict(c) for c in self.comments.values()]
        return self._list(request, items)

    def _get_issue(self, _request: Request, m: Any) -> Answer:
        with self.lock:
            issue = self.issues.get(int(m.group(1)))
            if issue is None:
                return Answer(404, {"message": "Not Found"})
            return Answer(body={**self._public(issue), "closed_by": issue.get("_closed_by")})

    def _create_comment(self, request: Request, m: Any) -> Answer:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return Answer(401, {"message": "Bad credentials"})
        number = int(m.group(1))
        if number not in self.issues:
            return Answer(404, {"message": "Not Found"})
        body = request.json()
        if not isinstance(body, dict) or not body.get("body"):
            return Answer(
                422,
                {
                    "message": "Validation Failed",
                    "errors": [
                        {"resource": "IssueComment", "code": "missing_field", "field": "body"}
                    ],
                },
            )
        return Answer(
            201,
            self.comment(
                number, BOT_LOGIN, body["body"], self.clock(), association="MEMBER", kind="Bot"
            ),
        )

    def _collaborators(self, _request: Request, _m: Any) -> Answer:
        return Answer(
            body=[{**_user(login), "permissions": {"push": True}} for login in self.collaborators]
        )


class FakeGitHubWithDiscussions(FakeGitHub):
    """Adds the GraphQL endpoint for Discussions (docs.github.com/graphql): the
    ``repository.discussions`` connection ordered by ``UPDATED_AT`` (``first``/``after``,
    ``pageInfo``), ``repository.discussion(number)`` and ``addDiscussionComment``."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        super().__init__(clock)
        self.discussions: dict[int, dict[str, Any]] = {}
        self.route("POST", "/graphql")(self._graphql)

    def discuss(self, login: str, title: str, body: str, at: datetime) -> dict[str, Any]:
        number = next(self._numbers)
        node = {
            "id": f"D_kwDO{number:06d}",
            "number": number,
            "title": title,
            "body": body,
            "url": f"https://github.com/{REPO}/discussions/{number}",
            "createdAt": _iso(at),
            "updatedAt": _iso(at),
            "closed": False,
            "closedAt": None,
            "authorAssociation": "NONE",
            "author": {"login": login, "__typename": "User"},
            "comments": [],
        }
        with self.lock:
            self.discussions[number] = node
        return node

    def discussion_comment(
        self,
        number: int,
        login: str,
        body: str,
        at: datetime,
        *,
        reply_to: int | None = None,
        association: str = "NONE",
        kind: str = "User",
    ) -> dict[str, Any]:
        cid = next(self._comment_ids)
        comment = {
            "databaseId": cid,
            "body": body,
            "createdAt": _iso(at),
            "updatedAt": _iso(at),
            "url": f"https://github.com/{REPO}/discussions/{number}#discussioncomment-{cid}",
            "authorAssociation": association,
            "author": {"login": login, "__typename": kind},
            "replies": [],
        }
        with self.lock:
            node = self.discussions[number]
            if reply_to is None:
                node["comments"].append(comment)
            else:
                parent = next(c for c in node["comments"] if c["databaseId"] == reply_to)
                parent["replies"].append(comment)
            node["updatedAt"] = _iso(at)
        return comment

    def close_discussion(self, number: int, at: datetime) -> None:
        with self.lock:
            self.discussions[number].update(closed=True, closedAt=_iso(at), updatedAt=_iso(at))

    def _shape(self, node: dict[str, Any]) -> dict[str, Any]:
        comments = [{**c, "replies": {"nodes": c["replies"][-20:]}} for c in node["comments"][-50:]]
        return {
            **{k: v for k, v in node.items() if k != "comments"},
            "comments": {"nodes": comments},
        }

    def _graphql(self, request: Request, _m: Any) -> Answer:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return Answer(401, {"message": "Bad credentials"})
        body = request.json()
        query, variables = body["query"], body.get("variables") or {}
        with self.lock:
            if "addDiscussionComment" in query:
                node = next(
                    (d for d in self.discussions.values() if d["id"] == variables["discussion"]),
                    None,
                )
                if node is None:
                    return Answer(
                        body={
                            "data": {"addDiscussionComment": None},
                            "errors": [
                                {"type": "NOT_FOUND", "message": "Could not resolve to a node"}
                            ],
                        }
                    )
                added = self.discussion_comment(
                    node["number"], BOT_LOGIN, variables["body"], self.clock(), kind="Bot"
                )
                return Answer(
                    body={
                        "data": {
                            "addDiscussionComment": {
                                "comment": {"databaseId": added["databaseId"], "url": added["url"]}
                            }
                        }
                    }
                )
            if "discussion(number" in query:
                node = self.discussions.get(int(variables["number"]))
                found = {"id": node["id"]} if node else None
                return Answer(body={"data": {"repository": {"discussion": found}}})
            ordered = sorted(self.discussions.values(), key=lambda d: d["updatedAt"], reverse=True)
            start = int(variables.get("after") or 0)
            first = int(variables["first"])
            chunk = ordered[start : start + first]
            more = start + first < len(ordered)
            return Answer(
                body={
                    "data": {
                        "repository": {
                            "discussions": {
                                "pageInfo": {"hasNextPage": more, "endCursor": str(start + first)},
                                "nodes": [self._shape(d) for d in chunk],
                            }
                        }
                    }
                }
            )
