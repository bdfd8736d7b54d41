"""``GET /api/oncall`` (as ``nudgebot oncall --json``) and ``GET /api/rotations/{id}.ics``.

The calendar export takes the API token as ``Authorization: Bearer …`` or, because calendar
apps cannot send headers, as ``?token=…``. A token in a URL ends up in the calendar app's
settings and maybe in proxy logs: treat the subscription URL as a secret.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.services.oncall import OncallError
from bot.services.oncall_export import AHEAD, PAST, export_ics
from bot.web.api import authorize
from bot.web.errors import ApiError, echo
from bot.web.state import WebState, web_state

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="nudgebot"'}


def parse_at(raw: str | None, now: datetime) -> datetime:
    if raw is None or not raw.strip():
        return now
    try:
        parsed = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ApiError(
            400, f"at={echo(raw)} is not an ISO-8601 time such as 2026-12-24T10:00:00Z"
        ) from None


async def oncall(request: Request) -> Response:
    web = authorize(request)
    at = parse_at(request.query_params.get("at"), web.runtime.now())
    service = web.runtime.oncall
    await service.prepare()
    return JSONResponse(service.report(at))


def _authorize_feed(request: Request) -> WebState:
    token = request.query_params.get("token")
    if token is None or "authorization" in request.headers:
        return authorize(request)
    web = web_state(request)
    if not web.api_token:
        raise ApiError(401, "the API is disabled: NUDGEBOT_API_TOKEN is not configured", _CHALLENGE)
    if not hmac.compare_digest(token.encode(), web.api_token.encode()):
        raise ApiError(401, "bad token", _CHALLENGE)
    return web


async def rotation_ics(request: Request) -> Response:
    web = _authorize_feed(request)
    rotation = request.path_params["rotation_id"]
    service = web.runtime.oncall
    if rotation not in service.config.rotations:
        raise ApiError(404, service.unknown(rotation))
    person = request.query_params.get("person")
    if person is not None and person not in service.config.team:
        raise ApiError(400, f"person {echo(person)} is not on the team in the config")
    await service.prepare()
    now = web.runtime.now()
    try:
        turns = service.turns(rotation, now - PAST, now + AHEAD)
    except OncallError as exc:
        raise ApiError(503, str(exc)) from None
    if person is not None:
        turns = [t for t in turns if t.person == person]

    def name_of(pid: str) -> str:
        found = service.config.person(pid)
        return found.name if found is not None else pid

    body = export_ics(rotation, turns, now, name_of)
    headers = {"Content-Disposition": f'inline; filename="{rotation}.ics"'}
    if (problem := service.problem(rotation)) is not None:
        # The feed still answers (calendar apps show nothing better), but says why it is thin.
        headers["X-Nudgebot-Warning"] = (
            " ".join(problem.split()).encode("ascii", "replace").decode()[:300]
        )
    return Response(body, media_type="text/calendar; charset=utf-8", headers=headers)
