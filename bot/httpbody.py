"""Reading a request body with a size limit, shared by every route that accepts one.

Content-Length is only a shortcut for honest clients: a chunked or lying request is cut off
while streaming, so no route ever holds more than ``limit`` bytes of a client's body.
"""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request

MAX_BODY = 1024 * 1024


class BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_limited(request: Request, limit: int = MAX_BODY) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyError(413, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyError(413, f"body larger than {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise BodyError(400, "client disconnected before the body was complete") from None
    return b"".join(chunks)
