"""``/api/*``: the CLI's ``--json`` answers over HTTP, behind a bearer token.

The bodies are exactly what ``nudgebot waiting --json`` and ``nudgebot stats --json`` print
(same service calls, same ``as_json``), so scripts can switch between the two freely.
"""

from __future__ import annotations

import hmac
from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.domain.durations import parse_since
from bot.services.stats import report
from bot.services.waiting import list_waiting
from bot.web.errors import ApiError, echo
from bot.web.state import WebState, web_state

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="nudgebot"'}


def authorize(request: Request) -> WebState:
    """The caller must present ``Authorization: Bearer <NUDGEBOT_API_TOKEN>``."""
    web = web_state(request)
    if not web.api_token:
        raise ApiError(
            401,
            "the API is disabled: NUDGEBOT_API_TOKEN is not configured on the server",
            _CHALLENGE,
        )
    header = request.headers.get("authorization")
    if header is None:
        raise ApiError(401, "missing Authorization: Bearer <token> header", _CHALLENGE)
    # Back to the bytes the client sent (Starlette decodes headers as latin-1): compare_digest
    # then works for any token, and the comparison stays constant-time.
    scheme, _, credential = header.strip().encode("latin-1").partition(b" ")
    if scheme.lower() != b"bearer" or not hmac.compare_digest(
        credential.strip(), web.api_token.encode()
    ):
        raise ApiError(401, "bad bearer token", _CHALLENGE)
    return web


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_LIMIT:
        raise ApiError(400, f"limit must be a whole number from 1 to {MAX_LIMIT}, not {echo(raw)}")
    return value


async def waiting(request: Request) -> Response:
    web = authorize(request)
    config = web.rt.config
    query = request.query_params
    limit = _limit(query.get("limit"))
    source = query.get("source")
    person = query.get("person")
    # Same rules as the CLI: with a config that names sources/team, a typo is an error
    # rather than an empty list that looks like "nobody is waiting".
    if source is not None and config.sources and source not in config.sources:
        known = ", ".join(sorted(config.sources))
        raise ApiError(400, f"source {echo(source)} is not a configured source (known: {known})")
    if person is not None and config.team and person not in config.team:
        raise ApiError(400, f"person {echo(person)} is not on the team in the config")
    await web.rt.oncall.prepare()  # stored overrides and calendars decide who's on call
    rows = await list_waiting(
        web.rt.db, web.rt.routing, web.rt.now(), source=source, person=person, limit=limit
    )
    return JSONResponse([row.as_json() for row in rows])


def since_param(value: str, now: datetime) -> datetime:
    try:
        return parse_since(value, now)
    except ValueError as exc:
        raise ApiError(400, f"since={echo(value)}: {str(exc).split(': ', 1)[-1]}") from None


async def stats(request: Request) -> Response:
    web = authorize(request)
    now = web.rt.now()
    since = since_param(request.query_params.get("since", "7d"), now)
    return JSONResponse(await report(web.rt.db, since, now, now, tz=web.rt.config.tz))
