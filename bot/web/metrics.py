"""Process-local metrics in the Prometheus text exposition format, written by hand.

A handful of counters and one histogram do not justify a client library. Counters live in
memory (they restart at zero with the process, which Prometheus' ``rate()`` expects); the
waiting gauges are read from the database at scrape time because the database, not this
process, holds the truth — several replicas must report the same numbers.

Others increment through :class:`Metrics`: adapters, which may not import ``bot.web``, are
handed the bound method ``metrics.messages_ingested`` as a plain ``(source, n)`` callable.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot import platforms

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Prometheus' default buckets: request handling here ranges from sub-millisecond (healthz)
# to seconds (a 1000-message batch on a busy SQLite).
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

Labels = tuple[str, ...]


def escape_label(value: str) -> str:
    """Label values escape backslash, double quote and newline; nothing else is special."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{escape_label(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


@dataclass(frozen=True)
class Family:
    """One metric name with its HELP and TYPE; ``samples`` are (suffix, labels, value)."""

    name: str
    kind: str
    help: str
    samples: Sequence[tuple[str, str, float]]

    def render(self) -> str:
        help_text = self.help.replace("\\", "\\\\").replace("\n", "\\n")
        lines = [f"# HELP {self.name} {help_text}", f"# TYPE {self.name} {self.kind}"]
        lines += [
            f"{self.name}{suffix}{labels} {format_value(v)}" for suffix, labels, v in self.samples
        ]
        return "\n".join(lines)


class Counter:
    def __init__(self, name: str, help: str, labelnames: Sequence[str]) -> None:
        self.name, self.help, self.labelnames = name, help, tuple(labelnames)
        self._values: dict[Labels, float] = {}
        self._lock = threading.Lock()  # the CLI import or a scheduler thread may count too

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        if len(labels) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}")
        with self._lock:
            self._values[labels] = self._values.get(labels, 0.0) + amount

    def value(self, *labels: str) -> float:
        return self._values.get(labels, 0.0)

    def family(self) -> Family:
        with self._lock:
            items = sorted(self._values.items())
        return Family(
            self.name,
            "counter",
            self.help,
            [("", _labels(self.labelnames, k), v) for k, v in items],
        )


