"""Summaries of response times: count, median and p90 (linear interpolation)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    count: int
    median_seconds: float | None
    p90_seconds: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "count": self.count,
            "median_seconds": self.median_seconds,
            "p90_seconds": self.p90_seconds,
        }


def summarise(values: Sequence[float]) -> Summary:
    if not values:
        return Summary(0, None, None)
    data = sorted(values)
    if len(data) == 1:
        return Summary(1, data[0], data[0])
    # "inclusive" is the textbook linear interpolation between closest ranks (numpy's default).
    p90 = statistics.quantiles(data, n=10, method="inclusive")[-1]
    return Summary(len(data), float(statistics.median(data)), float(p90))


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def middle_ranks(count: int) -> tuple[int, ...]:
    """The 0-based ranks of sorted values that ``summarise`` reads for ``count`` values: the
    median's one or two middle ones and the two p90 interpolates between."""
    if count <= 0:
        return ()
    if count == 1:
        return (0,)
    j = 9 * (count - 1) // 10
    return tuple(sorted({(count - 1) // 2, count // 2, j, j + 1}))


def from_ranks(count: int, at: Mapping[int, float]) -> Summary:
    """``summarise`` of ``count`` values of which only those at ``middle_ranks(count)`` are
    given (``at``: rank → value, ranks of the sorted values): the database sorts and counts,
    this does the same arithmetic, so the figures are identical to the last bit."""
    if count == 0:
        return Summary(0, None, None)
    if count == 1:
        return Summary(1, at[0], at[0])
    half = count // 2
    median = at[half] if count % 2 == 1 else (at[half - 1] + at[half]) / 2
    j, delta = divmod(9 * (count - 1), 10)
    p90 = (at[j] * (10 - delta) + at[j + 1] * delta) / 10
    return Summary(count, float(median), float(p90))
