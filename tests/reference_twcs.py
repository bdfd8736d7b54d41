"""Independent reference computation of reply times for imported message rows.

Written from the Semantics section of DESIGN.md, in plain Python, importing no
project code, so an end-to-end test can compare Nudgebot's ``stats`` against it.

Input: rows in the import schema (``thread``, ``id``, ``at``, ``author.id``,
``team``), e.g. from ``scripts/twcs_to_jsonl.py``. Rules applied:

- Messages are grouped by ``thread`` and ordered by ``(at, id)``, with ``id``
  compared as a *string* (so "10" sorts before "9" at the same instant).
- A waiting period opens at the first customer message (``team`` false) after the
  latest team message, or at the first customer message of the thread if no team
  message came yet. Follow-up customer messages while waiting do not move it.
- A team message while waiting closes the period: its reply time is
  ``team.at - period start``, credited to the team message's ``author.id``. Team
  messages while not waiting earn nothing.
- Closing words are OFF (``closing_words: []``): a "thanks" opens a period too.
- First response of a thread: the first team message after the thread's first
  customer message, minus that customer message, credited to its author.
- A broadcast here is a team message in a thread where no customer ever speaks.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

Row = Mapping[str, Any]


def _at(row: Row) -> datetime:
    moment = datetime.fromisoformat(str(row["at"]))
    if moment.tzinfo is None:
        raise ValueError(f"message {row['id']}: time {row['at']!r} has no time zone")
    return moment


def _sort_key(row: Row) -> tuple[datetime, str]:
    return (_at(row), str(row["id"]))


def threads(rows: Iterable[Row]) -> dict[str, list[Row]]:
    """Rows grouped by thread, each thread ordered by (at, id as string)."""
    grouped: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[str(row["thread"])].append(row)
    return {thread: sorted(msgs, key=_sort_key) for thread, msgs in grouped.items()}


def _author(row: Row) -> str:
    return str(row["author"]["id"])


def reply_samples_by_author(rows: Iterable[Row]) -> dict[str, list[float]]:
    """Every reply time (seconds) per team author id, thread by thread."""
    samples: dict[str, list[float]] = defaultdict(list)
    for msgs in threads(rows).values():
        waiting_since: datetime | None = None
        for row in msgs:
            if not row["team"]:
                if waiting_since is None:
                    waiting_since = _at(row)
            elif waiting_since is not None:
                samples[_author(row)].append((_at(row) - waiting_since).total_seconds())
                waiting_since = None
    return dict(samples)


def first_response_samples_by_author(rows: Iterable[Row]) -> dict[str, list[float]]:
    """First-response seconds per team author id (at most one per thread)."""
    samples: dict[str, list[float]] = defaultdict(list)
    for msgs in threads(rows).values():
        start: datetime | None = None
        for row in msgs:
            if not row["team"]:
                if start is None:
                    start = _at(row)
            elif start is not None:
                samples[_author(row)].append((_at(row) - start).total_seconds())
                break
    return dict(samples)


def waiting_since_by_thread(rows: Iterable[Row]) -> dict[str, datetime]:
    """Threads still waiting after their last message, with the period's start."""
    waiting: dict[str, datetime] = {}
    for thread, msgs in threads(rows).items():
        since: datetime | None = None
        for row in msgs:
            if not row["team"]:
                if since is None:
                    since = _at(row)
            else:
                since = None
        if since is not None:
            waiting[thread] = since
    return waiting


def broadcast_count(rows: Iterable[Row]) -> int:
    """Team messages in threads where no customer ever speaks."""
    return sum(
        len(msgs) for msgs in threads(rows).values() if not any(not row["team"] for row in msgs)
    )


def p90(values: Sequence[float]) -> float:
    """90th percentile with linear interpolation between closest ranks."""
    if not values:
        raise ValueError("p90 of no values")
    if len(values) == 1:
        return float(values[0])
    return float(statistics.quantiles(values, n=10, method="inclusive")[-1])


def _per_author(samples: Mapping[str, Sequence[float]], how: str) -> dict[str, float]:
    if how == "median":
        return {a: float(statistics.median(v)) for a, v in samples.items() if v}
    return {a: p90(v) for a, v in samples.items() if v}


def median_reply_seconds_by_author(rows: Iterable[Row]) -> dict[str, float]:
    return _per_author(reply_samples_by_author(rows), "median")


def p90_reply_seconds_by_author(rows: Iterable[Row]) -> dict[str, float]:
    return _per_author(reply_samples_by_author(rows), "p90")


def reply_counts_by_author(rows: Iterable[Row]) -> dict[str, int]:
    return {a: len(v) for a, v in reply_samples_by_author(rows).items()}


def median_first_response_seconds_by_author(rows: Iterable[Row]) -> dict[str, float]:
    return _per_author(first_response_samples_by_author(rows), "median")


def first_response_seconds_by_author(rows: Iterable[Row]) -> dict[str, list[float]]:
    """Alias of :func:`first_response_samples_by_author` (raw seconds per author)."""
    return first_response_samples_by_author(rows)


def _figures(values: Sequence[float]) -> dict[str, Any]:
    return {
        "count": len(values),
        "median_seconds": float(statistics.median(values)) if values else None,
        "p90_seconds": p90(values) if values else None,
    }


def summary(rows: Iterable[Row]) -> dict[str, Any]:
    """Totals shaped like ``stats --json`` (``first_response``, ``reply``, ``by_person``)."""
    materialised = list(rows)
    replies = reply_samples_by_author(materialised)
    firsts = first_response_samples_by_author(materialised)
    authors = sorted(set(replies) | set(firsts))
    return {
        "first_response": _figures([s for v in firsts.values() for s in v]),
        "reply": _figures([s for v in replies.values() for s in v]),
        "replies": sum(len(v) for v in replies.values()),
        "unanswered": len(waiting_since_by_thread(materialised)),
        "broadcasts": broadcast_count(materialised),
        "by_person": {
            a: {
                "first_response": _figures(firsts.get(a, [])),
                "reply": _figures(replies.get(a, [])),
            }
            for a in authors
        },
    }
