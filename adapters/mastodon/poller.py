"""Mastodon polling: ``/api/v1/notifications?types[]=mention`` for customers, the account's
own statuses for its replies, ``/api/v1/statuses/:id/context`` for a thread's root.

Paging runs forward with ``min_id`` (Mastodon returns the page *immediately newer* than it),
one page per step: each page is stored and its newest id becomes the cursor before the next
is fetched, so a long outage is caught up page by page and a failure mid-way loses nothing.
(``since_id`` would answer the *newest* page first and leave a gap behind it to fill.) A
source without a cursor starts from the newest page: history before the first poll is not
imported.

A conversation is the status thread: its key is the root status id (the first ancestor), so
a mention, the account's reply and the customer's follow-up all land in one conversation
whatever order they are polled in.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from urllib.parse import urlsplit

import httpx

from bot.config import Config, Source
from bot.domain.events import Author, InboundMessage, Kind
from bot.domain.htmltext import html_to_text
from bot.domain.payload import arr, flag, ident, obj, opt_ident, opt_string, opt_when, string, when
from bot.domain.polling import (
    BadItem,
    PollError,
    PollResult,
    Recent,
    Rejected,
    decode_json,
    newest_id,
    rate_limit_pause,
    rejected,
)
from bot.domain.ports import Delivered, ReplyTarget

log = logging.getLogger("nudgebot.mastodon")
PAGE = 40  # Mastodon's maximum for notifications and statuses


class MastodonPoller:
    platform = "mastodon"

    def __init__(
        self, source: Source, config: Config, now: Callable[[], datetime], *, page: int = PAGE
    ) -> None:
        self.source = source.id
        self.base = (source.instance or "").rstrip("/")
        self.host = (urlsplit(self.base).hostname or "").lower()
        self.config = config
        self.now = now
        self.page = page
        self._headers = {"Authorization": f"Bearer {source.token}"} if source.token else {}
        configured = source.extra.get("account_id")
        self.account_id: str | None = str(configured) if configured is not None else None
        self._roots = Recent()  # status id -> thread root id
        self._posted = Recent()  # status ids we posted -> the member who wrote them
        self._pause: float | None = None

    async def _get(
        self, client: httpx.AsyncClient, path: str, params: list[tuple[str, str]] | None = None
    ) -> object:
        query = httpx.QueryParams(tuple(params or ()))
        resp = await client.get(self.base + path, params=query, headers=self._headers)
        pause = rate_limit_pause(resp.headers, self.now())
        if pause is not None:
            self._pause = max(self._pause or 0.0, pause)
        return decode_json(resp.status_code, resp.headers, resp.content, self.now())

    async def _me(self, client: httpx.AsyncClient) -> str:
        if self.account_id is None:
            data = obj(await self._get(client, "/api/v1/accounts/verify_credentials"), "account")
            self.account_id = ident(data, "id")
        return self.account_id

    # -- polling ---------------------------------------------------------------------------

    async def poll(self, client: httpx.AsyncClient, cursor: str | None) -> PollResult:
        state = _load(cursor, self.source)
        self._pause = None
        self._rejected: list[Rejected] = []
        me = await self._me(client)
        mentions, m_ids, m_more = await self._page(
            client, "/api/v1/notifications", [("types[]", "mention")], state.get("mentions"), me
        )
        own, o_ids, o_more = await self._page(
            client, f"/api/v1/accounts/{me}/statuses", [("exclude_reblogs", "true")],
            state.get("own"), me,
        )  # fmt: skip
        new = {"mentions": newest_id(m_ids, state.get("mentions")),
               "own": newest_id(o_ids, state.get("own"))}  # fmt: skip
        return PollResult(
            messages=mentions + own,
            cursor=json.dumps({k: v for k, v in new.items() if v is not None}, sort_keys=True),
            retry_after=self._pause,
            more=m_more or o_more,
            rejected=tuple(self._rejected),
        )

    async def _page(
        self,
        client: httpx.AsyncClient,
        path: str,
        params: list[tuple[str, str]],
        after: str | None,
        me: str,
    ) -> tuple[list[InboundMessage], list[str], bool]:
        query = [*params, ("limit", str(self.page))]
        if after is not None:
            query.append(("min_id", after))
        items = arr(await self._get(client, path, query), "page")
        notifications = path.endswith("notifications")
        ids: list[str] = []
        out: list[InboundMessage] = []
        for raw in items:
            try:
                item = obj(raw)
                ids.append(ident(item, "id"))
                if notifications:
                    if string(item, "type") != "mention":
                        continue
                    item = obj(item.get("status"), "status")
                message = await self._message(client, item, me)
            except BadItem as exc:
                log.warning("%s: skipped a malformed item of %s: %s", self.source, path, exc)
                self._rejected.append(rejected(raw, f"item of {path}", exc))
                continue
            if message is not None:
                out.append(message)
        # Without a cursor only the newest page is read: older history is not imported.
        more = after is not None and len(items) >= self.page
        return out, ids, more

    async def _message(
        self, client: httpx.AsyncClient, status: Mapping[str, object], me: str
    ) -> InboundMessage | None:
        sid = ident(status, "id")
        if status.get("reblog") is not None:
            return None
        account = obj(status.get("account"), "account")
        author_id = ident(account, "id")
        acct = string(account, "acct")
        ours = author_id == me
        if flag(account, "bot") and not ours:
            return None  # bots are neither customers nor team
        person = self._posted.get(sid) or self._person(acct)
        content = html_to_text(string(status, "content", ""))
        warning = string(status, "spoiler_text", "")
        edited = opt_when(status, "edited_at")
        return InboundMessage(
            source=self.source,
            platform=self.platform,
            message_id=sid,
            thread=await self._root(client, status),
            at=when(status, "created_at"),
            author=Author(author_id, string(account, "display_name", "") or acct),
            is_team=ours or person is not None,
            text=f"CW: {warning}\n{content}" if warning else content,
            url=opt_string(status, "url") or string(status, "uri", ""),
            person=person,
            kind=Kind.EDIT if edited is not None else Kind.MESSAGE,
            edited_at=edited,
        )

    def _person(self, acct: str) -> str | None:
        full = acct if "@" in acct else f"{acct}@{self.host}"
        return self.config.person_by_platform("mastodon", full) or self.config.person_by_platform(
            "mastodon", acct
        )

    async def _root(self, client: httpx.AsyncClient, status: Mapping[str, object]) -> str:
        sid = ident(status, "id")
        parent = opt_ident(status, "in_reply_to_id")
        if parent is None:
            root = sid
        elif parent in self._roots:
            root = self._roots[parent]
        else:
            try:
                context = obj(await self._get(client, f"/api/v1/statuses/{sid}/context"))
            except PollError as exc:
                if exc.status not in (403, 404, 410):
                    raise
                context = {"ancestors": []}  # gone or hidden: the parent is as far as we see
            ancestors = [obj(a) for a in arr(context.get("ancestors"), "ancestors")]
            root = ident(ancestors[0], "id") if ancestors else parent
            for ancestor in ancestors:
                self._roots[ident(ancestor, "id")] = root
        self._roots[sid] = root
        return root

    # -- reply-through ---------------------------------------------------------------------

    async def reply(
        self, client: httpx.AsyncClient, target: ReplyTarget, text: str, person: str
    ) -> Delivered:
        reply_to = ident({"id": target.reply_to or target.thread}, "id")
        status = obj(await self._get(client, f"/api/v1/statuses/{reply_to}"), "status")
        acct = string(obj(status.get("account"), "account"), "acct")
        body = text if f"@{acct}".lower() in text.lower() else f"@{acct} {text}"
        key = hashlib.sha256(f"{self.source}\n{reply_to}\n{person}\n{text}".encode()).hexdigest()
        resp = await client.post(
            self.base + "/api/v1/statuses",
            json={
                "status": body,
                "in_reply_to_id": reply_to,
                "visibility": string(status, "visibility", "public"),
            },
            headers={**self._headers, "Idempotency-Key": key},
        )
        posted = obj(decode_json(resp.status_code, resp.headers, resp.content, self.now()))
        sid = ident(posted, "id")
        self._posted[sid] = person
        self._roots[sid] = target.thread
        return Delivered(sid)


def _load(cursor: str | None, source: str) -> dict[str, str]:
    if cursor is None:
        return {}
    try:
        data = json.loads(cursor)
        return {k: ident(obj(data), k) for k in ("mentions", "own") if obj(data).get(k)}
    except (ValueError, BadItem):
        log.warning("%s: unreadable cursor %r; starting from the newest page", source, cursor)
        return {}
