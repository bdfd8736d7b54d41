"""Failed sign-ins and bearer tokens, counted per client address: after ``MAX_FAILURES``
within ``WINDOW`` that address gets 429 with ``Retry-After`` on every further attempt until
the oldest failure leaves the window (a correct token included: that is the point).

Counted in memory per process; each replica throttles on its own. The address is the TCP
peer (``request.client``): behind a proxy that is the proxy's, so put the proxy's own limits
in front as well.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

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