class Histogram:
    def __init__(
        self,
        name: str,
        help: str,
        labelnames: Sequence[str],
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        self.name, self.help, self.labelnames = name, help, tuple(labelnames)
        self.buckets = tuple(sorted(buckets))
        # per label set: counts per bucket (not cumulative), then sum and count
        self._data: dict[Labels, tuple[list[int], list[float]]] = {}
        self._lock = threading.Lock()

    def observe(self, value: float, *labels: str) -> None:
        with self._lock:
            counts, totals = self._data.setdefault(labels, ([0] * len(self.buckets), [0.0, 0.0]))
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    counts[i] += 1
                    break
            totals[0] += value
            totals[1] += 1

    def family(self) -> Family:
        samples: list[tuple[str, str, float]] = []
        with self._lock:
            items = sorted((k, (list(c), list(t))) for k, (c, t) in self._data.items())
        for key, (counts, (total, count)) in items:
            running = 0
            for bound, n in zip(self.buckets, counts, strict=True):
                running += n
                le = f'le="{format_value(bound)}"'
                samples.append(("_bucket", _labels(self.labelnames, key, le), running))
            samples.append(("_bucket", _labels(self.labelnames, key, 'le="+Inf"'), count))
            samples.append(("_sum", _labels(self.labelnames, key), total))
            samples.append(("_count", _labels(self.labelnames, key), count))
        return Family(self.name, "histogram", self.help, samples)


class Metrics:
    """The registry of one process. Use the module-level :data:`metrics` unless isolating."""

    def __init__(self) -> None:
        self.ingested = Counter(
            "nudgebot_messages_ingested_total",
            "Messages accepted for storage (redeliveries included), by source.",
            ("source",),
        )
        self.http_requests = Counter(
            "nudgebot_http_requests_total",
            "HTTP requests answered, by route template, method and status.",
            ("route", "method", "status"),
        )
        self.platform_events = Counter(
            "nudgebot_platform_events_total",
            "Platform notifications that are not messages (e.g. WhatsApp delivery statuses "
            "of our replies), by platform and event.",
            ("platform", "event"),
        )
        self.http_duration = Histogram(
            "nudgebot_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ("route",),
        )

        self.catchup_read = Counter(
            "nudgebot_catchup_messages_total",
            "Messages read back by catch-up after downtime (already stored ones included), "
            "by source.",
            ("source",),
        )
        self.catchup_failures = Counter(
            "nudgebot_catchup_failures_total",
            "Catch-up rounds of one channel that failed (platform or store away), by source.",
            ("source",),
        )

        # (source, channel) whose last catch-up round failed: a gauge, so an alert on "> 0"
        # fires while a channel keeps failing and resolves once it reads again.
        self._catchup_failing: set[tuple[str, str]] = set()
        self._catchup_sources: set[str] = set()
        self._lock = threading.Lock()

    def caught_up(self, source: str, channel: str, messages: int, failed: bool) -> None:
        """One catch-up round of ``channel`` of ``source`` (bot.services.catchup)."""
        with self._lock:
            self._catchup_sources.add(source)
            if failed:
                self._catchup_failing.add((source, channel))
            else:
                self._catchup_failing.discard((source, channel))
        if failed:
            self.catchup_failures.inc(source)
        elif messages:
            self.catchup_read.inc(source, amount=messages)

    def catchup_failing_family(self) -> Family:
        with self._lock:
            sources, failing = sorted(self._catchup_sources), set(self._catchup_failing)
        samples = [
            ("", _labels(("source",), (s,)), float(sum(1 for f, _ in failing if f == s)))
            for s in sources
        ]
        return Family(
            "nudgebot_catchup_failing_channels",
            "gauge",
            "Channels whose last catch-up round failed, by source (0: all read).",
            samples,
        )

    def messages_ingested(self, source: str, count: int = 1) -> None:
        """Count ``count`` messages stored for ``source`` (adapters, webhook, import)."""
        if count:
            self.ingested.inc(source, amount=count)

    def platform_event(self, platform: str, event: str, count: int = 1) -> None:
        if count:
            self.platform_events.inc(platform, event, amount=count)

    def http_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.http_requests.inc(route, method, str(status))
        self.http_duration.observe(seconds, route)

    def render(
        self,
        waiting: Mapping[str, tuple[int, datetime | None]] | None,
        now: datetime,
        sources: Iterable[str] = (),
        ical: Mapping[str, tuple[int, datetime | None]] | None = None,
    ) -> str:
        """The whole exposition. ``waiting`` is None when the database could not be read:
        the process counters are still worth scraping, and ``nudgebot_database_up`` says why
        the gauges are missing."""
        families = [
            self.ingested.family(),
            self.http_requests.family(),
            self.http_duration.family(),
            self.catchup_read.family(),
            self.catchup_failures.family(),
            self.catchup_failing_family(),
            self.platform_events.family(),
        ]
        up = Family(
            "nudgebot_database_up",
            "gauge",
            "1 when the database answered this scrape, else 0.",
            [("", "", 0.0 if waiting is None else 1.0)],
        )
        families.append(up)
        if waiting is not None:
            families.extend(waiting_families(waiting, now, sources))
        if ical:
            families.extend(ical_families(ical))
        return "\n".join(f.render() for f in families) + "\n"


def waiting_families(
    waiting: Mapping[str, tuple[int, datetime | None]], now: datetime, sources: Iterable[str]
) -> list[Family]:
    # Configured sources with nobody waiting report 0 rather than vanishing, so an alert on
    # "> 0" resolves instead of going stale.
    names = sorted(set(sources) | set(waiting))
    count: list[tuple[str, str, float]] = []
    oldest: list[tuple[str, str, float]] = []
    for source in names:
        n, since = waiting.get(source, (0, None))
        label = _labels(("source",), (source,))
        count.append(("", label, float(n)))
        age = max(0.0, (now - since).total_seconds()) if since is not None else 0.0
        oldest.append(("", label, age))
    return [
        Family(
            "nudgebot_conversations_waiting",
            "gauge",
            "Conversations waiting for a team reply, by source.",
            count,
        ),
        Family(
            "nudgebot_oldest_waiting_seconds",
            "gauge",
            "How long the longest-waiting conversation has waited, by source (0: none).",
            oldest,
        ),
    ]


def ical_families(feeds: Mapping[str, tuple[int, datetime | None]]) -> list[Family]:
    """Per iCal rotation: (failed calendar loads, time of the last good one). Read from the
    rotations at scrape time; a rotation without a good load yet has no timestamp sample."""
    label = {rid: _labels(("rotation",), (rid,)) for rid in feeds}
    failures = [("", label[rid], float(n)) for rid, (n, _) in sorted(feeds.items())]
    success = [
        ("", label[rid], at.timestamp()) for rid, (_, at) in sorted(feeds.items()) if at is not None
    ]
    return [
        Family(
            "nudgebot_ical_fetch_failures_total",
            "counter",
            "Failed loads of an iCal rotation's calendar (network, HTTP status, bad calendar).",
            failures,
        ),
        Family(
            "nudgebot_ical_last_success_timestamp",
            "gauge",
            "Unix time of the last good load (or 304 Not Modified) of an iCal rotation's calendar.",
            success,
        ),
    ]


def dead_letter_family(counts: Mapping[str, int]) -> Family:
    """Dead letters kept, by platform: read from the database at scrape time, so every
    replica reports the same. Platforms that keep dead letters (Slack, Telegram, webhook:
    ``Can.DEAD_LETTERS`` in the registry) report 0 rather than vanishing."""
    keeping = {p.name for p in platforms.with_capability(platforms.Can.DEAD_LETTERS)}
    names = sorted(set(counts) | keeping)
    samples = [("", _labels(("platform",), (n,)), float(counts.get(n, 0))) for n in names]
    return Family(
        "nudgebot_dead_letters",
        "gauge",
        "Inbound payloads kept because they could not be read (see `nudgebot dead-letters`).",
        samples,
    )


metrics = Metrics()
"""The process-wide registry ``create_app`` uses by default."""
