"""A fake X API v2 speaking the documented shapes (developer.x.com): ``/2/users/me``,
``/2/users/:id/mentions`` and ``/2/users/:id/tweets`` (newest first; ``since_id``,
``until_id``, ``max_results`` 5–100, ``pagination_token``/``meta.next_token``,
``expansions=author_id`` → ``includes.users``), ``POST /2/tweets`` with
``reply.in_reply_to_tweet_id`` (201), bearer auth, and ``x-rate-limit-*`` headers."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from tests.polled.fakeserver import Answer, FakeServer, Request

TOKEN = "x-test-bearer"
ME = {"id": "1500000000000000001", "name": "Acme", "username": "acme"}


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class FakeX(FakeServer):
    def __init__(self, clock: Callable[[], datetime]) -> None:
        super().__init__()
        self.clock = clock
        self.users: dict[str, dict[str, str]] = {ME["id"]: dict(ME)}
        self.tweets: dict[str, dict[str, Any]] = {}
        self.remaining = 449
        self._ids = itertools.count(1_860_000_000_000_000_000, 1_000)
        self.extra_headers = lambda _r: {
            "x-rate-limit-limit": "450",
            "x-rate-limit-remaining": str(self.remaining),
            "x-rate-limit-reset": str(int((self.clock() + timedelta(minutes=15)).timestamp())),
        }
        self.route("GET", "/2/users/me")(self._me)
        self.route("GET", r"/2/users/(\d+)/mentions")(self._mentions)
        self.route("GET", r"/2/users/(\d+)/tweets")(self._timeline)
        self.route("POST", "/2/tweets")(self._create)

    def user(self, username: str) -> dict[str, str]:
        for user in self.users.values():
            if user["username"] == username:
                return user
        user = {
            "id": str(4_000_000 + len(self.users)),
            "name": username.title(),
            "username": username,
        }
        self.users[user["id"]] = user
        return user

    def tweet(
        self,
        author: dict[str, str],
        text: str,
        at: datetime,
        *,
        reply_to: str | None = None,
        retweet_of: str | None = None,
    ) -> dict[str, Any]:
        tid = str(next(self._ids))
        parent = self.tweets.get(reply_to or "")
        tweet: dict[str, Any] = {
            "id": tid,
            "text": text,
            "author_id": author["id"],
            "created_at": _iso(at),
            "conversation_id": parent["conversation_id"] if parent else tid,
            "edit_history_tweet_ids": [tid],
        }
        if parent is not None:
            tweet["in_reply_to_user_id"] = parent["author_id"]
            tweet["referenced_tweets"] = [{"type": "replied_to", "id": parent["id"]}]
        if retweet_of:
            tweet["referenced_tweets"] = [{"type": "retweeted", "id": retweet_of}]
        with self.lock:
            self.tweets[tid] = tweet
        return tweet

    # -- the API ---------------------------------------------------------------------------

    def _auth(self, request: Request) -> Answer | None:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return Answer(
                401,
                {
                    "title": "Unauthorized",
                    "type": "about:blank",
                    "status": 401,
                    "detail": "Unauthorized",
                },
            )
        return None

    def _me(self, request: Request, _m: Any) -> Answer:
        return self._auth(request) or Answer(body={"data": dict(ME)})

    def _page(self, request: Request, items: list[dict[str, Any]]) -> Answer:
        denied = self._auth(request)
        if denied:
            return denied
        limit = int(request.arg("max_results") or 10)
        if not 5 <= limit <= 100:
            return Answer(
                400,
                {
                    "errors": [
                        {
                            "parameters": {"max_results": [str(limit)]},
                            "message": "must be between 5 and 100",
                        }
                    ],
                    "title": "Invalid Request",
                },
            )
        since, until = request.arg("since_id"), request.arg("until_id")
        chosen = sorted(items, key=lambda t: int(t["id"]), reverse=True)
        if since:
            chosen = [t for t in chosen if int(t["id"]) > int(since)]
        if until:
            chosen = [t for t in chosen if int(t["id"]) < int(until)]
        offset = int((request.arg("pagination_token") or "p0")[1:])
        page = chosen[offset : offset + limit]
        if not page:
            return Answer(body={"meta": {"result_count": 0}})
        meta: dict[str, Any] = {
            "result_count": len(page),
            "newest_id": page[0]["id"],
            "oldest_id": page[-1]["id"],
        }
        if offset + limit < len(chosen):
            meta["next_token"] = f"p{offset + limit}"
        authors = {t["author_id"] for t in page}
        return Answer(
            body={
                "data": page,
                "includes": {"users": [self.users[a] for a in sorted(authors)]},
                "meta": meta,
            }
        )

    def _mentions(self, request: Request, m: Any) -> Answer:
        handle = "@" + self.users[m.group(1)]["username"].lower()
        with self.lock:
            items = [
                t
                for t in self.tweets.values()
                if handle in t["text"].lower() and t["author_id"] != m.group(1)
            ]
        return self._page(request, items)

    def _timeline(self, request: Request, m: Any) -> Answer:
        no_retweets = "retweets" in (request.arg("exclude") or "")
        with self.lock:
            items = [
                t
                for t in self.tweets.values()
                if t["author_id"] == m.group(1)
                and not (
                    no_retweets
                    and any(r["type"] == "retweeted" for r in t.get("referenced_tweets", []))
                )
            ]
        return self._page(request, items)

    def _create(self, request: Request, _m: Any) -> Answer:
        denied = self._auth(request)
        if denied:
            return denied
        body = request.json()
        text = str(body.get("text", ""))
        with self.lock:
            if any(t["text"] == text and t["author_id"] == ME["id"] for t in self.tweets.values()):
                return Answer(
                    403,
                    {
                        "detail": "You are not allowed to create a Tweet with duplicate content.",
                        "type": "about:blank",
                        "title": "Forbidden",
                        "status": 403,
                    },
                )
        reply_to = (body.get("reply") or {}).get("in_reply_to_tweet_id")
        if reply_to and reply_to not in self.tweets:
            return Answer(400, {"title": "Invalid Request", "detail": "reply tweet not found"})
        tweet = self.tweet(ME, text, self.clock(), reply_to=reply_to)
        return Answer(
            201,
            {"data": {"id": tweet["id"], "text": text, "edit_history_tweet_ids": [tweet["id"]]}},
        )
