"""Who is who on a GitHub repository: the token's own account, the maintainers, who closed.

Maintainers are team members by ``github`` login, the token's own account, and — with
``maintainers: collaborators`` — the repository's collaborators (plus authors GitHub marks
OWNER/MEMBER/COLLABORATOR). Bots are ignored. Each answer that costs a request (the token's
login, the collaborator list, an issue's closer) is cached here, apart from the poller, so
that the poller reads as the walk over the lists and this as the people in them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import httpx

from adapters.github.api import GitHubAPI
from bot.config import Config
from bot.domain.payload import arr, obj, string
from bot.domain.polling import BadItem, PollError, Recent

log = logging.getLogger("nudgebot.github")
COLLABORATORS_REFRESH = timedelta(hours=1)
MAINTAINER_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})


class Authors:
    def __init__(
        self,
        api: GitHubAPI,
        config: Config,
        now: Callable[[], datetime],
        *,
        source: str,
        repo: str,
        collaborators: bool,
    ) -> None:
        self.api = api
        self.config = config
        self.now = now
        self.source = source
        self.repo = repo
        self.collaborators_mode = collaborators
        self._login: str | None = None  # the token's account; "" when it cannot be known
        self._collaborators: frozenset[str] = frozenset()
        self._collaborators_at: datetime | None = None
        self._closers = Recent()  # "number@closed_at" -> login ("" unknown)

    async def own(self, client: httpx.AsyncClient) -> None:
        if self._login is not None:
            return
        try:
            url = self.api.base + "/user"
            self._login = string(obj((await self.api.get(client, url))[0]), "login")
        except PollError as exc:
            if not exc.permanent:
                raise
            self._login = ""  # e.g. a GitHub App token: fine, replies are tracked by id
        except BadItem:
            self._login = ""

    async def refresh_collaborators(self, client: httpx.AsyncClient) -> None:
        now = self.now()
        if not self.collaborators_mode or (
            self._collaborators_at is not None
            and now - self._collaborators_at < COLLABORATORS_REFRESH
        ):
            return
        logins: set[str] = set()
        url: str | None = f"{self.api.base}/repos/{self.repo}/collaborators"
        params: dict[str, str] | None = {"per_page": "100"}
        try:
            for _ in range(20):
                if url is None:
                    break
                data, links = await self.api.get(client, url, params)
                for raw in arr(data):
                    try:
                        logins.add(string(obj(raw), "login").lower())
                    except BadItem:
                        continue
                url, params = self.api.next(links), None
        except PollError as exc:
            if not exc.permanent:
                raise
            log.warning("%s: cannot list collaborators (%s); using GitHub's author "
                        "association only", self.source, exc)  # fmt: skip
        self._collaborators, self._collaborators_at = frozenset(logins), now

    def side(self, user: Mapping[str, object], association: str) -> tuple[bool, str | None] | None:
        """(is_team, person) of an author, or None for bots."""
        login = string(user, "login")
        person = self.config.person_by_platform("github", login)
        ours = bool(self._login) and login.lower() == (self._login or "").lower()
        if string(user, "type", "User") == "Bot" and not ours and person is None:
            return None
        maintainer = self.collaborators_mode and (
            login.lower() in self._collaborators or association in MAINTAINER_ASSOCIATIONS
        )
        return (ours or person is not None or maintainer, person)

    async def closer(
        self, client: httpx.AsyncClient, issue: Mapping[str, object], number: str, at: datetime
    ) -> str:
        key = f"{number}@{int(at.timestamp())}"
        if isinstance(issue.get("closed_by"), Mapping):
            self._closers[key] = string(obj(issue["closed_by"]), "login")
        if key not in self._closers:  # the list endpoint leaves closed_by out: ask the issue
            try:
                data, _ = await self.api.get(
                    client, f"{self.api.base}/repos/{self.repo}/issues/{number}"
                )
                by = obj(data).get("closed_by")
                self._closers[key] = string(obj(by), "login") if isinstance(by, Mapping) else ""
            except PollError as exc:
                if not exc.permanent:
                    raise
                self._closers[key] = ""
        return self._closers[key]
