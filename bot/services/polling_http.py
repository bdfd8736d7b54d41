"""The ``httpx.AsyncClient`` each polled source gets: timeouts, a user agent, and a transport
that refuses oversized bodies.

The cap counts *decoded* bytes: the transport decompresses gzip/deflate itself with a bounded
output, so a small compressed "bomb" cannot grow past the cap either. A body over the cap, or
in an encoding we did not ask for, raises ``ResponseTooLarge`` / ``BadResponse`` before the
adapter sees anything; the poller logs it and backs off like any other failed fetch.
"""

from __future__ import annotations

import zlib

import httpx

from bot.domain.polling import BadResponse

MAX_BODY = 8 * 1024 * 1024
TIMEOUT = httpx.Timeout(20.0, connect=10.0)
USER_AGENT = "nudgebot (+https://github.com/nudgebot; polled sources)"
_DROP_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class ResponseTooLarge(BadResponse):
    pass


class _Decoder:
    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.raw = 0
        if encoding in ("", "identity"):
            self.zlib = None
        elif encoding in ("gzip", "x-gzip"):
            self.zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self.zlib = zlib.decompressobj()
        else:
            raise BadResponse(f"unexpected Content-Encoding {encoding[:40]!r}")

    def feed(self, chunk: bytes) -> bytes:
        self.raw += len(chunk)
        if self.raw > self.limit:
            raise ResponseTooLarge(f"response body over {self.limit} bytes")
        if self.zlib is None:
            out = chunk
        else:
            try:
                out = self.zlib.decompress(chunk, self.limit - self.size + 1)
            except zlib.error as exc:
                raise BadResponse(f"corrupt compressed body: {exc}") from exc
            if self.zlib.unconsumed_tail:
                raise ResponseTooLarge(f"response body over {self.limit} bytes (decoded)")
        self.size += len(out)
        if self.size > self.limit:
            raise ResponseTooLarge(f"response body over {self.limit} bytes")
        return out


class CappedTransport(httpx.AsyncBaseTransport):
    """Reads the whole body here, at most ``limit`` decoded bytes, and hands httpx a plain
    (already decoded) response."""

    def __init__(self, inner: httpx.AsyncBaseTransport, limit: int = MAX_BODY) -> None:
        self.inner = inner
        self.limit = limit

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.limit:
                raise ResponseTooLarge(f"response body of {declared} bytes over {self.limit}")
            if response.is_stream_consumed:  # httpx.MockTransport reads (and decodes) first
                parts = [_Decoder("", self.limit).feed(response.content)]
            else:
                encoding = response.headers.get("content-encoding", "").strip().lower()
                decoder = _Decoder(encoding, self.limit)
                parts = [decoder.feed(chunk) async for chunk in response.aiter_raw()]
        finally:
            await response.aclose()
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in
                   _DROP_HEADERS]  # fmt: skip
        return httpx.Response(
            response.status_code,
            headers=headers,
            content=b"".join(parts),
            request=request,
            extensions={k: v for k, v in response.extensions.items() if k != "network_stream"},
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


def make_client(
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    limit: int = MAX_BODY,
    timeout: httpx.Timeout | float = TIMEOUT,
) -> httpx.AsyncClient:
    """One client per source. ``transport`` lets tests swap the network for a fake."""
    inner = transport if transport is not None else httpx.AsyncHTTPTransport(retries=1)
    return httpx.AsyncClient(
        transport=CappedTransport(inner, limit),
        timeout=timeout,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"},
        follow_redirects=False,
    )
