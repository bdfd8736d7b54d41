"""Conversation state: waiting periods, closing words, broadcasts and order-independence."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.conversation import (
    _FILLERS,
    DEFAULT_CLOSING_WORDS,
    ConversationState,
    Period,
    _normalise,
    compute_state,
    is_closing,
)
from bot.domain.events import Action, ActionKind, MessageFact

T = TypeVar("T")
T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def t(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def cust(mid: str, minute: float, text: str = "help?", author: str = "cust-9") -> MessageFact:
    return MessageFact(mid, t(minute), False, author, None, text, author_name="Dana")


def team(
    mid: str, minute: float, text: str = "on it", person: str | None = "bob", author: str = "U1"
) -> MessageFact:
    return MessageFact(mid, t(minute), True, author, person, text)


def not_needed(minute: float, person: str = "alice") -> Action:
    return Action(ActionKind.NOT_NEEDED, person, t(minute))


def reply_seconds(state: ConversationState) -> list[float]:
    return [
        (p.ended_at - p.started_at).total_seconds()
        for p in state.periods
        if p.ended_at is not None and p.end_reason == "reply"
    ]


# --- waiting periods -------------------------------------------------------------------------


def test_no_messages_is_empty_state() -> None:
    s = compute_state([])
    assert s.periods == ()
    assert s.waiting_since is None
    assert s.started_at is None
    assert s.first_response_at is None
    assert s.broadcasts == s.replies == s.team_messages == s.customer_messages == 0


def test_first_customer_message_opens_waiting() -> None:
    s = compute_state([cust("m1", 0)])
    assert s.waiting_since == t(0)
    assert s.current_period is not None
    assert s.current_period.first_message_id == "m1"
    assert s.started_at == t(0)
    assert s.customer_id == "cust-9"
    assert s.customer_name == "Dana"
    assert s.customer_messages == 1


def test_follow_ups_do_not_move_waiting_since() -> None:
    s = compute_state([cust("m1", 0), cust("m2", 5, "hello??"), cust("m3", 30, "anyone?")])
    assert s.waiting_since == t(0)
    assert len(s.periods) == 1
    assert s.periods[0].first_message_id == "m1"
    assert s.last_message_at == t(30)
    assert s.customer_messages == 3


def test_team_message_closes_the_period_with_person() -> None:
    s = compute_state([cust("m1", 0), cust("m2", 3), team("r1", 18)])
    assert s.waiting_since is None
    assert s.current_period is None
    (p,) = s.periods
    assert (p.started_at, p.ended_at, p.end_reason) == (t(0), t(18), "reply")
    assert p.answered_by == "bob"
    assert p.answer_message_id == "r1"
    assert reply_seconds(s) == [18 * 60]
    assert s.last_team_at == t(18)


def test_unknown_team_author_is_keyed_by_raw_author_id() -> None:
    s = compute_state([cust("m1", 0), team("r1", 4, person=None, author="AmazonHelp")])
    assert s.periods[0].answered_by == "AmazonHelp"
    assert s.first_responder == "AmazonHelp"


def test_waiting_opens_at_first_customer_message_after_latest_team_message() -> None:
    s = compute_state(
        [
            cust("m1", 0),
            team("r1", 10),
            cust("m2", 20, "one more question"),
            cust("m3", 25, "and another"),
            team("r2", 40, person="carol"),
            cust("m4", 60, "still broken"),
        ]
    )
    assert [(p.started_at, p.ended_at, p.answered_by) for p in s.periods] == [
        (t(0), t(10), "bob"),
        (t(20), t(40), "carol"),
        (t(60), None, None),
    ]
    assert s.waiting_since == t(60)
    assert s.current_period is not None
    assert s.current_period.first_message_id == "m4"
    assert reply_seconds(s) == [600, 1200]
    assert s.replies == 2


def test_several_team_messages_close_once() -> None:
    s = compute_state([cust("m1", 0), team("r1", 10), team("r2", 11, person="carol")])
    assert len(s.periods) == 1
    assert s.periods[0].answered_by == "bob"
    assert s.replies == 2
    assert s.team_messages == 2


def test_not_needed_action_closes_the_period() -> None:
    s = compute_state([cust("m1", 0), cust("m2", 1)], [not_needed(5)])
    assert s.waiting_since is None
    (p,) = s.periods
    assert (p.ended_at, p.end_reason, p.answered_by, p.answer_message_id) == (
        t(5),
        "not_needed",
        "alice",
        None,
    )
    assert reply_seconds(s) == []
    assert s.first_response_at is None


def test_not_needed_before_any_waiting_does_nothing() -> None:
    s = compute_state([cust("m1", 10)], [not_needed(5)])
    assert s.waiting_since == t(10)


def test_new_customer_message_after_not_needed_opens_again() -> None:
    s = compute_state([cust("m1", 0), cust("m2", 10, "but really?")], [not_needed(5)])
    assert [p.end_reason for p in s.periods] == ["not_needed", None]
    assert s.waiting_since == t(10)


def test_not_needed_in_the_same_instant_as_a_follow_up_has_seen_it() -> None:
    s = compute_state([cust("m1", 0), cust("m2", 5, "hello?")], [not_needed(5)])
    assert s.waiting_since is None


def test_other_actions_do_not_end_waiting() -> None:
    actions = [
        Action(ActionKind.CLAIM, "bob", t(1)),
        Action(ActionKind.SNOOZE, "bob", t(2), until=t(60)),
        Action(ActionKind.UNCLAIM, "bob", t(3)),
    ]
    assert compute_state([cust("m1", 0)], actions).waiting_since == t(0)


# --- deletions -------------------------------------------------------------------------------


def test_deleted_messages_vanish() -> None:
    deleted = MessageFact("m1", t(0), False, "cust-9", text="spam", deleted=True)
    s = compute_state([deleted, cust("m2", 5, "real question")])
    assert s.waiting_since == t(5)
    assert s.started_at == t(5)
    assert s.customer_messages == 1


def test_deleting_all_waiting_messages_ends_waiting() -> None:
    gone = [
        MessageFact("m1", t(0), False, "cust-9", text="oops", deleted=True),
        MessageFact("m2", t(1), False, "cust-9", text="wrong chat", deleted=True),
    ]
    s = compute_state(gone)
    assert s.waiting_since is None
    assert s.periods == ()
    assert s.started_at is None


def test_deleting_the_waiting_messages_of_a_later_period_ends_it() -> None:
    later = MessageFact("m2", t(20), False, "cust-9", text="one more", deleted=True)
    s = compute_state([cust("m1", 0), team("r1", 10), later])
    assert s.waiting_since is None
    assert len(s.periods) == 1


def test_deleted_team_reply_reopens_waiting() -> None:
    reply = MessageFact("r1", t(10), True, "U1", "bob", "on it", deleted=True)
    s = compute_state([cust("m1", 0), reply])
    assert s.waiting_since == t(0)
    assert s.first_response_at is None
    assert s.team_messages == 0


def test_deleting_the_first_waiting_message_moves_waiting_since_to_the_next() -> None:
    first = MessageFact("m1", t(0), False, "cust-9", text="hi", deleted=True)
    s = compute_state([first, cust("m2", 4, "my order?")])
    assert s.waiting_since == t(4)
    assert s.current_period is not None
    assert s.current_period.first_message_id == "m2"


# --- closing words ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "thanks!",
        "Thanks",
        "thank you",
        "Thank you!!",
        "ok great",
        "OK, great, thanks so much!",
        "👍",
        "thanks 👍",
        "great",
        "ok",
    ],
)
def test_closing_words_after_a_team_reply_do_not_open(text: str) -> None:
    s = compute_state([cust("m1", 0), team("r1", 10), cust("m2", 12, text)])
    assert s.waiting_since is None
    assert len(s.periods) == 1
    assert s.customer_messages == 2
    assert s.last_message_at == t(12)


@pytest.mark.parametrize(
    "text",
    ["thanks, but it still fails", "ok what about my refund?", "thanks?", "so", "you", "🙏", ""],
)
def test_other_short_messages_after_a_reply_open(text: str) -> None:
    s = compute_state([cust("m1", 0), team("r1", 10), cust("m2", 12, text)])
    assert s.waiting_since == t(12)


def test_closing_words_after_not_needed_do_not_open() -> None:
    s = compute_state([cust("m1", 0), cust("m2", 10, "thanks!")], [not_needed(5)])
    assert s.waiting_since is None


def test_empty_closing_words_turn_the_rule_off() -> None:
    s = compute_state([cust("m1", 0), team("r1", 10), cust("m2", 12, "thanks!")], closing_words=[])
    assert s.waiting_since == t(12)
    assert len(s.periods) == 2


def test_custom_closing_words() -> None:
    msgs = [cust("m1", 0), team("r1", 10), cust("m2", 12, "danke!")]
    assert compute_state(msgs, closing_words=["danke"]).waiting_since is None
    assert compute_state(msgs).waiting_since == t(12)


def test_closing_word_as_the_very_first_customer_message_opens() -> None:
    s = compute_state([cust("m1", 0, "thanks!")])
    assert s.waiting_since == t(0)
    assert s.started_at == t(0)


def test_real_question_after_closing_words_opens_at_the_question() -> None:
    s = compute_state(
        [cust("m1", 0), team("r1", 10), cust("m2", 12, "thanks!"), cust("m3", 30, "wait, why?")]
    )
    assert s.waiting_since == t(30)
    assert s.current_period is not None
    assert s.current_period.first_message_id == "m3"


def test_closing_words_while_waiting_are_just_follow_ups() -> None:
    s = compute_state([cust("m1", 0), cust("m2", 1, "thanks"), team("r1", 10)])
    assert [(p.started_at, p.ended_at) for p in s.periods] == [(t(0), t(10))]


def test_is_closing_rules() -> None:
    words = DEFAULT_CLOSING_WORDS
    assert is_closing("  Thanks!  ", words)
    assert is_closing("thank you so much", words)
    assert not is_closing("thanks " * 20, words)  # too long to be just an acknowledgement
    assert not is_closing("so much", words)  # fillers alone
    assert not is_closing("thanks", [])
    assert not is_closing("", words)


# --- broadcasts, replies, first response -----------------------------------------------------


def test_broadcast_is_team_message_in_a_conversation_no_customer_spoke_in() -> None:
    s = compute_state([team("b1", 0, "We are down for maintenance"), team("b2", 5, "back up")])
    assert s.broadcasts == 2
    assert s.replies == 0
    assert s.periods == ()
    assert s.started_at is None
    assert s.first_response_at is None
    assert s.last_team_at == t(5)


def test_team_message_before_the_customer_is_neither_broadcast_nor_reply() -> None:
    s = compute_state([team("a1", 0, "New release!"), cust("m1", 5, "it broke"), team("r1", 9)])
    assert s.broadcasts == 0
    assert s.replies == 1
    assert s.team_messages == 2
    assert s.started_at == t(5)
    assert s.first_response_at == t(9)
    assert s.periods[0].started_at == t(5)


def test_closing_words_after_an_announcement_do_not_open() -> None:
    s = compute_state([team("a1", 0, "New release!"), cust("m1", 5, "great, thanks!")])
    assert s.waiting_since is None
    assert s.broadcasts == 0


def test_first_response_is_first_team_message_after_conversation_start() -> None:
    s = compute_state(
        [cust("m1", 0), cust("m2", 2), team("r1", 7, person="carol"), cust("m3", 9), team("r2", 20)]
    )
    assert s.started_at == t(0)
    assert s.first_response_at == t(7)
    assert s.first_responder == "carol"


def test_first_response_after_not_needed_counts_from_conversation_start() -> None:
    s = compute_state([cust("m1", 0), team("r1", 30)], [not_needed(10)])
    assert s.first_response_at == t(30)
    assert [p.end_reason for p in s.periods] == ["not_needed"]


# --- ties ------------------------------------------------------------------------------------


def test_same_time_messages_are_ordered_by_id() -> None:
    # "a" sorts before "b": the customer spoke first, the reply answers it in zero seconds.
    s = compute_state([team("b", 0), cust("a", 0)])
    assert len(s.periods) == 1
    assert s.periods[0].ended_at == t(0)
    assert reply_seconds(s) == [0]
    assert s.replies == 1
    # Swap the ids: the team message came first, so the customer is left waiting.
    s = compute_state([team("a", 0), cust("b", 0)])
    assert s.waiting_since == t(0)
    assert s.replies == 0


def test_same_time_customer_messages_pick_the_smaller_id_as_waiting_message() -> None:
    s = compute_state([cust("m2", 0), cust("m1", 0)])
    assert s.current_period is not None
    assert s.current_period.first_message_id == "m1"


def test_duplicate_deliveries_count_once() -> None:
    s = compute_state([cust("m1", 0), cust("m1", 0), team("r1", 5), team("r1", 5)])
    assert s.customer_messages == 1
    assert s.team_messages == 1
    assert len(s.periods) == 1


# --- order-independence (property) -----------------------------------------------------------

_TEXTS = st.sampled_from(
    [
        *DEFAULT_CLOSING_WORDS,
        "thanks!",
        "ok great",
        "Thank you so much",
        "where is my order?",
        "still broken",
        "hello",
        "",
    ]
)
_Case = tuple[list[MessageFact], list[Action]]


@st.composite
def facts(draw: st.DrawFn) -> _Case:
    messages = []
    for i in range(draw(st.integers(0, 12))):
        is_team = draw(st.booleans())
        messages.append(
            MessageFact(
                message_id=f"m{i}",
                at=t(draw(st.integers(0, 5))),  # a small range, so ties are common
                is_team=is_team,
                author_id=draw(st.sampled_from(["U1", "U2"] if is_team else ["c1", "c2"])),
                person=draw(st.sampled_from(["alice", "bob", None])) if is_team else None,
                text=draw(_TEXTS),
                deleted=draw(st.integers(0, 4)) == 0,
                author_name=draw(st.sampled_from(["", "Dana"])),
            )
        )
    actions = draw(
        st.lists(
            st.builds(
                Action,
                kind=st.sampled_from([ActionKind.NOT_NEEDED, ActionKind.CLAIM]),
                person=st.sampled_from(["alice", "bob"]),
                at=st.integers(0, 5).map(t),
            ),
            max_size=3,
        )
    )
    return messages, actions


def reordered(data: st.DataObject, items: Sequence[T]) -> list[T]:
    """The same items, each delivered one or more times, in any order."""
    extra = data.draw(st.lists(st.sampled_from(items), max_size=len(items))) if items else []
    return list(data.draw(st.permutations([*items, *extra])))


@settings(max_examples=300)
@given(data=st.data(), case=facts())
def test_state_depends_only_on_the_set_of_facts(data: st.DataObject, case: _Case) -> None:
    messages, actions = case
    closing = data.draw(st.sampled_from([DEFAULT_CLOSING_WORDS, ()]))
    expected = compute_state(messages, actions, closing)

    got = compute_state(iter(reordered(data, messages)), iter(reordered(data, actions)), closing)

    assert got == expected
    assert reply_seconds(got) == reply_seconds(expected)


@settings(max_examples=200)
@given(case=facts())
def test_state_invariants(case: _Case) -> None:
    messages, actions = case
    s = compute_state(messages, actions)
    live = sorted((m for m in messages if not m.deleted), key=lambda m: (m.at, m.message_id))
    assert s.customer_messages == sum(not m.is_team for m in live)
    assert s.team_messages == sum(m.is_team for m in live)
    # Only the last period may be open, and periods never overlap.
    assert all(p.ended_at is not None for p in s.periods[:-1])
    for a, b in pairwise(s.periods):
        assert a.ended_at is not None
        assert a.ended_at <= b.started_at
    for p in s.periods:
        assert p.ended_at is None or p.ended_at >= p.started_at
        assert (p.end_reason == "reply") == (p.answer_message_id is not None)
    if s.customer_messages == 0:
        assert s.periods == ()
        assert s.broadcasts == s.team_messages
    else:
        assert s.broadcasts == 0
    if live and not live[0].is_team:
        # Nobody from the team spoke yet: the first customer message opens, whatever it says.
        assert s.periods
        assert s.periods[0].first_message_id == live[0].message_id


def test_last_text_and_link_come_from_the_messages_left_standing() -> None:
    def linked(mid: str, minute: float, url: str, deleted: bool = False) -> MessageFact:
        return MessageFact(mid, t(minute), False, "cust-9", None, f"text {mid}", deleted,
                           "", url)  # fmt: skip

    state = compute_state([linked("m2", 2, "u2"), linked("m1", 1, ""), linked("m3", 3, "u3")])
    assert (state.last_text, state.url) == ("text m3", "u2")  # the first message with a link
    state = compute_state([linked("m1", 1, "u1", deleted=True), linked("m2", 2, ""),
                           linked("m3", 3, "", deleted=True)])  # fmt: skip
    assert (state.last_text, state.url) == ("text m2", "u1")  # a deleted one's link will do
    assert compute_state([]).last_text == compute_state([]).url == ""


def _is_closing_by_normalising(text: str, closing_words: Sequence[str]) -> bool:
    """``is_closing`` as first written: normalise, then decide (the reference)."""
    if not closing_words:
        return False
    norm = _normalise(text)
    if not norm or len(norm) > 40:
        return False
    words = {_normalise(w) for w in closing_words if _normalise(w)}
    if norm in words:
        return True
    vocabulary = set(_FILLERS)
    for w in words:
        vocabulary.update(w.split())
    if not all(t in vocabulary for t in norm.split()):
        return False
    return any(w in norm.split() or w == norm or f" {w} " in f" {norm} " for w in words)


_PIECES = st.sampled_from(
    ["thanks", "Thank", "you", "OK", "ok", "great", "so", "much", "👍", "🙏", "order", "#42",
     "help", "ＴＨＡＮＫＳ", "ﬁne", "İ", " ", "  ", "!", "...", ",", "-", "–", "_", "\t", "\n",
     "\x1c", "é", "e\u0301", "\u00a0"]
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(
    st.lists(_PIECES, max_size=8).map("".join) | st.text(max_size=60),
    st.sampled_from([DEFAULT_CLOSING_WORDS, ("merci", "ok"), ("thank you",), ()]),
)
def test_is_closing_agrees_with_normalising_first(text: str, words: tuple[str, ...]) -> None:
    assert is_closing(text, words) == _is_closing_by_normalising(text, words)


def test_closing_messages_end_at_forty_characters() -> None:
    """The length limit is on the normalised text, inclusive: 40 characters still close."""
    words = DEFAULT_CLOSING_WORDS
    forty = "thanks" + " ok" * 10 + " thx"
    forty_one = "thanks" + " ok" * 9 + " thx" * 2
    assert (len(forty), len(forty_one)) == (40, 41)
    assert is_closing(forty, words)
    assert not is_closing(forty_one, words)
    assert is_closing(f"  {forty.upper()}!!  ", words)  # measured after normalising


def test_states_and_periods_are_frozen_with_empty_text_defaults() -> None:
    from dataclasses import FrozenInstanceError

    state = ConversationState((), None, None, None, None, None, None, None, 0, 0, 0, 0)
    assert (state.last_text, state.url) == ("", "")  # text columns are NOT NULL
    with pytest.raises(FrozenInstanceError):
        state.replies = 1  # type: ignore[misc]
    period = Period(T0, "m1")
    assert (period.ended_at, period.end_reason, period.answered_by) == (None, None, None)
    assert period.answer_message_id is None and period.open
    with pytest.raises(FrozenInstanceError):
        period.ended_at = T0  # type: ignore[misc]


def test_a_thread_without_customers_has_no_customer_or_responder() -> None:
    state = compute_state([team("b1", 0)], (), DEFAULT_CLOSING_WORDS)
    assert (state.customer_id, state.customer_name, state.first_responder) == (None, None, None)


def test_the_link_is_the_first_messages_that_has_one() -> None:
    first = MessageFact("m1", t(0), False, "cust-9", url="https://x.example/1")
    second = MessageFact("m2", t(1), False, "cust-9", url="https://x.example/2")
    linkless = MessageFact("m00", t(-2), False, "cust-9")
    deleted = MessageFact("m0", t(-1), False, "cust-9", deleted=True, url="https://x.example/0")
    state = compute_state([second, linkless, deleted, first], (), DEFAULT_CLOSING_WORDS)
    assert state.url == "https://x.example/1"  # a deleted message's link only as a last resort
    only_deleted = compute_state([linkless, deleted], (), DEFAULT_CLOSING_WORDS)
    assert only_deleted.url == "https://x.example/0"


def test_a_message_and_an_action_in_the_same_instant_apply_message_first() -> None:
    """Whatever the ids: a "not needed" at the very instant a customer wrote ends that
    customer's wait (the message is taken to have come first)."""
    for mid in ("a1", "z9"):
        state = compute_state([cust(mid, 5)], (not_needed(5),), DEFAULT_CLOSING_WORDS)
        assert state.waiting_since is None, mid
