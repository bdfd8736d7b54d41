"""Summaries of response times: count, median and p90 (linear interpolation)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
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
