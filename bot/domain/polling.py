"""What a polled source's fetch returns, and the pure rules every poller shares: backoff with
jitter, rate-limit headers, and turning an HTTP answer into JSON or a typed failure.

Nothing here does I/O: adapters read the response (status, headers, body bytes) and hand the
parts in, so the same checks run identically for Mastodon, Discourse, GitHub and X.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from bot.domain.events import InboundMessage

# A hostile or broken server can ask us to wait forever; nobody waits longer than this.
MAX_WAIT = 3600.0


@dataclass(frozen=True)
class Rejected:
    """One item of a page the poller could not read, as it came: kept as a dead letter (the
    rest of the page is stored and the cursor moves on)."""

    payload: bytes
    reason: str


def rejected(raw: object, what: str, exc: Exception) -> Rejected:
    try:
        payload = json.dumps(raw, sort_keys=True, default=str).encode()
    except (TypeError, ValueError, RecursionError):
        payload = repr(raw).encode("utf-8", "backslashreplace")
    return Rejected(payload, f"malformed {what}: {exc}")


@dataclass(frozen=True)
class PollResult:
    """One fetch of a source. ``cursor`` is opaque to everyone but the adapter that made it
    (None: nothing to remember yet). ``retry_after``: do not poll again before this many
    seconds (rate limit nearly spent). ``more``: a full page came back, poll again at once."""

    messages: Sequence[InboundMessage] = field(default_factory=tuple)
    cursor: str | None = None
    retry_after: float | None = None
    more: bool = False
    rejected: Sequence[Rejected] = field(default_factory=tuple)


class PollError(Exception):
    """A fetch that did not work. ``retry_after`` (seconds) comes from the platform;
    ``status`` is the HTTP status when there was one."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status

    @property
    def permanent(self) -> bool:
        """A client error that repeating the same request cannot fix (bad token, not found,
        validation failed) — unlike 429, 5xx and network trouble."""
        return self.status is not None and 400 <= self.status < 500 and self.status != 429


class RateLimited(PollError):
    """429, or a 403 with the rate limit spent (GitHub): waiting fixes it."""

    @property
    def permanent(self) -> bool:
        return False


class BadResponse(PollError):
    """A 2xx whose body is not the JSON the API documents (HTML error page, garbage)."""


class BadItem(ValueError):
    """One item of a page has the wrong shape: the adapter logs and skips it."""


def backoff_delay(failures: int, *, base: float, cap: float, jitter: float) -> float:
    """Exponential backoff with "equal jitter": half the step fixed, half random, so replicas
    and sources that failed together spread out but nobody retries at once.
    ``jitter`` is a random number in [0, 1) handed in by the caller."""
    if failures <= 0:
        return 0.0
    step = min(cap, base * 2.0 ** min(failures - 1, 30))
    return step / 2 + step / 2 * min(max(jitter, 0.0), 1.0)


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After``: delay-seconds or an HTTP-date; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    raw = value.strip()
    try:
        seconds = _finite(float(raw))
    except ValueError:
        seconds = None
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if seconds is None:
        return None
    return min(max(seconds, 0.0), MAX_WAIT)


def parse_reset(value: str | None, now: datetime) -> float | None:
    """Seconds until a rate-limit window resets. GitHub and X send epoch seconds, Mastodon an
    ISO 8601 time; a small number is taken as seconds from now."""
    if value is None or not value.strip():
        return None
    raw = value.strip()
    try:
        number = _finite(float(raw))
    except ValueError:
        number = None
        try:
            when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    else:
        if number is None:
            return None
        seconds = number - now.timestamp() if number > 1e9 else number
    return min(max(seconds, 0.0), MAX_WAIT)


def _header(h: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        if name in h:
            return h[name]
    return None


def _remaining(h: Mapping[str, str]) -> int | None:
    raw = _header(h, "x-ratelimit-remaining", "x-rate-limit-remaining")
    if raw is None:
        return None
    try:
        return int(raw.strip())
    except ValueError:
        return None


def rate_limit_pause(headers: Mapping[str, str], now: datetime) -> float | None:
    """How long to pause before the next poll so the remaining budget lasts until the window
    resets: the whole wait when it is spent, else the window spread over what is left.
    None when the headers say nothing (``X-RateLimit-*`` / ``x-rate-limit-*``)."""
    h = _lower(headers)
    remaining = _remaining(h)
    reset = parse_reset(_header(h, "x-ratelimit-reset", "x-rate-limit-reset"), now)
    if remaining is None or reset is None:
        return None
    if remaining <= 0:
        return reset
    return reset / (remaining + 1)


def _snippet(body: bytes) -> str:
    text = body[:120].decode("utf-8", "replace")
    return " ".join(text.split())[:80]


def decode_json(status: int, headers: Mapping[str, str], body: bytes, now: datetime) -> object:
    """The JSON of a successful answer, or a typed failure the runtime knows how to wait on."""
    h = _lower(headers)
    retry = parse_retry_after(h.get("retry-after"), now)
    if status == 429 or (status == 403 and (retry is not None or _remaining(h) == 0)):
        wait = retry
        if wait is None:
            wait = parse_reset(_header(h, "x-ratelimit-reset", "x-rate-limit-reset"), now)
        raise RateLimited(f"HTTP {status}: rate limited", retry_after=wait, status=status)
    if status >= 500:
        raise PollError(f"HTTP {status}: server error", retry_after=retry, status=status)
    if not 200 <= status < 300:
        raise PollError(f"HTTP {status}: {_snippet(body)!r}", status=status)
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        kind = h.get("content-type", "no content type").split(";")[0]
        raise BadResponse(f"not JSON ({kind}): {_snippet(body)!r}", status=status) from exc


def id_key(value: str) -> tuple[int, str]:
    """Sort key for platform ids that are decimal strings (snowflakes) or fixed-width flake
    ids: shorter is older, then lexical."""
    return (len(value), value)


def newest_id(ids: Sequence[str], current: str | None = None) -> str | None:
    best = current
    for value in ids:
        if best is None or id_key(value) > id_key(best):
            best = value
    return best


class Recent(OrderedDict[str, str]):
    """A bounded map that forgets the least recently written keys (thread roots, own posts)."""

    def __init__(self, size: int = 10_000) -> None:
        super().__init__()
        self.size = size

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)
