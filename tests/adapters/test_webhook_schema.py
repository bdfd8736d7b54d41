"""The import/webhook message schema: good lines parse, every bad field is named."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.webhook.schema import SchemaError, parse_line, parse_message
from bot.domain.events import Author, Kind

GOOD: dict[str, Any] = {
    "thread": "ticket-42",
    "id": "msg-1",
    "at": "2026-11-28T10:00:00Z",
    "author": {"id": "cust-9", "name": "Dana"},
    "team": False,
    "text": "Where is my order?",
    "url": "https://example.com/t/42",
}


def with_(**changes: Any) -> dict[str, Any]:
    obj = {**GOOD, **changes}
    return {k: v for k, v in obj.items() if v is not _DROP}


_DROP = object()


def parse(obj: Any) -> Any:
    return parse_message(obj, source="website")


def test_design_example_parses() -> None:
    m = parse_line(json.dumps(GOOD), source="website")
    assert m.source == "website"
    assert m.platform == "webhook"
    assert m.thread == "ticket-42"
    assert m.message_id == "msg-1"
    assert m.at == datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    assert m.author == Author("cust-9", "Dana")
    assert m.is_team is False
    assert m.text == "Where is my order?"
    assert m.url == "https://example.com/t/42"
    assert m.channel == ""
    assert m.person is None
    assert m.kind is Kind.MESSAGE


def test_minimal_message_and_defaults() -> None:
    m = parse({"thread": "t", "id": "1", "at": "2026-11-28T10:00:00Z", "author": {"id": "a"}})
    assert (m.is_team, m.text, m.url, m.author.name) == (False, "", "", "")


def test_bytes_and_offsets_are_normalised_to_utc() -> None:
    line = json.dumps(with_(at="2026-11-28T11:30:00+01:00")).encode()
    m = parse_line(line, source="website", platform="import")
    assert m.at == datetime(2026, 11, 28, 10, 30, tzinfo=UTC)
    assert m.at.utcoffset() is not None
    assert m.platform == "import"


def test_numeric_ids_become_strings() -> None:
    m = parse(with_(id=123, thread=7, author={"id": 99}))
    assert (m.message_id, m.thread, m.author.id) == ("123", "7", "99")


def test_team_author_is_resolved_to_a_member() -> None:
    people = {"U0ALICE01": "alice"}
    team_msg = parse_message(
        with_(team=True, author={"id": "U0ALICE01"}), source="s", resolve=people.get
    )
    assert team_msg.is_team
    assert team_msg.person == "alice"
    unknown = parse_message(
        with_(team=True, author={"id": "AmazonHelp"}), source="s", resolve=people.get
    )
    assert unknown.person is None
    assert unknown.author.id == "AmazonHelp"
    # Customers are never resolved to a team member.
    customer = parse_message(with_(author={"id": "U0ALICE01"}), source="s", resolve=people.get)
    assert customer.person is None


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        (with_(thread=_DROP), "thread"),
        (with_(thread=None), "thread"),
        (with_(thread=""), "thread"),
        (with_(thread="   "), "thread"),
        (with_(thread=["a"]), "thread"),
        (with_(thread=True), "thread"),
        (with_(thread="x" * 256), "thread"),
        (with_(thread="a\x00b"), "thread"),
        (with_(id=_DROP), "id"),
        (with_(id=""), "id"),
        (with_(id={"x": 1}), "id"),
        (with_(id=1.5), "id"),
        (with_(id="x" * 256), "id"),
        (with_(id="m\x00"), "id"),
        (with_(at=_DROP), "at"),
        (with_(at=None), "at"),
        (with_(at=1764324000), "at"),
        (with_(at="yesterday"), "at"),
        (with_(at=""), "at"),
        (with_(at="2026-11-28T10:00:00"), "at"),  # naive
        (with_(at="2026-11-28"), "at"),  # a date has no time zone either
        (with_(at="2026-13-01T10:00:00Z"), "at"),
        (with_(at="0001-01-01T00:00:00+01:00"), "at"),  # before datetime.min in UTC
        (with_(at="9999-12-31T23:30:00-01:00"), "at"),  # after datetime.max in UTC
        (with_(author=_DROP), "author"),
        (with_(author="cust-9"), "author"),
        (with_(author=["cust-9"]), "author"),
        (with_(author=None), "author"),
        (with_(author={}), "author.id"),
        (with_(author={"name": "Dana"}), "author.id"),
        (with_(author={"id": ""}), "author.id"),
        (with_(author={"id": ["x"]}), "author.id"),
        (with_(author={"id": "x" * 256}), "author.id"),
        (with_(author={"id": "c", "name": 5.5}), "author.name"),
        (with_(author={"id": "c", "name": "n" * 256}), "author.name"),
        (with_(author={"id": "c", "name": "a\x00"}), "author.name"),
        (with_(team="true"), "team"),
        (with_(team=1), "team"),
        (with_(team=None), "team"),
        (with_(text="x" * 40_001), "text"),
        (with_(text="nul \x00 inside"), "text"),
        (with_(text=["a"]), "text"),
        (with_(text="lone \ud800 surrogate"), "text"),
        (with_(url="https://x/" + "a" * 2048), "url"),
        (with_(url=5.0), "url"),
        (with_(channel={"id": "C1"}), "channel"),
        (with_(channel="C\x00"), "channel"),
    ],
)
def test_bad_field_is_named(obj: dict[str, Any], field: str) -> None:
    with pytest.raises(SchemaError) as err:
        parse(obj)
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ")
    # The same through the JSON line parser (lone surrogates survive json.dumps as escapes).
    with pytest.raises(SchemaError) as err2:
        parse_line(json.dumps(obj), source="website")
    assert err2.value.field == field


def test_longest_allowed_values_pass() -> None:
    m = parse(with_(id="x" * 255, thread="t" * 255, text="y" * 40_000, url="u" * 2048))
    assert len(m.text) == 40_000


def test_error_messages_say_how_to_fix() -> None:
    with pytest.raises(SchemaError, match="time zone"):
        parse(with_(at="2026-11-28T10:00:00"))
    with pytest.raises(SchemaError, match="required"):
        parse(with_(id=_DROP))
    with pytest.raises(SchemaError, match="true or false"):
        parse(with_(team="yes"))
    with pytest.raises(SchemaError, match="longer than 40000"):
        parse(with_(text="x" * 40_001))
    with pytest.raises(SchemaError, match="NUL"):
        parse(with_(text="\x00"))


@pytest.mark.parametrize("line", ["[]", "[1, 2]", '"text"', "42", "null", "true"])
def test_non_object_json(line: str) -> None:
    with pytest.raises(SchemaError, match="JSON object") as err:
        parse_line(line, source="website")
    assert err.value.field == ""


@pytest.mark.parametrize(
    "line",
    [
        "",
        "   ",
        "{",
        "{'thread': 't'}",
        '{"thread": "t",}',
        "not json",
        b"\xff\xfe{",
        "[" * 100_000,
    ],
)
def test_invalid_json(line: str | bytes) -> None:
    with pytest.raises(SchemaError, match="not valid JSON") as err:
        parse_line(line, source="website")
    assert err.value.field == ""


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.sampled_from([*GOOD, "x"]), children, max_size=8)
        ),
        max_leaves=20,
    )
)
def test_anything_json_either_parses_or_raises_schema_error(obj: Any) -> None:
    with contextlib.suppress(SchemaError):
        parse_line(json.dumps(obj), source="website")


@given(
    st.fixed_dictionaries(
        {
            k: st.one_of(st.just(v), st.none(), st.text(max_size=5), st.integers())
            for k, v in GOOD.items()
        }
    )
)
def test_mutated_messages_parse_or_name_a_known_field(obj: dict[str, Any]) -> None:
    try:
        m = parse(obj)
    except SchemaError as exc:
        assert exc.field in {*GOOD, "author.id", "author.name"}
    else:
        assert m.at.tzinfo is not None
        assert m.message_id.strip()
