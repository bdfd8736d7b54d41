"""``quick_init`` builds the same records as the dataclass's own ``__init__`` would."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from bot.domain.conversation import ConversationState, Period
from bot.domain.events import Author, InboundMessage, Kind, MessageFact
from bot.domain.records import quick_init

AT = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Plain:
    a: int
    b: str = "b"
    c: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.a < 0:
            raise ValueError("a must not be negative")


@quick_init
@dataclass(frozen=True)
class Quick:  # Plain again, with the quick __init__
    a: int
    b: str = "b"
    c: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.a < 0:
            raise ValueError("a must not be negative")


def test_same_values_defaults_and_factories_as_the_generated_init() -> None:
    for args, kwargs in [((1,), {}), ((2, "x"), {}), ((3,), {"c": [4]}), ((), {"a": 5})]:
        plain, quick = Plain(*args, **kwargs), Quick(*args, **kwargs)
        assert dataclasses.asdict(plain) == dataclasses.asdict(quick)
    assert Quick(1).c is not Quick(1).c  # a fresh default per instance, as field() promises
    with pytest.raises(ValueError, match="must not be negative"):
        Quick(-1)  # __post_init__ still runs
    with pytest.raises(TypeError):
        Quick()  # a required field stays required
    with pytest.raises(TypeError):
        Quick(1, "b", [], 4)  # and no extra arguments sneak in


def test_records_stay_frozen_hashable_and_replaceable() -> None:
    message = InboundMessage(
        source="s", platform="p", message_id="m", thread="t", at=AT, author=Author("a", "A"),
        is_team=False, text="hi",
    )  # fmt: skip
    assert message.kind is Kind.MESSAGE and message.person is None and message.url == ""
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.text = "changed"  # type: ignore[misc]
    edited = dataclasses.replace(message, text="edited")
    assert edited.text == "edited" and edited.message_id == "m" and edited != message
    assert hash(message) == hash(dataclasses.replace(edited, text="hi"))
    with pytest.raises(ValueError, match="timezone-aware"):
        dataclasses.replace(message, at=AT.replace(tzinfo=None))
    fact = MessageFact("m", AT, False, "a")
    assert (fact.person, fact.text, fact.deleted, fact.author_name, fact.url) == (
        None, "", False, "", "",
    )  # fmt: skip
    assert Period(AT, "m").open and not Period(AT, "m", AT, "reply").open
    assert {f.name for f in dataclasses.fields(ConversationState)} >= {"periods", "replies"}


def test_classes_it_cannot_reproduce_are_refused_when_defined() -> None:
    @dataclass(frozen=True, slots=True)
    class Slotted:
        a: int

    @dataclass(frozen=True)
    class KeywordOnly:
        a: int = field(kw_only=True)

    @dataclass(frozen=True)
    class NotInInit:
        a: int
        b: int = field(init=False, default=0)

    for cls in (Slotted, KeywordOnly, NotInInit):
        with pytest.raises(TypeError, match="quick_init"):
            quick_init(cls)
    with pytest.raises(TypeError, match="quick_init"):
        quick_init(int)
