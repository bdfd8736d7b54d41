"""Conversation state as a pure function of its messages and actions.

State never depends on arrival order: callers hand over the full set of facts, which are
sorted by platform time (then message id) before they are folded. That makes duplicate,
late and out-of-order deliveries harmless — the same set gives the same state.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from operator import attrgetter

from bot.domain.events import Action, ActionKind, MessageFact
from bot.domain.records import quick_init

DEFAULT_CLOSING_WORDS: tuple[str, ...] = ("thanks", "thank you", "ok", "great", "👍")
# Words people add around an acknowledgement without changing its meaning.
_FILLERS = frozenset(
    {
        "ok",
        "okay",
        "great",
        "thanks",
        "thank",
        "you",
        "so",
        "much",
        "very",
        "many",
        "a",
        "lot",
        "cool",
        "perfect",
        "awesome",
        "got",
        "it",
        "thx",
        "ty",
        "cheers",
        "alright",
        "all",
        "right",
        "good",
        "nice",
        "and",
        "again",
        "guys",
        "team",
        "👍",
        "🙏",
        "❤️",
        "🙂",
        "😊",
    }
)
_MAX_CLOSING_LEN = 40


@quick_init
@dataclass(frozen=True)
class Period:
    """One waiting period: from the first customer message after the latest team message."""

    started_at: datetime
    first_message_id: str
    ended_at: datetime | None = None
    end_reason: str | None = None  # "reply" | "not_needed"
    answered_by: str | None = None  # team member id, or raw author id for unknown team authors
    answer_message_id: str | None = None

    @property
    def open(self) -> bool:
        return self.ended_at is None


@quick_init
@dataclass(frozen=True)
class ConversationState:
    periods: tuple[Period, ...]
    started_at: datetime | None  # first customer message
    first_response_at: datetime | None
    first_responder: str | None
    customer_id: str | None  # author of the first customer message
    customer_name: str | None
    last_message_at: datetime | None
    last_team_at: datetime | None
    replies: int  # team messages after a customer message
    broadcasts: int  # team messages in a conversation no customer ever spoke in
    team_messages: int
    customer_messages: int
    last_text: str = ""  # of the latest message not deleted
    # The thread's link: its first message's (not deleted, else any), whatever message
    # happened to arrive first.
    url: str = ""

    @property
    def waiting_since(self) -> datetime | None:
        if self.periods and self.periods[-1].open:
            return self.periods[-1].started_at
        return None

    @property
    def current_period(self) -> Period | None:
        return self.periods[-1] if self.periods and self.periods[-1].open else None


_SEPARATORS = re.compile(r"[\s!.,;:()\-–—~*_]+")
_FIRST_WORD = re.compile(r"[^\s!.,;:()\-–—~*_]+")


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).strip().lower()
    return _SEPARATORS.sub(" ", text).strip()


@cache
def _closing(closing_words: tuple[str, ...]) -> tuple[frozenset[str], frozenset[str]]:
    """The normalised closing words, and every word a closing message may consist of."""
    words = frozenset(n for n in map(_normalise, closing_words) if n)
    vocabulary = set(_FILLERS)
    for w in words:
        vocabulary.update(w.split())
    return words, frozenset(vocabulary)


def is_closing(text: str, closing_words: Sequence[str]) -> bool:
    """A short message that only thanks or acknowledges.

    True when the message equals one of the closing words, or consists only of closing words
    and common fillers ("ok great, thanks so much!") and is short. An empty list turns it off.
    """
    if not closing_words:
        return False
    words, vocabulary = _closing(tuple(closing_words))
    if text.isascii():
        # NFKC leaves ASCII as it is, so the text's first word is the normalised text's
        # first word, and every word of a closing message is in the vocabulary: most
        # messages are told apart by one regex step instead of the whole normalisation.
        first = _FIRST_WORD.search(text)
        if first is None or first.group().lower() not in vocabulary:
            return False
    norm = _normalise(text)
    if not norm or len(norm) > _MAX_CLOSING_LEN:
        return False
    if norm in words:
        return True
    tokens = norm.split()
    if not all(t in vocabulary for t in tokens):
        return False
    # Fillers alone ("so", "you") are not an acknowledgement: one closing word must be there.
    # Both are single-spaced (normalised), so padding finds a closing phrase of any length
    # as whole words, the whole message included.
    padded = f" {norm} "
    return any(f" {w} " in padded for w in words)


_BY_TIME = attrgetter("at", "message_id")


def _sort_key(fact: MessageFact | Action) -> tuple[datetime, int, str]:
    if isinstance(fact, MessageFact):
        return (fact.at, 0, fact.message_id)
    # Actions sort after messages of the same instant: a "not needed" pressed in the same
    # second as a follow-up is taken as having seen it.
    return (fact.at, 1, f"{fact.kind}:{fact.person}")


def compute_state(
    messages: Iterable[MessageFact],
    actions: Iterable[Action] = (),
    closing_words: Sequence[str] = DEFAULT_CLOSING_WORDS,
) -> ConversationState:
    # Duplicates carry the same id; deleted ones drop here.
    unique = {m.message_id: m for m in messages}
    facts: list[MessageFact | Action] = [m for m in unique.values() if not m.deleted]
    closings = [a for a in set(actions) if a.kind is ActionKind.NOT_NEEDED] if actions else []
    if closings:
        facts.extend(closings)
        facts.sort(key=_sort_key)
    else:  # messages only: the same order, without a Python call per fact
        facts.sort(key=_BY_TIME)

    periods: list[Period] = []
    current: Period | None = None
    started_at = first_response_at = last_message_at = last_team_at = None
    first_responder = customer_id = customer_name = None
    replies = team_messages = customer_messages = 0
    # The team spoke (before the customer too) or a period ended: a closing message after
    # that thanks or acknowledges, it asks nothing.
    after_answer = False
    last_text = url = ""
    for f in facts:
        if isinstance(f, Action):
            if current is not None:
                periods.append(_close(current, f.at, "not_needed", f.person, None))
                current = None
                after_answer = True
            continue
        last_message_at = f.at
        last_text = f.text
        if not url:
            url = f.url
        if f.is_team:
            team_messages += 1
            last_team_at = f.at
            if started_at is None:
                after_answer = True
                continue
            replies += 1
            who = f.person or f.author_id  # MessageFact.who, without a property call
            if first_response_at is None:
                first_response_at, first_responder = f.at, who
            if current is not None:
                periods.append(_close(current, f.at, "reply", who, f.message_id))
                current = None
            after_answer = True
            continue
        customer_messages += 1
        if started_at is None:
            started_at, customer_id, customer_name = f.at, f.author_id, f.author_name or None
        if current is not None:
            continue  # follow-ups while waiting do not move waiting_since
        if after_answer and is_closing(f.text, closing_words):
            continue
        current = Period(f.at, f.message_id)
    if current is not None:
        periods.append(current)
    if not url:  # no message left standing has a link: a deleted one's will do
        url = next((m.url for m in sorted(unique.values(), key=_BY_TIME) if m.url), "")
    return ConversationState(
        tuple(periods), started_at, first_response_at, first_responder, customer_id,
        customer_name, last_message_at, last_team_at, replies,
        team_messages if customer_messages == 0 else 0, team_messages, customer_messages,
        last_text, url,
    )  # fmt: skip


def _close(p: Period, at: datetime, reason: str, by: str | None, msg: str | None) -> Period:
    return Period(p.started_at, p.first_message_id, at, reason, by, msg)
