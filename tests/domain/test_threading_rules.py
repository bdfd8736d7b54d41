"""The Telegram threading rules (``bot.domain.threading``) one by one, at their edges: the
lookup each message asks for, the decision each answer gives, and how a batch sees its own
earlier messages. Pure: every answer a store would give is written here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain import threading
from bot.domain.events import Author, InboundMessage, ThreadHint
from bot.domain.ports import ChannelMessage, LatestQuery

T0 = datetime(2026, 6, 3, 10, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
US = timedelta(microseconds=1)


def msg(
    mid: str,
    at: datetime = T0,
    *,
    who: str = "dana",
    team: bool = False,
    channel: str = "g1",
    source: str = "tg",
    reply_to: str | None = None,
    reply_root: str | None = None,
    private: bool = False,
) -> InboundMessage:
    hint = ThreadHint(root=f"r{mid}", reply_to=reply_to, reply_root=reply_root, private=private)
    return InboundMessage(source=source, platform="telegram", message_id=mid, thread="",
                          at=at, author=Author(who, who), is_team=team, channel=channel,
                          hint=hint)  # fmt: skip


def stored(mid: str, thread: str, at: datetime, *, team: bool = False, who: str = "dana",
           waiting: bool = False) -> ChannelMessage:  # fmt: skip
    return ChannelMessage(mid, thread, at, team, who, waiting)


def test_a_message_without_a_hint_is_refused_by_name() -> None:
    bare = InboundMessage(source="tg", platform="telegram", message_id="7", thread="", at=T0,
                          author=Author("dana", "Dana"), is_team=False)  # fmt: skip
    for call in (lambda: threading.wanted([bare]), lambda: threading.query_for(bare)):
        with pytest.raises(ValueError, match=r"^tg/7: no threading hint$"):
            call()


def test_wanted_reads_each_message_and_the_one_it_replies_to_once_in_order() -> None:
    items = [msg("9", reply_to="3"), msg("3"), msg("5", source="other", reply_to="3")]
    assert threading.wanted(items) == [("other", "3"), ("other", "5"), ("tg", "3"), ("tg", "9")]


def test_each_kind_of_message_asks_its_own_lookup() -> None:
    at = T0 + 30 * MIN
    assert threading.query_for(msg("9", at, reply_to="3")) is None
    assert threading.query_for(msg("9", at, private=True, channel="p1")) == LatestQuery(
        "tg", "p1", at=at, since=at - timedelta(days=30), exclude="9"
    )
    assert threading.query_for(msg("9", at, team=True, who="alice")) == LatestQuery(
        "tg", "g1", at=at, since=at - timedelta(hours=24), is_team=False, exclude="9"
    )
    assert threading.query_for(msg("9", at)) == LatestQuery(
        "tg", "g1", at=at, since=at - timedelta(minutes=10), author_id="dana", exclude="9"
    )


def test_the_windows_are_ten_minutes_a_day_and_thirty_days() -> None:
    windows = (threading.WINDOW, threading.TEAM_WINDOW, threading.PRIVATE_WINDOW)
    assert windows == (timedelta(minutes=10), timedelta(hours=24), timedelta(days=30))


def test_decide_rule_by_rule() -> None:
    latest = stored("4", "t4", T0 - MIN)
    # 1. stored already: its thread, whatever else is known
    assert threading.decide(msg("9", reply_to="3"), {"9": "t9", "3": "t3"}, latest) == "t9"
    # 2. a reply: the replied message's thread, else the reply's root, else its own root
    assert threading.decide(msg("9", reply_to="3"), {"3": "t3"}, None) == "t3"
    assert threading.decide(msg("9", reply_to="3", reply_root="r3"), {}, None) == "r3"
    assert threading.decide(msg("9", reply_to="3"), {}, latest) == "r9"
    # 3–5. no earlier message: its own root; else the latest one's thread
    assert threading.decide(msg("9"), {}, None) == "r9"
    assert threading.decide(msg("9"), {}, latest) == "t4"


def test_a_private_chat_starts_afresh_only_once_answered_and_quiet_for_ten_minutes() -> None:
    at = T0 + 60 * MIN
    answered = stored("4", "t4", at - 10 * MIN)
    assert threading.decide(msg("9", at, private=True), {}, answered) == "t4"  # a follow-up
    older = stored("4", "t4", at - 10 * MIN - US)
    assert threading.decide(msg("9", at, private=True), {}, older) == "r9"
    waiting = stored("4", "t4", at - 600 * MIN, waiting=True)
    assert threading.decide(msg("9", at, private=True), {}, waiting) == "t4"
    assert threading.decide(msg("9", at), {}, older) == "t4"  # a group: the lookup decided


def test_a_batch_sees_its_earlier_messages_as_the_store_would() -> None:
    """Each message's lookup also searches the batch's messages resolved before it, with the
    lookup's every condition: channel, source, window (both ends included), author, team."""
    at = T0 + 30 * MIN
    dana = msg("1", at - 10 * MIN)  # exactly at the window's start: found
    cases = {
        "joins": (dana, msg("2", at), "r1"),
        "window start excluded": (msg("1", at - 10 * MIN - US), msg("2", at), "r2"),
        "same instant": (msg("1", at), msg("2", at), "r1"),
        "another author": (msg("1", at - MIN, who="eve"), msg("2", at), "r2"),
        "another channel": (msg("1", at - MIN, channel="g2"), msg("2", at), "r2"),
        "another source": (msg("1", at - MIN, source="tg2"), msg("2", at), "r2"),
        "team looks for customers": (msg("1", at - MIN, team=True, who="alice"),
                                     msg("2", at, team=True, who="alice"), "r2"),
        "team answers a customer": (msg("1", at - 23 * 60 * MIN),
                                    msg("2", at, team=True, who="alice"), "r1"),
    }  # fmt: skip
    for name, (first, second, want) in cases.items():
        assert threading.resolve([first, second], {}, {}) == [f"r{first.message_id}", want], name


