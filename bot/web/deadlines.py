"""Slow clients get 408 and their connection closed; one address cannot hold every socket.

uvicorn (h11) has no deadline for a request's headers or body: a client that trickles its
headers a byte at a time, or sends ``Content-Length: 1000`` and ten bytes, holds a
connection (and, for the body, an application task) for as long as it likes. This protocol
adds, per connection:

- a header deadline (``header_timeout``), from the connection's start or the end of the
  previous response until the request's headers are complete; any byte received no longer
  resets it (uvicorn's keep-alive timer is reset by every byte);
- a body deadline (``body_timeout``), from the end of the headers until the whole body is in;
  bodies are at most 1 MiB on every route, so a few seconds is generous;
- a cap of ``max_per_client`` concurrent connections per client address (the TCP peer):
  the next one gets 429 and is closed. Peers named in ``FORWARDED_ALLOW_IPS`` (uvicorn's
  trusted proxies, when that variable is set; ``*`` for all) are exempt: a reverse proxy
  carries many clients' connections and keeps its own limits.

On a deadline the client gets ``408 Request Timeout`` (unless a response already started)
and the connection is closed; the application's ``receive`` then reports a disconnect.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import Counter
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("nudgebot.web")
HEADER_TIMEOUT = 5.0
BODY_TIMEOUT = 10.0
MAX_PER_CLIENT = 64


def _raw(status: int, reason: str, text: str) -> bytes:
    body = text.encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


TIMEOUT_408 = _raw(408, "Request Timeout", "request timeout: send the request faster\n")
BUSY_429 = _raw(429, "Too Many Requests", "too many connections from this address\n")


class GuardedH11Protocol(H11Protocol):
    header_timeout = HEADER_TIMEOUT
    body_timeout = BODY_TIMEOUT
    max_per_client = MAX_PER_CLIENT
    open_per_client: ClassVar[Counter[str]] = Counter()
    trusted_proxies: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._phase = "headers"  # headers | body | app
        self._address: str | None = None

    # -- connection ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        peer = self.client[0] if self.client else None
        exempt = peer in self.trusted_proxies or "*" in self.trusted_proxies
        self._address = None if exempt else peer
        if self._address is not None:
            self.open_per_client[self._address] += 1
            if self.open_per_client[self._address] > self.max_per_client:
                log.warning("refused a connection: %s has %d open", self._address,
                            self.open_per_client[self._address] - 1)  # fmt: skip
                transport.write(BUSY_429)
                transport.close()
                return
        self._arm("headers", self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._address is not None:
            self.open_per_client[self._address] -= 1
            if self.open_per_client[self._address] <= 0:
                del self.open_per_client[self._address]
            self._address = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._phase = "app"
            self._follow()

    # -- deadlines -------------------------------------------------------------------------

    def _follow(self) -> None:
        """Move the deadline along with h11's view of the client's side."""
        state = self.conn.their_state
        if state is h11.IDLE and self._phase != "headers" and self._ours_idle():
            self._arm("headers", self.header_timeout)  # waiting for the next request
        elif state is h11.SEND_BODY and self._phase != "body":
            self._arm("body", self.body_timeout)
        elif state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED) and self._phase != "app":
            self._phase = "app"
            self._disarm()

    def _ours_idle(self) -> bool:
        return self.conn.our_state in (h11.IDLE, h11.DONE) and (
            self.cycle is None or self.cycle.response_complete
        )

    def _arm(self, phase: str, seconds: float) -> None:
        self._disarm()
        self._phase = phase
        self._deadline = self.loop.call_later(seconds, self._expired, phase)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, phase: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        log.warning("closed a slow connection from %s: its %s took longer than %gs",
                    self._address or "?", "request headers" if phase == "headers" else "body",
                    self.header_timeout if phase == "headers" else self.body_timeout)  # fmt: skip
        cycle = self.cycle
        if cycle is None or not cycle.response_started:
            self.transport.write(TIMEOUT_408)
        if cycle is not None:
            cycle.disconnected = True  # the app's receive() now says http.disconnect
            cycle.message_event.set()
        self.transport.close()


def guarded_protocol(
    header_timeout: float = HEADER_TIMEOUT,
    body_timeout: float = BODY_TIMEOUT,
    max_per_client: int = MAX_PER_CLIENT,
) -> type[GuardedH11Protocol]:
    """A protocol class for ``uvicorn.Config(http=...)``, with its own per-address counts."""
    return type(
        "GuardedH11Protocol",
        (GuardedH11Protocol,),
        {
            "header_timeout": header_timeout,
            "body_timeout": body_timeout,
            "max_per_client": max_per_client,
            "open_per_client": Counter(),
            "trusted_proxies": frozenset(
                p.strip() for p in os.environ.get("FORWARDED_ALLOW_IPS", "").split(",") if p.strip()
            ),
        },
    )
