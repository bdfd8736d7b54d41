"""The redelivery filter (bot/inbox/recent.py): bounded, oldest forgotten first."""

from __future__ import annotations

from bot.inbox import RecentIds


def test_recent_ids_remember_up_to_their_size_and_forget_the_oldest_first() -> None:
    recent: RecentIds[str] = RecentIds(size=3)
    for key in ("a", "b", "c"):
        recent.add(key)
    assert [k in recent for k in "abc"] == [True, True, True] and len(recent) == 3
    recent.add("d")
    assert "a" not in recent and [k in recent for k in "bcd"] == [True, True, True]
    assert len(recent) == 3


def test_adding_a_known_id_again_keeps_one_entry() -> None:
    recent: RecentIds[int] = RecentIds(size=2)
    recent.add(1)
    recent.add(1)
    assert len(recent) == 1
    recent.add(2)
    assert 1 in recent and 2 in recent and len(recent) == 2


def test_discard_forgets_one_and_ignores_unknown_ids() -> None:
    recent: RecentIds[int] = RecentIds(size=5)
    recent.add(1)
    recent.add(2)
    recent.discard(1)
    recent.discard(99)  # never seen: nothing to forget, no error
    assert 1 not in recent and 2 in recent and len(recent) == 1


def test_the_default_size_is_ten_thousand() -> None:
    recent: RecentIds[int] = RecentIds()
    for n in range(10_001):
        recent.add(n)
    assert len(recent) == 10_000 and 0 not in recent and 1 in recent and 10_000 in recent
    assert recent.size == 10_000


def test_an_empty_filter_knows_nothing() -> None:
    recent: RecentIds[str] = RecentIds(size=1)
    assert "x" not in recent and len(recent) == 0
