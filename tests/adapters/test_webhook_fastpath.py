"""The fast path of the message schema agrees with the detailed validator.

``_fast_message`` and ``_decode`` exist for the bulk import's speed only: whatever they
accept must be exactly what the detailed validator (and ``json.loads``) would make of it, and
anything else must be left to the detailed one, so that errors keep one wording.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from adapters.webhook.schema import (
    SchemaError,
    _checked_message,
    _decode,
    _fast_message,
    line_parser,
    parse_line,
    parse_message,
)
from bot.domain.events import InboundMessage
from tests.adapters import test_webhook_schema as schema_tests

GOOD: dict[str, Any] = {**schema_tests.GOOD, "channel": "C1"}
PEOPLE = {"cust-9": "dana", "U1": "alice"}
# No deadline: the machine is shared, and a timing is no part of what these tests assert.
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

_tricky_text = st.sampled_from(
    ["", " ", "\t\n", "\u00a0", "\u3000", "a\x00", "\ud800", "x\udfff", "é", "👍", "z", "Z"]
)
strings = st.one_of(
    st.text(max_size=8),
    _tricky_text,
    st.builds(lambda c, n: c * n, st.sampled_from("xé "), st.sampled_from([254, 255, 256])),
    st.builds(lambda n: "u" * n, st.sampled_from([2047, 2048, 2049, 40_000, 40_001])),
)
times = st.one_of(
    st.sampled_from(
        [
            "2026-11-28T10:00:00Z",
            "2026-11-28T10:00:00z",
            " 2026-11-28T10:00:00Z ",
            "2026-11-28T10:00:00.123456+01:00",
            "2026-11-28 10:00Z",
            "20261128T100000Z",
            "2026-11-28T10Z",
            "2026-11-28Z",
            "2026-11-28T10:00:00",
            "2026-11-28",
            "2026-11-28T10:00:00ZZ",
            "2026-13-01T10:00:00Z",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:30:00-01:00",
            "",
        ]
    ),
    st.text(alphabet="0123456789-:T+Zz. ", max_size=26),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.builds(list),
    st.builds(dict),
)
values = st.one_of(strings, scalars)


FIELDS = ("thread", "id", "at", "author", "author.id", "author.name", "team", "text", "url")
FIELDS += ("channel",)


@st.composite
def messages(draw: st.DrawFn) -> dict[str, Any]:
    """GOOD with one or two fields dropped or replaced: most draws probe one field's edge."""
    obj: dict[str, Any] = {**GOOD, "author": dict(GOOD["author"])}
    for name in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=2, unique=True)):
        where, key = (obj.get("author"), name[7:]) if name[:7] == "author." else (obj, name)
        if not isinstance(where, dict):
            continue  # "author" itself was dropped or replaced first
        if draw(st.integers(0, 5)) == 0:
            where.pop(key, None)
        else:
            where[key] = draw(times if key == "at" else values)
    if draw(st.booleans()):
        obj["extra"] = draw(values)
    return obj


def _detailed(obj: Any, resolve: Any) -> InboundMessage | str:
    try:
        return _checked_message(obj, "website", "import", resolve)
    except SchemaError as exc:
        return f"{exc.field}|{exc}"


@settings(FUZZ, max_examples=1000)
@given(messages(), st.sampled_from([None, PEOPLE.get]))
@example(dict(GOOD, text=0), None)  # falsy non-strings are errors, not ""
@example(dict(GOOD, text=False), None)
@example(dict(GOOD, author={"id": "cust-9", "name": []}), None)
@example(dict(GOOD, team=True, author={"id": "U1"}), PEOPLE.get)
def test_fast_path_accepts_only_what_the_detailed_validator_accepts(
    obj: dict[str, Any], resolve: Any
) -> None:
    fast = _fast_message(obj, "website", "import", resolve)
    detailed = _detailed(obj, resolve)
    if fast is not None:
        assert isinstance(detailed, InboundMessage), detailed
        assert fast == detailed
        assert vars(fast) == vars(detailed)  # every field set, and nothing more
        assert vars(fast.author) == vars(detailed.author)
        assert fast.at.tzinfo is detailed.at.tzinfo
    # The public entry point is the detailed validator's verdict, whichever path answered.
    try:
        public: InboundMessage | str = parse_message(
            obj, source="website", platform="import", resolve=resolve
        )
    except SchemaError as exc:
        public = f"{exc.field}|{exc}"
    assert public == detailed


