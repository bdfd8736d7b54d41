"""Failed sign-ins and bearer tokens, counted per client address: after ``MAX_FAILURES``
within ``WINDOW`` that address gets 429 with ``Retry-After`` on every further attempt until
the oldest failure leaves the window (a correct token included: that is the point).

``SharedThrottle`` (what the app uses) counts in the database (storage.auth_failures_repo),
so every replica on one database sees the same failures: five guesses spread over three
replicas are five, not five each. A lookup is one indexed read, made only for requests that
carry a credential; expired rows are deleted whenever a failure is written. While the
database cannot be read or written, each replica falls back to counting in its own memory
(``Throttle``) and says so in the log, so an outage never opens the door wider than one
replica's count.

The address is the TCP peer (``request.client``): behind a proxy that is the proxy's, so put
the proxy's own limits in front as well.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import datetime, timedelta

from storage import auth_failures_repo
from storage.db import Database

log = logging.getLogger("nudgebot.web")

MAX_FAILURES = 5
WINDOW = 300.0  # seconds
MAX_ADDRESSES = 10_000  # the least recently failing addresses are forgotten first


class Throttle:
    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window: float = WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str, now: float) -> deque[float] | None:
        times = self._failures.get(address)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[address]
            return None
        return times

    def retry_after(self, address: str) -> int | None:
        """Seconds until this address may try again, or None when it may now."""
        now = self.clock()
        times = self._recent(address, now)
        if times is None or len(times) < self.max_failures:
            return None
        return max(1, math.ceil(times[0] + self.window - now))

    def failed(self, address: str) -> None:
        now = self.clock()
        times = self._recent(address, now) or deque()
        times.append(now)
        self._failures[address] = times
        self._failures.move_to_end(address)
        while len(self._failures) > MAX_ADDRESSES:
            self._failures.popitem(last=False)


class SharedThrottle:
    """The same rule as ``Throttle``, counted in the database shared by every replica."""

    def __init__(
        self,
        db: Database,
        now: Callable[[], datetime],
        max_failures: int = MAX_FAILURES,
        window: float = WINDOW,
    ) -> None:
        self.db = db
        self.now = now
        self.max_failures = max_failures
        self.window = timedelta(seconds=window)
        # Counts while the database is away (wall clock, like the rows).
        self.local = Throttle(max_failures, window, clock=lambda: self.now().timestamp())

    async def retry_after(self, address: str) -> int | None:
        now = self.now()
        try:
            times = await auth_failures_repo.recent(
                self.db, address, now, self.window, self.max_failures
            )
        except Exception as exc:  # the database is away: this replica's own count decides
            log.warning(
                "throttle: failures unreadable (%s); counting in memory", type(exc).__name__
            )
            return self.local.retry_after(address)
        if len(times) < self.max_failures:
            return self.local.retry_after(address)  # failures recorded while the DB was away
        # The oldest of the newest ``max_failures``: when it leaves the window, one more try.
        left = (min(times) + self.window - now).total_seconds()
        return max(1, math.ceil(left))

    async def failed(self, address: str) -> None:
        try:
            await auth_failures_repo.record(self.db, address, self.now(), self.window)
        except Exception as exc:
            log.warning("throttle: failure not stored (%s); counting in memory", type(exc).__name__)
            self.local.failed(address)
