"""GitHub polling over the REST API: ``/repos/{repo}/issues`` and
``/repos/{repo}/issues/comments``, each with ``since``, ``sort=updated``, ``direction=asc``.

Each list is read as a keyset: ``since`` (inclusive) is the newest ``updated_at`` stored so
far, so every page is stored and becomes the cursor before the next one is asked for, and an
item updated while we page simply turns up again later (ingest is idempotent). A full page
all of one second is followed through its ``Link: rel="next"`` so ``since`` always moves.
A source without a cursor starts ``backfill`` ago (default 7 days).

A conversation is an issue (thread = its number, channel = the repository). The opening post
and comments of people outside the team are customer messages; maintainers' comments answer.
Who counts as a maintainer, and who closed an issue: see ``adapters.github.authors``. Pull
requests are skipped unless ``pull_requests: true``. Discussions (GraphQL) with
``discussions: true``: see ``adapters.github.discussions``.

Closing ends the waiting period: it is stored as a synthetic *team* message
``closed:{number}:{epoch}`` at ``closed_at``, by whoever closed it (``closed_by``). Being a
message, it is order-independent and idempotent like any other; it counts as the response.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime

import httpx

from adapters.github import discussions
from adapters.github.api import GitHubAPI
from adapters.github.authors import Authors
from adapters.github.marks import Mark, iso, load
from bot.config import Config, Source
from bot.domain.durations import parse_duration
from bot.domain.events import Author, InboundMessage, Kind
from bot.domain.payload import arr, ident, integer, obj, opt_string, opt_when, string, when
from bot.domain.polling import (
    BadItem,
    PollError,
    PollResult,
    Recent,
    Rejected,
    rejected,
)
from bot.domain.ports import Delivered, ReplyTarget

log = logging.getLogger("nudgebot.github")
PAGE = 100
MAX_SAME_SECOND_PAGES = 10
MAX_SEEN = 1000
_ISSUE_URL = re.compile(r"/issues/(\d+)$")


class GitHubPoller:
    platform = "github"

    def __init__(
        self, source: Source, config: Config, now: Callable[[], datetime], *, page: int = PAGE
    ) -> None:
        self.source = source.id
        self.repo = source.repo or ""
        self.api = GitHubAPI(source.api_url, source.token, now)
        self.base = self.api.base
        self.config = config
        self.now = now
        self.page = page
        self.pull_requests = bool(source.extra.get("pull_requests", False))
        self.backfill = parse_duration(str(source.extra.get("backfill", "7d")))
        self.with_discussions = bool(source.extra.get("discussions", False))
        self.authors = Authors(
            self.api, config, now, source=self.source, repo=self.repo,
            collaborators=source.extra.get("maintainers", "team") == "collaborators",
        )  # fmt: skip
        self._is_pr = Recent()  # issue number -> "1" | "0"
        self._posted = Recent()  # "comment:id" we posted -> member
        # An issue comes back on every update (its updated_at moves with each comment): its
        # opening post and closing are handed over once per process. Ids enter ``_handed``
        # only once the poll that carried them is known stored (its cursor comes back).
        self._handed = Recent(50_000)
        self._pending: list[str] = []
        self._last_cursor: str | None = None

    # -- polling ---------------------------------------------------------------------------

    async def poll(self, client: httpx.AsyncClient, cursor: str | None) -> PollResult:
        if cursor is not None and cursor == self._last_cursor:
            for key in self._pending:
                self._handed[key] = "1"
        self._pending = []
        state = load(cursor, self.source)
        self.api.pause = None
        await self.authors.own(client)
        await self.authors.refresh_collaborators(client)
        start = iso(self.now() - self.backfill)
        repo = f"{self.base}/repos/{self.repo}"
        messages: list[InboundMessage] = []
        bad: list[Rejected] = []
        issues, issues_at, issues_more = await self._keyset(
            client, f"{repo}/issues", {"state": "all"}, state.get("issues") or Mark(start)
        )
        for raw in issues:
            try:
                messages.extend(await self._issue(client, obj(raw)))
            except BadItem as exc:
                log.warning("%s: skipped a malformed issue: %s", self.source, exc)
                bad.append(rejected(raw, "issue", exc))
        comments, comments_at, comments_more = await self._keyset(
            client, f"{repo}/issues/comments", {}, state.get("comments") or Mark(start)
        )
        for raw in comments:
            try:
                message = await self._comment(client, obj(raw))
            except BadItem as exc:
                log.warning("%s: skipped a malformed comment: %s", self.source, exc)
                bad.append(rejected(raw, "comment", exc))
                continue
            if message is not None:
                messages.append(message)
        marks: dict[str, object] = {"issues": issues_at.dump(), "comments": comments_at.dump()}
        if self.with_discussions:
            mark = state.get("discussions") or Mark(start)
            found, newest = await self._discussions(client, mark)
            messages.extend(found)
            marks["discussions"] = Mark(newest or mark.since).dump()
        cursor_out = json.dumps(marks, sort_keys=True)
        self._last_cursor = cursor_out
        more = issues_more or comments_more
        return PollResult(messages, cursor_out, self.api.pause, more, rejected=tuple(bad))

    async def _discussions(
        self, client: httpx.AsyncClient, mark: Mark
    ) -> tuple[list[InboundMessage], str | None]:
        async def gql(query: str, variables: Mapping[str, object]) -> Mapping[str, object]:
            return await self.api.graphql(client, query, variables)

        walked = await discussions.walk(gql, self.repo, when({"t": mark.since}, "t"))
        out: list[InboundMessage] = []
        for node in walked.nodes:
            try:
                found = discussions.messages(node, source=self.source, repo=self.repo,
                                             side=self.authors.side)  # fmt: skip
            except BadItem as exc:
                log.warning("%s: skipped a malformed discussion: %s", self.source, exc)
                continue
            for message in found:
                key = f"{message.message_id}@{(message.edited_at or message.at).isoformat()}"
                if key in self._handed:
                    continue
                self._pending.append(key)
                person = self._posted.get(message.message_id)
                if person is not None:
                    message = replace(message, is_team=True, person=person)
                out.append(message)
        return out, iso(walked.newest) if walked.newest else None

    async def _keyset(
        self, client: httpx.AsyncClient, url: str, params: Mapping[str, str], mark: Mark
    ) -> tuple[list[object], Mark, bool]:
        """Items updated at or after ``mark.since``, less those already seen in that second,
        and the mark to continue from."""
        query: dict[str, str] | None = {
            **params, "sort": "updated", "direction": "asc", "since": mark.since,
            "per_page": str(self.page),
        }  # fmt: skip
        fresh: list[object] = []
        stamped: list[tuple[str, str]] = []  # (updated_at, id) of every readable item
        next_url: str | None = url
        full = False
        for _ in range(MAX_SAME_SECOND_PAGES):
            if next_url is None:
                break
            data, links = await self.api.get(client, next_url, query)
            page = arr(data, "page")
            for raw in page:
                try:
                    item = obj(raw)
                    updated, item_id = iso(when(item, "updated_at")), ident(item, "id")
                except BadItem as exc:
                    log.warning("%s: skipped a malformed item of %s: %s", self.source, url, exc)
                    continue
                stamped.append((updated, item_id))
                if updated != mark.since or item_id not in mark.seen:
                    fresh.append(item)
            full = len(page) >= self.page
            newest = max([mark.since, *(u for u, _ in stamped)])
            if not full or newest != mark.since:
                break
            next_url, query = self.api.next(links), None  # a full page all of one second
            full = next_url is not None
        newest = max([mark.since, *(u for u, _ in stamped)])
        seen = {i for u, i in stamped if u == newest}
        if newest == mark.since:
            seen |= set(mark.seen)
        return fresh, Mark(newest, tuple(sorted(seen))[:MAX_SEEN]), full and bool(fresh)

    async def _issue(
        self, client: httpx.AsyncClient, issue: Mapping[str, object]
    ) -> list[InboundMessage]:
        number = str(integer(issue, "number"))
        is_pr = issue.get("pull_request") is not None
        self._is_pr[number] = "1" if is_pr else "0"
        if is_pr and not self.pull_requests:
            return []
        out: list[InboundMessage] = []
        url = string(issue, "html_url", "")
        user = obj(issue.get("user"), "user")
        side = self.authors.side(user, string(issue, "author_association", ""))
        opening = f"issue:{number}"
        if side is not None and opening not in self._handed:
            title, body = string(issue, "title", ""), string(issue, "body", "")
            self._pending.append(opening)
            out.append(InboundMessage(
                source=self.source, platform=self.platform, message_id=opening,
                thread=number, channel=self.repo, at=when(issue, "created_at"),
                author=Author(string(user, "login")), is_team=side[0], person=side[1],
                text=f"{title}\n{body}".strip(), url=url,
            ))  # fmt: skip
        closed_at = opt_when(issue, "closed_at")
        closing = f"closed:{number}:{int(closed_at.timestamp())}" if closed_at else ""
        state = string(issue, "state", "open")
        if state == "closed" and closed_at is not None and closing not in self._handed:
            closer = await self.authors.closer(client, issue, number, closed_at)
            reason = (opt_string(issue, "state_reason") or "completed").replace("_", " ")
            self._pending.append(closing)
            out.append(InboundMessage(
                source=self.source, platform=self.platform, message_id=closing, thread=number,
                channel=self.repo, at=closed_at, author=Author(closer or "github"),
                is_team=True, text=f"closed this issue ({reason})", url=url,
                person=self.config.person_by_platform("github", closer) if closer else None,
            ))  # fmt: skip
        return out

    async def _is_pull_request(self, client: httpx.AsyncClient, number: str) -> bool:
        if number not in self._is_pr:
            try:
                data, _ = await self.api.get(
                    client, f"{self.base}/repos/{self.repo}/issues/{number}"
                )
                self._is_pr[number] = "1" if obj(data).get("pull_request") is not None else "0"
            except PollError as exc:
                if not exc.permanent:
                    raise
                self._is_pr[number] = "0"
        return self._is_pr[number] == "1"

    async def _comment(
        self, client: httpx.AsyncClient, comment: Mapping[str, object]
    ) -> InboundMessage | None:
        cid = ident(comment, "id")
        found = _ISSUE_URL.search(string(comment, "issue_url"))
        if found is None:
            raise BadItem("issue_url does not name an issue")
        number = found.group(1)
        if not self.pull_requests and await self._is_pull_request(client, number):
            return None
        user = obj(comment.get("user"), "user")
        side = self.authors.side(user, string(comment, "author_association", ""))
        if side is None:
            return None
        ref = f"comment:{cid}"
        created = when(comment, "created_at")
        updated = opt_when(comment, "updated_at")
        edited = updated if updated is not None and updated > created else None
        person = self._posted.get(ref) or side[1]
        return InboundMessage(
            source=self.source, platform=self.platform, message_id=ref, thread=number,
            channel=self.repo, at=created, author=Author(string(user, "login")),
            is_team=side[0] or ref in self._posted, person=person,
            text=string(comment, "body", ""), url=string(comment, "html_url", ""),
            kind=Kind.EDIT if edited is not None else Kind.MESSAGE, edited_at=edited,
        )  # fmt: skip

    # -- reply-through ---------------------------------------------------------------------

    async def reply(
        self, client: httpx.AsyncClient, target: ReplyTarget, text: str, person: str
    ) -> Delivered:
        if target.thread.startswith(discussions.PREFIX):

            async def gql(query: str, variables: Mapping[str, object]) -> Mapping[str, object]:
                return await self.api.graphql(client, query, variables)

            ref = await discussions.reply(gql, self.repo, target.thread, text)
            self._posted[ref] = person
            return Delivered(ref)
        if not target.thread.isdigit():
            raise PollError(f"{target.thread!r} is not an issue number", status=400)
        url = f"{self.base}/repos/{self.repo}/issues/{target.thread}/comments"
        data = obj(await self.api.post(client, url, {"body": text}))
        ref = f"comment:{ident(data, 'id')}"
        self._posted[ref] = person
        return Delivered(ref)
