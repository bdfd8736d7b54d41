"""``GET /api/conversations.csv?since=7d``: the conversations export, streamed.

Same rows as ``nudgebot stats --csv`` (bot.services.export), behind the API's bearer token.
The window is checked before the first byte goes out, so bad input is a one-line JSON 400;
after that the body streams page by page and an export of any size needs constant memory.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from bot.services.export import csv_lines
from bot.web.api import authorize, since_param


async def conversations_csv(request: Request) -> Response:
    web = authorize(request)
    now = web.runtime.now()
    since = since_param(request.query_params.get("since", "7d"), now)
    stamp = f"{now:%Y%m%d-%H%M}"
    return StreamingResponse(
        csv_lines(web.runtime.db, since, now),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="nudgebot-conversations-{stamp}.csv"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
