"""A fake Mastodon server speaking the documented REST shapes (docs.joinmastodon.org):
``verify_credentials``, ``notifications`` (``types[]``, ``since_id``/``min_id``/``max_id``,
``limit``, ``Link`` headers), account statuses, ``statuses/:id`` and its ``context``,
``POST /api/v1/statuses`` (with ``Idempotency-Key``), bearer-token auth and
``X-RateLimit-*`` headers (reset as an ISO 8601 time)."""

from __future__ import annotations

import html
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from tests.polled.fakeserver import Answer, FakeServer, Request, page_links

TOKEN = "mastodon-test-token"
ME = {
    "id": "1",
    "username": "acme",
    "acct": "acme",
    "display_name": "Acme Support",
    "bot": False,
    "locked": False,
}


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class FakeMastodon(FakeServer):
    def __init__(self, clock: Callable[[], datetime]) -> None:
        super().__init__()
        self.clock = clock
        self.accounts: dict[str, dict[str, Any]] = {"acme": dict(ME)}
        self.statuses: dict[str, dict[str, Any]] = {}
        self.notifications: list[dict[str, Any]] = []
        self.remaining = 299
        self._ids = itertools.count(110_000_000_000_000_000, 1_000)
        self._idempotent: dict[str, dict[str, Any]] = {}
        self.extra_headers = self._rate_headers
        self.route("GET", "/api/v1/accounts/verify_credentials")(self._verify)
        self.route("GET", "/api/v1/notifications")(self._notifications)
        self.route("GET", r"/api/v1/accounts/(\w+)/statuses")(self._account_statuses)
        self.route("GET", r"/api/v1/statuses/(\w+)/context")(self._context)
        self.route("GET", r"/api/v1/statuses/(\w+)")(self._status)
        self.route("POST", "/api/v1/statuses")(self._post)

    def _rate_headers(self, _request: Request) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": _iso(self.clock() + timedelta(minutes=5)),
        }

    # -- the world -------------------------------------------------------------------------

    def account(
        self, username: str, *, domain: str | None = None, bot: bool = False
    ) -> dict[str, Any]:
        acct = f"{username}@{domain}" if domain else username
        found = self.accounts.get(acct)
        if found is None:
            found = {
                "id": str(200 + len(self.accounts)),
                "username": username,
                "acct": acct,
                "display_name": username.title(),
                "bot": bot,
                "locked": False,
            }
            self.accounts[acct] = found
        return found

    def _new_status(
        self, author: dict[str, Any], text: str, at: datetime, reply_to: str | None, visibility: str
    ) -> dict[str, Any]:
        sid = str(next(self._ids))
        parent = self.statuses.get(reply_to) if reply_to else None
        status = {
            "id": sid,
            "created_at": _iso(at),
            "in_reply_to_id": reply_to,
            "in_reply_to_account_id": parent["account"]["id"] if parent else None,
            "sensitive": False,
            "spoiler_text": "",
            "visibility": visibility,
            "language": "en",
            "uri": f"https://social.example/users/{author['username']}/statuses/{sid}",
            "url": f"https://social.example/@{author['acct']}/{sid}",
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "edited_at": None,
            "content": f"<p>{html.escape(text)}</p>",
            "reblog": None,
            "account": author,
            "media_attachments": [],
            "mentions": [],
            "tags": [],
            "emojis": [],
            "card": None,
            "poll": None,
        }
        with self.lock:
            self.statuses[sid] = status
        return status

    def mention(
        self,
        who: dict[str, Any],
        text: str,
        at: datetime,
        *,
        reply_to: str | None = None,
        visibility: str = "public",
    ) -> dict[str, Any]:
        """``who`` mentions the account; a mention notification appears."""
        status = self._new_status(who, text, at, reply_to, visibility)
        status["content"] = (
            '<p><span class="h-card"><a href="https://social.example/@acme" '
            'class="u-url mention">@<span>acme</span></a></span> ' + html.escape(text) + "</p>"
        )
        status["mentions"] = [
            {
                "id": ME["id"],
                "username": "acme",
                "acct": "acme",
                "url": "https://social.example/@acme",
            }
        ]
        with self.lock:
            self.notifications.append(
                {
                    "id": str(len(self.notifications) + 1000),
                    "type": "mention",
                    "created_at": status["created_at"],
                    "account": who,
                    "status": status,
                }
            )
        return status

    def favourite(self, who: dict[str, Any], status: dict[str, Any], at: datetime) -> None:
        with self.lock:
            self.notifications.append(
                {
                    "id": str(len(self.notifications) + 1000),
                    "type": "favourite",
                    "created_at": _iso(at),
                    "account": who,
                    "status": status,
                }
            )

    def post(
        self, who: dict[str, Any], text: str, at: datetime, *, reply_to: str | None = None
    ) -> dict[str, Any]:
        """A status without notifying the account (its own posts, or others' not mentioning)."""
        return self._new_status(who, text, at, reply_to, "public")

    # -- the API ---------------------------------------------------------------------------

    def _authorised(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {TOKEN}"

    def _verify(self, request: Request, _m: Any) -> Answer:
        if not self._authorised(request):
            return Answer(401, {"error": "The access token is invalid"})
        return Answer(body=self.accounts["acme"])

    def _paginate(self, request: Request, items: list[dict[str, Any]], limit_max: int) -> Answer:
        since, min_id, max_id = (
            request.arg("since_id"),
            request.arg("min_id"),
            request.arg("max_id"),
        )
        limit = min(int(request.arg("limit") or 20), limit_max)

        def key(item: dict[str, Any]) -> int:
            return int(item["id"])

        chosen = sorted(items, key=key)
        if since:
            chosen = [i for i in chosen if key(i) > int(since)]
        if min_id:
            chosen = [i for i in chosen if key(i) > int(min_id)]
        if max_id:
            chosen = [i for i in chosen if key(i) < int(max_id)]
        page = chosen[:limit] if min_id else chosen[-limit:]
        page.reverse()  # newest first, always
        params = {
            k: v[0] for k, v in request.query.items() if k not in ("since_id", "min_id", "max_id")
        }
        rels = (
            {"next": {"max_id": page[-1]["id"]}, "prev": {"min_id": page[0]["id"]}} if page else {}
        )
        return Answer(body=page, headers=page_links(self.base_url, request.path, params, rels))

    def _notifications(self, request: Request, _m: Any) -> Answer:
        if not self._authorised(request):
            return Answer(401, {"error": "The access token is invalid"})
        types = request.query.get("types[]")
        with self.lock:
            items = [n for n in self.notifications if not types or n["type"] in types]
        return self._paginate(request, items, 80)

    def _account_statuses(self, request: Request, m: Any) -> Answer:
        account_id = m.group(1)
        with self.lock:
            items = [
                s
                for s in self.statuses.values()
                if s["account"]["id"] == account_id and s["visibility"] != "direct"
            ]
        return self._paginate(request, items, 40)

    def _context(self, _request: Request, m: Any) -> Answer:
        with self.lock:
            status = self.statuses.get(m.group(1))
            if status is None:
                return Answer(404, {"error": "Record not found"})
            ancestors = []
            parent = self.statuses.get(status["in_reply_to_id"] or "")
            while parent is not None:
                ancestors.insert(0, parent)
                parent = self.statuses.get(parent["in_reply_to_id"] or "")
        return Answer(body={"ancestors": ancestors, "descendants": []})

    def _status(self, _request: Request, m: Any) -> Answer:
        with self.lock:
            status = self.statuses.get(m.group(1))
        return Answer(body=status) if status else Answer(404, {"error": "Record not found"})

    def _post(self, request: Request, _m: Any) -> Answer:
        if not self._authorised(request):
            return Answer(401, {"error": "The access token is invalid"})
        body = request.json()
        if not isinstance(body, dict) or not str(body.get("status", "")).strip():
            return Answer(422, {"error": "Validation failed: Text can't be blank"})
        key = request.headers.get("idempotency-key")
        with self.lock:
            if key and key in self._idempotent:
                return Answer(body=self._idempotent[key])
        status = self._new_status(
            self.accounts["acme"],
            body["status"],
            self.clock(),
            body.get("in_reply_to_id"),
            body.get("visibility", "public"),
        )
        if key:
            with self.lock:
                self._idempotent[key] = status
        return Answer(body=status)
