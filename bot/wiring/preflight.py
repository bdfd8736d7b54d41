"""Before `run` starts serving: are the platform credentials accepted, are the hosts there?

A rejected token never heals by itself, so `run` stops at once with one line naming the
variable and where to get a good one (the token itself is never printed). An unreachable
host is named too. Failures after start are the adapters' business: they retry with backoff
and /readyz shows which part is degraded."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx

SLACK_DEFAULT = "https://slack.com/api/"
TELEGRAM_DEFAULT = "https://api.telegram.org/bot"
TIMEOUT = 10.0
_SLACK_REJECTED = {"invalid_auth", "not_authed", "token_revoked", "token_expired",
                   "account_inactive", "not_allowed_token_type"}  # fmt: skip


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.hostname or url if parts.port is None else f"{parts.hostname}:{parts.port}"


def _unreachable(platform: str, url: str, variable: str, exc: Exception) -> str:
    why = type(exc).__name__
    return (
        f"cannot reach {platform} at {_host(url)} ({why}); check the network and DNS, "
        f"or {variable} if you point {platform} elsewhere"
    )


async def _slack_call(client: httpx.AsyncClient, base: str, method: str, token: str) -> str | None:
    """Slack's error code when the token is rejected, else None."""
    response = await client.post(base + method, headers={"Authorization": f"Bearer {token}"})
    if response.status_code >= 500 or response.status_code == 429:
        return None  # Slack having a bad moment: the adapter retries
    try:
        body = response.json()
    except ValueError:
        return None
    error = str(body.get("error", "")) if not body.get("ok") else ""
    return error if error in _SLACK_REJECTED else None


async def check_slack(env: Mapping[str, str], client: httpx.AsyncClient) -> str | None:
    token = env.get("SLACK_BOT_TOKEN", "").strip()
    if not token:
        return None
    base = env.get("SLACK_API_URL", "").strip() or SLACK_DEFAULT
    base = base if base.endswith("/") else base + "/"
    try:
        if error := await _slack_call(client, base, "auth.test", token):
            return (
                f"SLACK_BOT_TOKEN was rejected by Slack ({error}): copy the Bot User OAuth "
                "Token (xoxb-…) from your Slack app's OAuth & Permissions page"
            )
        app_token = env.get("SLACK_APP_TOKEN", "").strip()
        if app_token and (error := await _slack_call(client, base, "apps.connections.open",
                                                     app_token)):  # fmt: skip
            return (
                f"SLACK_APP_TOKEN was rejected by Slack ({error}): create an app-level token "
                "(xapp-…) with connections:write under Basic Information, or unset it to use "
                "HTTP events"
            )
    except httpx.TransportError as exc:
        return _unreachable("Slack", base, "SLACK_API_URL", exc)
    return None


async def check_telegram(env: Mapping[str, str], client: httpx.AsyncClient) -> str | None:
    token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
    if not token:
        return None
    base = env.get("TELEGRAM_API_URL", "").strip() or TELEGRAM_DEFAULT
    try:
        response = await client.post(f"{base}{token}/getMe")
    except httpx.TransportError as exc:
        return _unreachable("Telegram", base, "TELEGRAM_API_URL", exc)
    if response.status_code in (401, 404):  # Telegram answers 404 to a malformed token
        return (
            f"TELEGRAM_BOT_TOKEN was rejected by Telegram ({response.status_code}): copy the "
            "token @BotFather gave you (/mybots → API Token)"
        )
    return None


async def preflight(env: Mapping[str, str]) -> str | None:
    """The first problem found, as one line with its fix; None when all is well."""
    # httpx logs each request's URL at INFO, and Telegram's carries the bot token.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger(name).level))
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        for check in (check_slack, check_telegram):
            if (problem := await check(env, client)) is not None:
                return problem
    return None