def test_a_later_message_is_not_found_by_an_earlier_ones_lookup() -> None:
    late, early = msg("1", T0 + MIN), msg("2", T0)
    assert threading.resolve([late, early], {}, {}) == ["r2", "r2"]


def test_a_private_follow_up_in_one_batch_joins_because_the_first_still_waits() -> None:
    first = msg("1", T0, private=True, channel="p1")
    later = msg("2", T0 + 600 * MIN, private=True, channel="p1")
    assert threading.resolve([first, later], {}, {}) == ["r1", "r1"]
    answer = msg("3", T0 + MIN, private=True, channel="p1", team=True, who="alice")
    assert threading.resolve([first, answer, later], {}, {}) == ["r1", "r1", "r2"]


def test_the_newer_of_the_stored_answer_and_the_batch_wins_and_a_tie_goes_to_the_batch() -> None:
    at = T0 + 30 * MIN
    in_batch = msg("1", at - 5 * MIN)
    second = msg("2", at)
    for stored_at, want in ((at - 6 * MIN, "r1"), (at - 5 * MIN, "r1"), (at - 4 * MIN, "t8")):
        answers = {1: stored("8", "t8", stored_at)}
        assert threading.resolve([in_batch, second], {}, answers) == ["r1", want], stored_at
    assert threading.resolve([msg("2", at)], {}, {0: stored("8", "t8", at - MIN)}) == ["t8"]


def test_a_stored_message_keeps_its_thread_and_asks_nothing() -> None:
    """A redelivery keeps its thread even when the batch holds a message it would join."""
    at = T0 + 30 * MIN
    items = [msg("1", at - MIN), msg("2", at)]
    answers = {1: stored("8", "t8", at - 2 * MIN)}
    assert threading.resolve(items, {("tg", "2"): "old"}, answers) == ["r1", "old"]


def test_a_reply_to_a_message_earlier_in_the_batch_joins_its_thread() -> None:
    items = [msg("1", T0 + MIN, reply_to="5"), msg("5", T0, who="eve")]
    assert threading.resolve(items, {}, {}) == ["r5", "r5"]
    # a message id twice in one batch (a redelivery): the first's thread stands
    again = [msg("5", T0), msg("5", T0 + MIN, reply_to="9"), msg("6", T0 + 2 * MIN, reply_to="5")]
    assert threading.resolve(again, {}, {}) == ["r5", "r5", "r5"]


def test_messages_of_the_same_instant_are_taken_in_the_order_given() -> None:
    a, b = msg("1", T0), msg("2", T0)
    assert threading.resolve([a, b], {}, {}) == ["r1", "r1"]
    assert threading.resolve([b, a], {}, {}) == ["r2", "r2"]
