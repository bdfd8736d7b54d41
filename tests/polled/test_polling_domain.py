"""The pure pieces every poller shares: backoff, rate-limit headers, JSON decoding, typed
reads of hostile payloads, HTML to text."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain import payload
from bot.domain.htmltext import html_to_text
from bot.domain.polling import (
    MAX_WAIT,
    BadItem,
    BadResponse,
    PollError,
    RateLimited,
    Recent,
    backoff_delay,
    decode_json,
    newest_id,
    parse_reset,
    parse_retry_after,
    rate_limit_pause,
)

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


@given(st.integers(0, 200), st.floats(0.1, 100), st.floats(1, 10_000), st.floats(0, 1))
def test_backoff_is_bounded_and_jittered(failures: int, base: float, cap: float, j: float) -> None:
    delay = backoff_delay(failures, base=base, cap=cap, jitter=j)
    if failures == 0:
        assert delay == 0
        return
    step = min(cap, base * 2 ** min(failures - 1, 30))
    assert step / 2 <= delay <= step + 1e-9


def test_backoff_doubles() -> None:
    delays = [backoff_delay(n, base=5, cap=60, jitter=0.5) for n in range(1, 7)]
    assert delays == [3.75, 7.5, 15.0, 30.0, 45.0, 45.0]


def test_retry_after_seconds_dates_and_nonsense() -> None:
    assert parse_retry_after("120", NOW) == 120
    assert parse_retry_after("Mon, 30 Nov 2026 10:02:00 GMT", NOW) == 120
    assert parse_retry_after("-5", NOW) == 0
    assert parse_retry_after("99999999", NOW) == MAX_WAIT
    for junk in (None, "", "soon", "nan", "inf", "Mon, 99 Foo"):
        assert parse_retry_after(junk, NOW) in (None, MAX_WAIT)
    assert parse_retry_after("nan", NOW) is None


def test_reset_epoch_iso_and_delta() -> None:
    assert parse_reset(str(int((NOW + timedelta(minutes=5)).timestamp())), NOW) == 300
    assert parse_reset("2026-11-30T10:05:00.000Z", NOW) == 300
    assert parse_reset("30", NOW) == 30
    assert parse_reset("garbage", NOW) is None


def test_rate_limit_pause_spreads_the_budget() -> None:
    reset = str(int((NOW + timedelta(minutes=10)).timestamp()))
    assert rate_limit_pause({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}, NOW) == 600
    assert (
        rate_limit_pause({"x-rate-limit-remaining": "5", "x-rate-limit-reset": reset}, NOW) == 100
    )
    assert rate_limit_pause({"X-RateLimit-Remaining": "x", "X-RateLimit-Reset": reset}, NOW) is None
    assert rate_limit_pause({}, NOW) is None


def test_decode_json_maps_statuses_to_failures() -> None:
    assert decode_json(200, {}, b'{"a": [1]}', NOW) == {"a": [1]}
    with pytest.raises(RateLimited) as limited:
        decode_json(429, {"Retry-After": "7"}, b"", NOW)
    assert limited.value.retry_after == 7 and not limited.value.permanent
    with pytest.raises(RateLimited):
        decode_json(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "60"}, b"", NOW)
    with pytest.raises(PollError) as server:
        decode_json(503, {"Retry-After": "30"}, b"<html>", NOW)
    assert server.value.retry_after == 30 and not server.value.permanent
    with pytest.raises(PollError) as client:
        decode_json(404, {}, b'{"error": "Record not found"}', NOW)
    assert client.value.permanent and client.value.status == 404
    with pytest.raises(BadResponse):
        decode_json(200, {"content-type": "text/html"}, b"<!DOCTYPE html><p>hi", NOW)
    with pytest.raises(BadResponse):
        decode_json(200, {}, b"\xff\xfe\x00garbage", NOW)
    with pytest.raises(BadResponse):
        decode_json(200, {}, b"[" * 100_000 + b"]" * 100_000, NOW)
    with pytest.raises(BadResponse):
        decode_json(200, {}, b"1" * 10_000, NOW)  # int beyond Python's digit limit


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda kids: st.lists(kids) | st.dictionaries(st.text(), kids),
    )
)
def test_typed_reads_never_raise_anything_but_bad_item(value: object) -> None:
    try:
        item = payload.obj(value)
    except BadItem:
        return
    for read in (
        payload.ident,
        payload.string,
        payload.when,
        payload.flag,
        payload.integer,
        payload.opt_ident,
        payload.opt_string,
        payload.opt_when,
    ):
        with contextlib.suppress(BadItem):
            read(item, "id")


def test_ids_are_narrow_and_times_aware() -> None:
    assert payload.ident({"id": 42}, "id") == "42"
    for bad in (True, 1.5, "../etc", "a b", "", "x" * 65, None, [1]):
        with pytest.raises(BadItem):
            payload.ident({"id": bad}, "id")
    assert payload.when({"t": "2026-11-30T10:00:00Z"}, "t") == NOW
    assert payload.when({"t": "2026-11-30T11:00:00+01:00"}, "t") == NOW
    with pytest.raises(BadItem):
        payload.when({"t": "yesterday"}, "t")
    assert payload.string({"s": None}, "s", "") == ""
    assert len(payload.string({"s": "x" * 50_000}, "s")) == payload.MAX_TEXT


@given(st.text())
def test_html_to_text_never_raises(raw: str) -> None:
    assert isinstance(html_to_text(raw), str)


def test_html_to_text_keeps_what_people_read() -> None:
    cooked = (
        '<p>Hi <a href="https://x/@acme" class="mention">@<span>acme</span></a>, '
        "R&amp;D says:</p><blockquote><p>soon</p></blockquote><ul><li>one</li><li>two</li></ul>"
        '<p>see <a href="https://e.com"><span class="invisible">https://</span>e.com</a>'
        "<br/>bye</p><script>alert(1)</script><style>p{}</style>"
    )
    assert (
        html_to_text(cooked)
        == "Hi @acme, R&D says:\n\nsoon\n\n- one\n- two\n\nsee https://e.com\nbye"
    )


def test_html_to_text_keeps_at_most_20000_characters() -> None:
    assert html_to_text("a" * 30_000) == "a" * 20_000


def test_html_to_text_parses_only_the_first_200000_characters() -> None:
    # A script body is dropped, so the visible text is what follows it: "a" is character
    # 200,000 of the input (the last one parsed), "b" the first one cut off.
    hidden = "<script>" + "x" * (199_999 - len("<script></script>")) + "</script>"
    assert len(hidden) == 199_999
    assert html_to_text(hidden + "ab") == "a"


def test_html_to_text_drops_nested_hidden_elements_and_only_them() -> None:
    # <title> inside <head>: both hidden, and the text after </head> shown again.
    assert html_to_text("<head><title>t</title>x</head>y<script>s</script>z") == "yz"
    # A stray closing tag does not hide what follows.
    assert html_to_text("a</title>b") == "ab"


def test_html_to_text_self_closing_tags() -> None:
    assert html_to_text("a<hr/>b") == "a\n\nb"
    assert html_to_text("a<br/>b") == "a\nb"
    assert html_to_text('a<img src="x"/>b') == "ab"


def test_ids_order_and_bounded_memory() -> None:
    assert newest_id(["9", "10", "2"]) == "10"
    assert newest_id([], "5") == "5"
    recent = Recent(size=2)
    for key in "abc":
        recent[key] = key
    assert list(recent) == ["b", "c"]
    assert json.dumps(dict(recent))
