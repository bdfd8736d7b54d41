"""X polling over API v2: ``GET /2/users/:id/mentions`` (customers) and
``GET /2/users/:id/tweets`` (the account's own replies), bearer token.

Both timelines answer newest first. Each is walked with ``since_id`` (the newest id fully
covered) and ``until_id`` (the oldest id stored in this pass) one page per step: each page is
stored and recorded in the cursor before the next is asked for, and ``since`` moves to the
newest id of the pass only when the walk reaches it. A failure mid-way resumes where it
stopped. A source without a cursor starts from the newest page.

A conversation is a ``conversation_id``. Tweets by the account (``user_id``, or
``/2/users/me``) and by members whose ``handles`` name their X username are the team.
Reply-through posts ``POST /2/tweets`` with ``reply.in_reply_to_tweet_id``; that needs a
user-context token with ``tweet.write`` — ``token`` is used as given.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime

import httpx

from bot.config import Config, Source
from bot.domain.events import Author, InboundMessage
from bot.domain.payload import arr, ident, obj, opt_ident, string, when
from bot.domain.polling import (
    BadItem,
    PollResult,
    Recent,
    Rejected,
    decode_json,
    id_key,
    newest_id,
    rate_limit_pause,
    rejected,
)
from bot.domain.ports import Delivered, ReplyTarget

log = logging.getLogger("nudgebot.x")
DEFAULT_API = "https://api.x.com"
DEFAULT_WEB = "https://x.com"
PAGE = 100
FIELDS = {
    "tweet.fields": "conversation_id,created_at,author_id,in_reply_to_user_id,referenced_tweets",
    "expansions": "author_id",
    "user.fields": "username,name",
}
Walk = dict[str, str]  # since / until / top


class XPoller:
    platform = "x"

    def __init__(
        self, source: Source, config: Config, now: Callable[[], datetime], *, page: int = PAGE
    ) -> None:
        self.source = source.id
        self.base = (source.api_url or DEFAULT_API).rstrip("/")
        self.web = str(source.extra.get("web_url", DEFAULT_WEB)).rstrip("/")
        self.config = config
        self.now = now
        self.page = page
        self._headers = {"Authorization": f"Bearer {source.token}"} if source.token else {}
        configured = source.extra.get("user_id")
        self.user_id: str | None = str(configured) if configured is not None else None
        self._posted = Recent()
        self._pause: float | None = None

    async def _get(
        self, client: httpx.AsyncClient, path: str, params: Mapping[str, str] | None = None
    ) -> object:
        resp = await client.get(self.base + path, params=params, headers=self._headers)
        pause = rate_limit_pause(resp.headers, self.now())
        if pause is not None:
            self._pause = max(self._pause or 0.0, pause)
        return decode_json(resp.status_code, resp.headers, resp.content, self.now())

    async def _me(self, client: httpx.AsyncClient) -> str:
        if self.user_id is None:
            data = obj(obj(await self._get(client, "/2/users/me")).get("data"), "data")
            self.user_id = ident(data, "id")
        return self.user_id

    async def poll(self, client: httpx.AsyncClient, cursor: str | None) -> PollResult:
        state = _load(cursor, self.source)
        self._pause = None
        self._rejected: list[Rejected] = []
        me = await self._me(client)
        mentions, m_walk, m_more = await self._walk(
            client, f"/2/users/{me}/mentions", {}, state.get("mentions", {}), me
        )
        own, o_walk, o_more = await self._walk(
            client, f"/2/users/{me}/tweets", {"exclude": "retweets"}, state.get("own", {}), me
        )
        return PollResult(
            messages=mentions + own,
            cursor=json.dumps({"mentions": m_walk, "own": o_walk}, sort_keys=True),
            retry_after=self._pause,
            more=m_more or o_more,
        )

    async def _walk(
        self,
        client: httpx.AsyncClient,
        path: str,
        params: Mapping[str, str],
        walk: Walk,
        me: str,
    ) -> tuple[list[InboundMessage], Walk, bool]:
        since, until, top = walk.get("since"), walk.get("until"), walk.get("top")
        query = {**FIELDS, **params, "max_results": str(self.page)}
        if since is not None:
            query["since_id"] = since
        if until is not None:
            query["until_id"] = until
        body = obj(await self._get(client, path, query), "response")
        tweets = arr(body.get("data") or [], "data")
        includes = body.get("includes")
        users = _users(obj(includes).get("users") if isinstance(includes, Mapping) else None)
        meta = body.get("meta")
        token = obj(meta).get("next_token") if isinstance(meta, Mapping) else None
        ids: list[str] = []
        out: list[InboundMessage] = []
        for raw in tweets:
            try:
                tweet = obj(raw)
                ids.append(ident(tweet, "id"))
                message = self._message(tweet, users, me)
            except BadItem as exc:
                log.warning("%s: skipped a malformed tweet of %s: %s", self.source, path, exc)
                self._rejected.append(rejected(raw, f"tweet of {path}", exc))
                continue
            if message is not None:
                out.append(message)
        newest = newest_id(ids, top)
        if since is None:  # first poll: the newest page, no history
            return out, _walk_state(since=newest), False
        if token and ids:
            oldest = min(ids, key=id_key)
            return out, _walk_state(since=since, until=oldest, top=newest), True
        return out, _walk_state(since=newest_id([since], newest)), False

    def _message(
        self, tweet: Mapping[str, object], users: Mapping[str, tuple[str, str]], me: str
    ) -> InboundMessage | None:
        tid = ident(tweet, "id")
        refs = tweet.get("referenced_tweets")
        if isinstance(refs, list) and any(
            isinstance(r, Mapping) and r.get("type") == "retweeted" for r in refs
        ):
            return None
        author = ident(tweet, "author_id")
        username, name = users.get(author, ("", ""))
        person = self._posted.get(tid) or (
            self.config.person_by_platform("x", username) if username else None
        )
        ours = author == me
        link = f"{self.web}/{username}/status/{tid}" if username else f"{self.web}/i/status/{tid}"
        return InboundMessage(
            source=self.source,
            platform=self.platform,
            message_id=tid,
            thread=opt_ident(tweet, "conversation_id") or tid,
            at=when(tweet, "created_at"),
            author=Author(author, name or username),
            is_team=ours or person is not None,
            text=string(tweet, "text", ""),
            url=link,
            person=person,
        )

    async def reply(
        self, client: httpx.AsyncClient, target: ReplyTarget, text: str, person: str
    ) -> Delivered:
        reply_to = ident({"id": target.reply_to or target.thread}, "id")
        resp = await client.post(
            self.base + "/2/tweets",
            json={"text": text, "reply": {"in_reply_to_tweet_id": reply_to}},
            headers=self._headers,
        )
        data = obj(obj(decode_json(resp.status_code, resp.headers, resp.content,
                                   self.now())).get("data"), "data")  # fmt: skip
        tid = ident(data, "id")
        self._posted[tid] = person
        return Delivered(tid)


def _users(raw: object) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    if not isinstance(raw, list):
        return out
    for item in raw:
        try:
            user = obj(item)
            out[ident(user, "id")] = (string(user, "username", ""), string(user, "name", ""))
        except BadItem:
            continue
    return out


def _walk_state(**values: str | None) -> Walk:
    return {k: v for k, v in values.items() if v is not None}


def _load(cursor: str | None, source: str) -> dict[str, Walk]:
    if cursor is None:
        return {}
    try:
        data = obj(json.loads(cursor))
        return {
            stream: {k: ident(obj(data[stream]), k) for k in ("since", "until", "top")
                     if obj(data[stream]).get(k) is not None}
            for stream in ("mentions", "own") if stream in data
        }  # fmt: skip
    except (ValueError, BadItem):
        log.warning("%s: unreadable cursor %r; starting from the newest page", source, cursor)
        return {}
