"""cProfile across threads.

aiosqlite runs every SQLite call on a worker thread, so a profile of the event-loop thread
alone shows the database as time spent waiting. Here each thread started while profiling
gets its own profiler (possible on CPython 3.11: profilers are per thread), and the reports
say which thread a line comes from.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import threading
from types import TracebackType
from typing import Any


class ThreadProfile:
    def __init__(self) -> None:
        self.main = cProfile.Profile()
        self.workers: list[cProfile.Profile] = []
        self._original_run: Any = None

    def __enter__(self) -> ThreadProfile:
        original = threading.Thread.run
        workers = self.workers

        def run(thread: threading.Thread) -> None:
            prof = cProfile.Profile()
            workers.append(prof)
            prof.enable()
            try:
                original(thread)
            finally:
                prof.disable()

        self._original_run = original
        threading.Thread.run = run  # type: ignore[method-assign,assignment]
        self.main.enable()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.main.disable()
        threading.Thread.run = self._original_run  # type: ignore[method-assign]

    @staticmethod
    def _top(stats: pstats.Stats, sort: str, top: int, focus: str | None = None) -> str:
        out = io.StringIO()
        stats.stream = out  # type: ignore[attr-defined]
        restrictions: tuple[str | int, ...] = (focus, top) if focus else (top,)
        stats.sort_stats(sort).print_stats(*restrictions)
        lines = out.getvalue().splitlines()
        start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
        return "\n".join(line.rstrip() for line in lines[start:] if line.strip())

    def report(self, top: int = 15, focus: str | None = None) -> str:
        """``focus``: a path regex; the cumulative listing then shows only those functions."""
        main = pstats.Stats(self.main)
        scope = f"functions matching {focus!r}" if focus else "functions"
        parts = [
            f"-- event-loop thread, top {top} {scope} by cumulative time (wall time)",
            self._top(main, "cumulative", top, focus),
            f"-- event-loop thread, top {top} by own time (Python CPU on the loop)",
            self._top(main, "tottime", top),
        ]
        active = [p for p in self.workers if p.getstats()]
        if active:
            workers = pstats.Stats(active[0])
            for prof in active[1:]:
                workers.add(prof)
            parts += [
                f"-- worker threads, top {top} by own time. SQLite's own work is the tottime of "
                "aiosqlite's _connection_worker_thread (cProfile does not see C functions it "
                "calls through functools.partial); SimpleQueue.get is the worker idling",
                self._top(workers, "tottime", top),
            ]
        return "\n".join(parts)
