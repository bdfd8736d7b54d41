"""Response-time summaries: count, median and p90 by linear interpolation (numpy's default)."""

from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.stats import Summary, from_ranks, middle_ranks, ratio, summarise


def test_empty() -> None:
    assert summarise([]) == Summary(0, None, None)
    assert summarise([]).as_dict() == {"count": 0, "median_seconds": None, "p90_seconds": None}


def test_single_value() -> None:
    assert summarise([42.0]) == Summary(1, 42.0, 42.0)


@pytest.mark.parametrize(
    ("values", "median", "p90"),
    [
        ([10, 20], 15.0, 19.0),  # 10 + 0.9 * 10
        ([1, 2, 3, 4], 2.5, 3.7),  # rank 0.9 * 3 = 2.7
        ([30, 10, 20], 20.0, 28.0),  # unsorted input; rank 1.8
        (list(range(10, 101, 10)), 55.0, 91.0),  # rank 8.1
        ([0, 0, 0, 600], 0.0, 420.0),  # rank 2.7: 0 + 0.7 * 600
        ([5, 5, 5], 5.0, 5.0),
    ],
)
def test_hand_computed(values: list[float], median: float, p90: float) -> None:
    s = summarise(values)
    assert s.count == len(values)
    assert s.median_seconds == pytest.approx(median)
    assert s.p90_seconds == pytest.approx(p90)
    assert isinstance(s.median_seconds, float)
    assert isinstance(s.p90_seconds, float)


def test_as_dict_keys() -> None:
    assert summarise([60, 120]).as_dict() == {
        "count": 2,
        "median_seconds": 90.0,
        "p90_seconds": pytest.approx(114.0),
    }


@given(st.lists(st.floats(0, 1e7, allow_nan=False), min_size=1, max_size=50), st.randoms())
def test_order_free_and_bounded(values: list[float], rnd: random.Random) -> None:
    shuffled = list(values)
    rnd.shuffle(shuffled)
    s = summarise(values)
    assert summarise(shuffled) == s
    assert s.median_seconds is not None
    assert s.p90_seconds is not None
    lo, hi = min(values), max(values)
    assert lo - 1e-6 <= s.median_seconds <= s.p90_seconds + 1e-6
    assert s.p90_seconds <= hi + 1e-6


def test_ratio() -> None:
    assert ratio(0, 0) is None
    assert ratio(1, 3) == 0.3333
    assert ratio(2, 2) == 1.0
    assert ratio(0, 5) == 0.0


def test_a_summary_is_a_value() -> None:
    """Frozen (the domain's rule for dataclasses): a summary handed to a report cannot be
    changed under it, and equal summaries hash alike."""
    s = summarise([60, 120])
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.count = 3  # type: ignore[misc]
    assert hash(s) == hash(summarise([120, 60]))


# ``middle_ranks`` and ``from_ranks``: the database sorts and counts a group and returns only
# the values at ``middle_ranks``; ``from_ranks`` must then give ``summarise``'s figures exactly.


def _from_the_ranks(values: list[float]) -> Summary:
    data = sorted(values)
    return from_ranks(len(data), {r: data[r] for r in middle_ranks(len(data))})


@pytest.mark.parametrize(
    ("count", "ranks"),
    [
        (-1, ()),
        (0, ()),
        (1, (0,)),
        (2, (0, 1)),  # median 0 and 1; p90 between 0 and 1 (rank 0.9)
        (3, (1, 2)),  # median 1; p90 rank 1.8
        (4, (1, 2, 3)),  # median 1 and 2; p90 rank 2.7
        (5, (2, 3, 4)),  # median 2; p90 rank 3.6
        (10, (4, 5, 8, 9)),  # p90 rank 8.1
        (11, (5, 9, 10)),  # p90 rank exactly 9: rank 10 is read with weight 0
        (12, (5, 6, 9, 10)),  # p90 rank 9.9
        (21, (10, 18, 19)),  # p90 rank exactly 18
    ],
)
def test_middle_ranks_exactly(count: int, ranks: tuple[int, ...]) -> None:
    assert middle_ranks(count) == ranks


@pytest.mark.parametrize("count", range(0, 64))
def test_from_ranks_is_summarise_to_the_last_bit(count: int) -> None:
    # Distinct values with awkward fractions: any rank or weight off by one shows.
    values = [(i * 7919 % 1009) / 3 + i * 1e-7 for i in range(count)]
    assert _from_the_ranks(values) == summarise(values)


def test_from_ranks_on_hand_computed_values() -> None:
    assert from_ranks(0, {}) == Summary(0, None, None)
    assert from_ranks(1, {0: 42.0}) == Summary(1, 42.0, 42.0)
    assert from_ranks(2, {0: 10.0, 1: 20.0}) == Summary(2, 15.0, 19.0)
    assert from_ranks(3, {1: 20.0, 2: 30.0}) == Summary(3, 20.0, 28.0)
    assert from_ranks(4, {1: 2.0, 2: 3.0, 3: 4.0}) == Summary(4, 2.5, pytest.approx(3.7))
    # Whole numbers (as a database may return them) still give floats.
    s = from_ranks(3, {1: 20, 2: 30})
    assert isinstance(s.median_seconds, float)
    assert isinstance(s.p90_seconds, float)


@given(st.lists(st.floats(0, 1e7, allow_nan=False), min_size=0, max_size=120))
def test_from_ranks_agrees_with_summarise(values: list[float]) -> None:
    assert _from_the_ranks(values) == summarise(values)
