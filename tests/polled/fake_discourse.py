"""A fake Discourse speaking the documented shapes (docs.discourse.org): ``/categories.json``,
the latest-posts feed ``/posts.json`` (``latest_posts``, newest first, ``before=<id>``),
``POST /posts.json`` (``topic_id`` + ``raw``, 422 below the minimum post length), the
``Api-Key``/``Api-Username`` headers, and 429 with ``Retry-After`` as Discourse rate-limits."""

from __future__ import annotations

import html
import itertools
from collections.abc import Callable
from datetime import datetime
from typing import Any

from tests.polled.fakeserver import Answer, FakeServer, Request

API_KEY = "discourse-test-key"
API_USER = "system"
MIN_POST_LENGTH = 20
CATEGORIES = [
    {"id": 5, "name": "Support", "slug": "support", "subcategory_ids": [7]},
    {"id": 7, "name": "Billing", "slug": "billing", "subcategory_ids": []},
    {"id": 9, "name": "General", "slug": "general", "subcategory_ids": []},
]


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class FakeDiscourse(FakeServer):
    def __init__(self, clock: Callable[[], datetime], *, page: int = 50) -> None:
        super().__init__()
        self.clock = clock
        self.page = page
        self.users: dict[str, dict[str, Any]] = {
            "system": {"id": -1, "name": "system", "staff": True},
            "discobot": {"id": -2, "name": "discobot", "staff": False},
        }
        self.topics: dict[int, dict[str, Any]] = {}
        self.posts: list[dict[str, Any]] = []
        self._post_ids = itertools.count(1001)
        self._topic_ids = itertools.count(301)
        self.route("GET", "/categories.json")(self._categories)
        self.route("GET", "/posts.json")(self._latest)
        self.route("POST", "/posts.json")(self._create)

    def user(self, username: str, *, staff: bool = False, admin: bool = False) -> str:
        self.users.setdefault(
            username,
            {
                "id": len(self.users) + 10,
                "name": username.title(),
                "staff": staff or admin,
                "admin": admin,
            },
        )
        return username

    def topic(
        self, username: str, title: str, text: str, at: datetime, category: int = 5
    ) -> dict[str, Any]:
        tid = next(self._topic_ids)
        slug = "-".join(title.lower().split())[:40]
        with self.lock:
            self.topics[tid] = {
                "id": tid,
                "title": title,
                "slug": slug,
                "category_id": category,
                "posts": 0,
            }
        return self.reply(username, tid, text, at)

    def reply(
        self, username: str, topic_id: int, text: str, at: datetime, *, post_type: int = 1
    ) -> dict[str, Any]:
        user = self.users[username]
        with self.lock:
            topic = self.topics[topic_id]
            topic["posts"] += 1
            post = {
                "id": next(self._post_ids),
                "name": user["name"],
                "username": username,
                "avatar_template": f"/user_avatar/forum/{username}/{{size}}/1.png",
                "created_at": _iso(at),
                "cooked": f"<p>{html.escape(text)}</p>",
                "post_number": topic["posts"],
                "post_type": post_type,
                "updated_at": _iso(at),
                "reply_count": 0,
                "reply_to_post_number": None,
                "quote_count": 0,
                "incoming_link_count": 0,
                "reads": 1,
                "score": 0,
                "yours": False,
                "topic_id": topic_id,
                "topic_slug": topic["slug"],
                "topic_title": topic["title"],
                "topic_html_title": html.escape(topic["title"]),
                "category_id": topic["category_id"],
                "display_username": user["name"],
                "version": 1,
                "can_edit": False,
                "can_delete": False,
                "can_wiki": False,
                "moderator": False,
                "admin": user.get("admin", False),
                "staff": user["staff"],
                "user_id": user["id"],
                "hidden": False,
                "trust_level": 1,
                "deleted_at": None,
                "user_deleted": False,
                "wiki": False,
            }
            self.posts.append(post)
        return post

    # -- the API ---------------------------------------------------------------------------

    def _categories(self, _request: Request, _m: Any) -> Answer:
        listed = [{**c, "topic_count": 3, "post_count": 9, "color": "0088CC"} for c in CATEGORIES]
        return Answer(body={"category_list": {"can_create_category": False, "categories": listed}})

    def _latest(self, request: Request, _m: Any) -> Answer:
        before = request.arg("before")
        with self.lock:
            chosen = sorted(self.posts, key=lambda p: p["id"], reverse=True)
        if before:
            chosen = [p for p in chosen if p["id"] < int(before)]
        return Answer(body={"latest_posts": chosen[: self.page]})

    def _create(self, request: Request, _m: Any) -> Answer:
        if request.headers.get("api-key") != API_KEY:
            return Answer(
                403,
                {
                    "errors": ["You are not permitted to view the requested resource."],
                    "error_type": "invalid_access",
                },
            )
        body = request.json()
        username = request.headers.get("api-username", "")
        raw = str(body.get("raw", ""))
        if len(raw) < MIN_POST_LENGTH:
            return Answer(
                422,
                {
                    "action": "create_post",
                    "errors": [f"Body is too short (minimum is {MIN_POST_LENGTH} characters)"],
                },
            )
        if int(body.get("topic_id", 0)) not in self.topics:
            return Answer(
                404,
                {
                    "errors": ["The requested URL or resource could not be found."],
                    "error_type": "not_found",
                },
            )
        return Answer(body=self.reply(username, int(body["topic_id"]), raw, self.clock()))


RATE_LIMITED = {
    "errors": ["You’ve performed this action too many times. Please wait 7 seconds."],
    "error_type": "rate_limit",
    "extras": {"wait_seconds": 7, "time_left": "7 seconds"},
}