def test_the_common_message_takes_the_fast_path() -> None:
    fast = _fast_message(dict(GOOD), "website", "import", PEOPLE.get)
    assert fast is not None
    assert hash(fast) == hash(_checked_message(dict(GOOD), "website", "import", PEOPLE.get))
    assert {f.name for f in dataclasses.fields(InboundMessage)} == set(vars(fast))
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.text = "changed"  # type: ignore[misc]


lines = st.one_of(
    st.text(max_size=30),
    st.builds(
        lambda prefix, obj, suffix: prefix + json.dumps(obj, ensure_ascii=False) + suffix,
        st.sampled_from(["", " ", "\ufeff", "x"]),
        st.one_of(messages(), st.lists(st.integers(), max_size=2), st.text(max_size=3)),
        st.sampled_from(["", "\n", "\r\n", " \t\n", "\x0c", "\u00a0", "\u2028", "}", " {}"]),
    ),
)


@settings(FUZZ, max_examples=400)
@given(lines)
@example("[" * 100_000)
@example("{" * 100_000)
@example('{"a": NaN, "b": Infinity}\n')
@example('{"a": 1, "a": 2}\n')
@example('{"a": "\x00"}\n')  # a raw control character inside a string
def test_decode_agrees_with_json_loads(line: str) -> None:
    try:
        expected: Any = json.loads(line)
    except (ValueError, RecursionError) as exc:
        expected = SchemaError("", f"not valid JSON ({exc.__class__.__name__})")
    try:
        got: Any = _decode(line)
    except SchemaError as exc:
        got = exc
    if isinstance(expected, SchemaError):
        assert isinstance(got, SchemaError)
        assert (got.field, str(got)) == (expected.field, str(expected))
    else:
        assert json.dumps(got) == json.dumps(expected)  # NaN == NaN, key order too


@FUZZ
@given(lines)
def test_line_parser_is_parse_line(line: str) -> None:
    def outcome(parse: Any) -> Any:
        try:
            return parse(line)
        except SchemaError as exc:
            return f"{exc.field}|{exc}"

    bound = line_parser(source="website", platform="import", resolve=PEOPLE.get)
    assert outcome(bound) == outcome(
        lambda x: parse_line(x, source="website", platform="import", resolve=PEOPLE.get)
    )


def _by_json(line: str) -> Any:
    """What a line means read by json.loads and the detailed validator alone."""
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError) as exc:
        return f"|not valid JSON ({exc.__class__.__name__})"
    try:
        return _checked_message(obj, "website", "import", PEOPLE.get)
    except SchemaError as exc:
        return f"{exc.field}|{exc}"


numbers_in_fields = st.builds(
    lambda obj, key, number: json.dumps({**obj, key: number}),
    messages(),
    st.sampled_from(["id", "thread", "team", "text", "extra"]),
    st.one_of(
        st.integers(min_value=-(2**80), max_value=2**80),
        st.sampled_from([1e400, -1e400, 2**64, -(2**63) - 1, 0.5]),
    ),
)


@settings(FUZZ, max_examples=400)
@given(st.one_of(lines, numbers_in_fields))
@example('{"thread": "t", "id": 123456789012345678901234567890, "at": "2026-11-28T10:00:00Z", '
         '"author": {"id": "c"}}')  # fmt: skip
@example('{"thread": "t", "id": "m", "at": "2026-11-28T10:00:00Z", "author": {"id": "c"}, '
         '"x": 1e400}')  # fmt: skip
def test_the_line_parser_reads_lines_as_json_loads_does(line: str) -> None:
    """The line parser tries orjson first (faster), which reads integers past 64 bits as
    floats and refuses 1e400; whatever it makes of a line must be json.loads's reading."""
    bound = line_parser(source="website", platform="import", resolve=PEOPLE.get)
    try:
        got: Any = bound(line)
    except SchemaError as exc:
        got = f"{exc.field}|{exc}"
    assert got == _by_json(line)
