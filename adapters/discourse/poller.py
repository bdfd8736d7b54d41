"""Discourse polling through the latest-posts feed (``GET /posts.json``, newest first, paged
back with ``before=<post id>``), filtered to the configured categories.

A conversation is a topic. Customers are everyone but staff (``staff``/``admin``/
``moderator``), the API user and members whose ``handles`` name their forum username; a
team post answers the topic. Whispers, small actions and moderator notes are not messages.

Cursor: the newest post id fully covered (``since``). After an outage the feed is walked back
page by page (``until``: the next ``before``), each page stored before the next is fetched,
until it reaches ``since``; only then does ``since`` move to the newest id of that pass
(``top``). So a failure mid-way resumes where it stopped and nothing is skipped. A source
without a cursor starts from the newest page.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import httpx

from bot.config import Config, Source
from bot.domain.events import Author, InboundMessage
from bot.domain.htmltext import html_to_text
from bot.domain.payload import arr, flag, ident, integer, obj, opt_string, string, when
from bot.domain.polling import (
    BadItem,
    PollError,
    PollResult,
    Recent,
    Rejected,
    decode_json,
    rejected,
)
from bot.domain.ports import Delivered, ReplyTarget

log = logging.getLogger("nudgebot.discourse")
REGULAR = 1  # post_type: 2 moderator action, 3 small action, 4 whisper
CATEGORY_REFRESH = timedelta(hours=1)


class DiscoursePoller:
    platform = "discourse"

    def __init__(self, source: Source, config: Config, now: Callable[[], datetime]) -> None:
        self.source = source.id
        self.base = (source.url or "").rstrip("/")
        self.config = config
        self.now = now
        self.username = (source.api_username or "").lower()
        self.categories = tuple(str(c) for c in source.categories)
        self._headers: dict[str, str] = {"Accept": "application/json"}
        if source.api_key:
            self._headers["Api-Key"] = source.api_key
            self._headers["Api-Username"] = source.api_username or "system"
        self._allowed: frozenset[int] | None = None  # None: every category
        self._resolved_at: datetime | None = None
        self._posted = Recent()

    async def _request(
        self,
        client: httpx.AsyncClient,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, object] | None = None,
    ) -> object:
        resp = await client.request(
            method, self.base + path, params=params, json=body, headers=self._headers
        )
        return decode_json(resp.status_code, resp.headers, resp.content, self.now())

    async def _category_ids(self, client: httpx.AsyncClient) -> frozenset[int] | None:
        if not self.categories:
            return None
        now = self.now()
        if self._resolved_at is not None and now - self._resolved_at < CATEGORY_REFRESH:
            return self._allowed
        data = obj(await self._request(client, "GET", "/categories.json",
                                       params={"include_subcategories": "true"}))  # fmt: skip
        listed = arr(obj(data.get("category_list"), "category_list").get("categories"))
        wanted = {c.lower() for c in self.categories}
        found: set[int] = set()
        matched: set[str] = set()
        for raw in listed:
            try:
                cat = obj(raw)
                cid = integer(cat, "id")
                names = {str(cid), string(cat, "slug", "").lower(), string(cat, "name", "").lower()}
                subs = [s for s in arr(cat.get("subcategory_ids") or []) if isinstance(s, int)]
            except BadItem as exc:
                log.warning("%s: skipped a malformed category: %s", self.source, exc)
                continue
            if names & wanted:
                matched |= names & wanted
                found.add(cid)
                found.update(subs)
        missing = wanted - matched - {w for w in wanted if w.isdigit()}
        if missing:
            log.warning("%s: categories not found on %s: %s", self.source, self.base,
                        ", ".join(sorted(missing)))  # fmt: skip
        found.update(int(w) for w in wanted if w.isdigit())
        self._allowed, self._resolved_at = frozenset(found), now
        return self._allowed

    async def poll(self, client: httpx.AsyncClient, cursor: str | None) -> PollResult:
        state = _load(cursor, self.source)
        allowed = await self._category_ids(client)
        since, until, top = state.get("since"), state.get("until"), state.get("top")
        params = {"before": str(until)} if until is not None else {}
        data = obj(await self._request(client, "GET", "/posts.json", params=params), "posts")
        posts = arr(data.get("latest_posts"), "latest_posts")
        ids: list[int] = []
        messages: list[InboundMessage] = []
        bad: list[Rejected] = []
        for raw in posts:
            try:
                post = obj(raw)
                pid = integer(post, "id")
                ids.append(pid)
                if since is not None and pid <= since:
                    continue
                message = self._message(post, allowed)
            except BadItem as exc:
                log.warning("%s: skipped a malformed post: %s", self.source, exc)
                bad.append(rejected(raw, "post", exc))
                continue
            if message is not None:
                messages.append(message)
        newest = max([*ids, top or 0, since or 0]) or None
        if since is None:  # first poll: the newest page, no history
            return PollResult(messages, _dump({"since": newest}), rejected=tuple(bad))
        if ids and min(ids) > since:  # the feed continues below this page: walk on
            return PollResult(messages, _dump({"since": since, "until": min(ids), "top": newest}),
                              more=True, rejected=tuple(bad))  # fmt: skip
        return PollResult(messages, _dump({"since": newest}), rejected=tuple(bad))

    def _message(
        self, post: Mapping[str, object], allowed: frozenset[int] | None
    ) -> InboundMessage | None:
        if allowed is not None and post.get("category_id") not in allowed:
            return None
        if integer(post, "post_type", REGULAR) != REGULAR or post.get("deleted_at") is not None:
            return None
        pid = ident(post, "id")
        topic = ident(post, "topic_id")
        username = string(post, "username")
        ours = username.lower() == self.username
        if integer(post, "user_id", 0) < 0 and not ours:
            return None  # system and discobot: bots are neither side
        staff = flag(post, "staff") or flag(post, "admin") or flag(post, "moderator")
        person = self._posted.get(pid) or self.config.person_by_platform("discourse", username)
        number = integer(post, "post_number", 0)
        text = html_to_text(string(post, "cooked", ""))
        title = opt_string(post, "topic_title")
        if number == 1 and title:
            text = f"{title}\n{text}"
        slug = opt_string(post, "topic_slug") or "-"
        return InboundMessage(
            source=self.source,
            platform=self.platform,
            message_id=pid,
            thread=topic,
            at=when(post, "created_at"),
            author=Author(username, string(post, "name", "") or username),
            is_team=staff or ours or person is not None,
            text=text,
            url=f"{self.base}/t/{slug}/{topic}/{number}" if number else f"{self.base}/t/{topic}",
            person=person,
        )

    async def reply(
        self, client: httpx.AsyncClient, target: ReplyTarget, text: str, person: str
    ) -> Delivered:
        if not target.thread.isdigit():
            raise PollError(f"{target.thread!r} is not a Discourse topic id", status=400)
        body = {"topic_id": int(target.thread), "raw": text}
        data = obj(await self._request(client, "POST", "/posts.json", body=body))
        pid = ident(data, "id")
        self._posted[pid] = person
        return Delivered(pid)


def _dump(state: Mapping[str, int | None]) -> str:
    return json.dumps({k: v for k, v in state.items() if v is not None}, sort_keys=True)


def _load(cursor: str | None, source: str) -> dict[str, int]:
    if cursor is None:
        return {}
    try:
        data = obj(json.loads(cursor))
        return {k: integer(data, k) for k in ("since", "until", "top") if k in data}
    except (ValueError, BadItem):
        log.warning("%s: unreadable cursor %r; starting from the newest page", source, cursor)
        return {}
