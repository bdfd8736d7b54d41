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
from bot.services.waiting_page import BadQuery, Page, Query, waiting_page
from bot.web.errors import ApiError, echo
from bot.web.state import WebState, web_state
from storage.waiting_page_queries import SORTS

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


_TRUE = ("1", "true", "yes", "overdue")
_FALSE = ("0", "false", "no", "not_due")


def _overdue(raw: str | None) -> bool | None:
    if raw is None or raw == "":
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ApiError(400, f"overdue must be true or false, not {echo(raw)}")


def waiting_query(request: Request, *, default_limit: int = DEFAULT_LIMIT) -> Query:
    """The filters, sort and cursor of a waiting-list request; ApiError 400 for a bad one.

    ``offset`` is refused rather than ignored: paging is by ``cursor`` (the ``next`` of the
    page before), which stays right while conversations come and go."""
    config = web_state(request).runtime.config
    query = request.query_params
    if "offset" in query:
        raise ApiError(400, "offset is not supported: page with cursor= (the previous page's next)")
    raw_limit = query.get("limit")
    limit = _limit(raw_limit) if raw_limit is not None else default_limit
    source = query.get("source") or None
    person = query.get("person") or None
    platform = query.get("platform") or None
    # Same rules as the CLI: with a config that names sources/team, a typo is an error
    # rather than an empty list that looks like "nobody is waiting".
    if source is not None and config.sources and source not in config.sources:
        known = ", ".join(sorted(config.sources))
        raise ApiError(400, f"source {echo(source)} is not a configured source (known: {known})")
    if person is not None and config.team and person not in config.team:
        raise ApiError(400, f"person {echo(person)} is not on the team in the config")
    platforms = {s.platform for s in config.sources.values()}
    if platform is not None and platforms and platform not in platforms:
        known = ", ".join(sorted(platforms))
        raise ApiError(400, f"platform {echo(platform)} is used by no source (known: {known})")
    sort = query.get("sort") or "waiting"
    if sort not in SORTS:
        raise ApiError(400, f"sort must be one of {', '.join(SORTS)}, not {echo(sort)}")
    return Query(
        source=source,
        person=person,
        platform=platform,
        overdue=_overdue(query.get("overdue")),
        sort=sort,
        cursor=query.get("cursor") or None,
        limit=limit,
    )


async def load_page(request: Request, q: Query) -> Page:
    web = web_state(request)
    await web.runtime.oncall.prepare()  # stored overrides and calendars decide who's on call
    try:
        return await waiting_page(web.runtime.db, web.runtime.routing, web.runtime.now(), q)
    except BadQuery as exc:
        raise ApiError(400, str(exc)) from None


async def waiting(request: Request) -> Response:
    """The rows of ``nudgebot waiting --json``, a page at a time.

    The body stays the CLI's bare list (scripts written for it keep working); the next page's
    cursor travels in ``X-Next-Cursor`` and a ``Link: rel="next"`` header. ``envelope=1``
    answers ``{"rows", "next", "counts"}`` instead, rows with ``channel_name`` and ``page``."""
    web = authorize(request)
    q = waiting_query(request)
    result = await load_page(request, q)
    headers = {"X-Total-Count": str(result.counts.matching)}
    if result.next is not None:
        headers["X-Next-Cursor"] = result.next
        link = request.url.include_query_params(cursor=result.next)
        headers["Link"] = f'<{link.path}?{link.query}>; rel="next"'
    if request.query_params.get("envelope") not in ("1", "true", "yes"):
        return JSONResponse([row.as_json() for row in result.rows], headers=headers)
    names = await web.channel_names.names((r.platform, r.channel) for r in result.rows)
    rows = [
        {
            **r.as_json(),
            "channel_name": names.get((r.platform, r.channel), r.channel),
            "page": f"/conversations/{r.conversation}",
        }
        for r in result.rows
    ]
    body = {"rows": rows, "next": result.next, "counts": result.counts.as_json()}
    return JSONResponse(body, headers=headers)


def since_param(value: str, now: datetime) -> datetime:
    try:
        return parse_since(value, now)
    except ValueError as exc:
        raise ApiError(400, f"since={echo(value)}: {str(exc).split(': ', 1)[-1]}") from None


async def stats(request: Request) -> Response:
    web = authorize(request)
    now = web.runtime.now()
    since = since_param(request.query_params.get("since", "7d"), now)
    return JSONResponse(await report(web.runtime.db, since, now, now, tz=web.runtime.config.tz))
