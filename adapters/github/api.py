"""GitHub's REST and GraphQL endpoints as the poller uses them: auth headers, rate-limit
pauses noted from every answer, ``Link`` pagination only back to the same API, and GraphQL
errors turned into the poller's failures."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

import httpx

from bot.domain.payload import obj
from bot.domain.polling import PollError, RateLimited, decode_json, parse_reset, rate_limit_pause

DEFAULT_API = "https://api.github.com"
Links = Mapping[str | None, Mapping[str, str]]


class GitHubAPI:
    def __init__(self, base: str | None, token: str | None, now: Callable[[], datetime]) -> None:
        self.base = (base or DEFAULT_API).rstrip("/")
        # GitHub Enterprise serves GraphQL at /api/graphql beside /api/v3.
        root = self.base.removesuffix("/v3") if self.base.endswith("/api/v3") else self.base
        self.graphql_url = root + "/graphql"
        self.now = now
        self.headers = {"Accept": "application/vnd.github+json",
                        "X-GitHub-Api-Version": "2022-11-28"}  # fmt: skip
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.pause: float | None = None  # the longest rate-limit pause asked for since reset

    def _note(self, resp: httpx.Response) -> None:
        pause = rate_limit_pause(resp.headers, self.now())
        if pause is not None:
            self.pause = max(self.pause or 0.0, pause)

    async def get(
        self, client: httpx.AsyncClient, url: str, params: Mapping[str, str] | None = None
    ) -> tuple[object, Links]:
        resp = await client.get(url, params=params, headers=self.headers)
        self._note(resp)
        return decode_json(resp.status_code, resp.headers, resp.content, self.now()), resp.links

    async def post(self, client: httpx.AsyncClient, url: str, body: Mapping[str, object]) -> object:
        resp = await client.post(url, json=dict(body), headers=self.headers)
        self._note(resp)
        return decode_json(resp.status_code, resp.headers, resp.content, self.now())

    def next(self, links: Links) -> str | None:
        url = links.get("next", {}).get("url")
        # Only ever follow a link back to the same API: never let a response send us elsewhere.
        return url if url and url.startswith(self.base + "/") else None

    async def graphql(
        self, client: httpx.AsyncClient, query: str, variables: Mapping[str, object]
    ) -> Mapping[str, object]:
        resp = await client.post(
            self.graphql_url, json={"query": query, "variables": dict(variables)},
            headers=self.headers,
        )  # fmt: skip
        self._note(resp)
        body = obj(decode_json(resp.status_code, resp.headers, resp.content, self.now()))
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            first = errors[0] if isinstance(errors[0], Mapping) else {}
            message = f"GraphQL: {str(first.get('message', 'error'))[:200]}"
            if first.get("type") == "RATE_LIMITED":  # wait for the window to reset
                reset = parse_reset(resp.headers.get("x-ratelimit-reset"), self.now())
                raise RateLimited(message, retry_after=reset)
            if not isinstance(body.get("data"), Mapping):
                raise PollError(message, status=400 if first.get("type") else None)
        return obj(body.get("data"), "data")
