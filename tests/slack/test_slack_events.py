"""Payload translation, pure: no server, no database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.slack.blocks import duration, escape, transcript
from adapters.slack.events import (
    ChannelWatch,
    Workspace,
    permalink,
    plain_text,
    reactions,
    translate,
    ts_time,
)
from adapters.slack.interactive import parse_value, snooze_until
from adapters.slack.legible import unreadable
from bot.config import parse_config
from bot.domain.events import ActionKind, Kind
from bot.domain.ports import TranscriptLine

CONFIG = parse_config("""
team:
  alice: {slack: U0ALICE01}
sources:
  acme: {platform: slack, channels: [C1], owner: alice}
  lounge: {platform: slack, channels: [C2], customers: everyone-else,
           reactions: {claim: hand, not_needed: [done, ok_hand]}}
""")
WATCH = ChannelWatch.from_config(CONFIG)
GRID = Workspace(
    team_id="T0OURS",
    bot_user_id="U0BOT",
    bot_id="B0BOT",
    url="https://acme.slack.com/",
    enterprise_id="E0ORG",
)


def event(**fields: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "channel": "C1",
        "user": "U0SOMEONE",
        "text": "hi",
        "ts": "1700000000.000100",
        **fields,
    }


def test_ts_is_exact_to_the_microsecond() -> None:
    assert ts_time("1700000000.000100") == datetime(2023, 11, 14, 22, 13, 20, 100, tzinfo=UTC)
    assert ts_time("1700000000") == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def test_plain_text() -> None:
    assert (
        plain_text("<@U1|ann> <#C2|general> <!here> <!subteam^S1|@oncall> <!date^1|Mon>")
        == "@ann #general @here @oncall Mon"
    )
    assert plain_text("<https://x.io/a?b=1&amp;c=2|docs> <mailto:a@b.c>") == (
        "docs (https://x.io/a?b=1&c=2) mailto:a@b.c"
    )
    assert plain_text("a &lt;b&gt; &amp;lt;") == "a <b> &lt;"


def test_permalinks() -> None:
    assert permalink("https://acme.slack.com/", "C1", "1700000000.000100") == (
        "https://acme.slack.com/archives/C1/p1700000000000100"
    )
    assert permalink("https://acme.slack.com", "C1", "2.000002", "1.000001") == (
        "https://acme.slack.com/archives/C1/p2000002?thread_ts=1.000001&cid=C1"
    )
    assert permalink("", "C1", "1.0") == ""


def test_who_is_a_customer() -> None:
    acme, lounge = CONFIG.sources["acme"], CONFIG.sources["lounge"]
    team = translate(event(user="U0ALICE01"), acme, WATCH, GRID)
    assert team is not None and team.is_team and team.person == "alice"
    colleague = translate(event(user_team="T0OURS"), acme, WATCH, GRID)
    assert colleague is not None and colleague.is_team and colleague.person is None
    org = translate(event(user_team="E0ORG"), acme, WATCH, GRID)  # Enterprise Grid org user
    assert org is not None and org.is_team
    connect = translate(event(user_team="T0THEIRS"), acme, WATCH, GRID)
    assert connect is not None and not connect.is_team
    community = translate(event(channel="C2"), lounge, WATCH, GRID)
    assert community is not None and not community.is_team


def test_ignored() -> None:
    acme = CONFIG.sources["acme"]
    for ignored in (
        event(subtype="channel_join"),
        event(subtype="bot_message", bot_id="B1"),
        event(bot_id="B2"),
        event(user="U0BOT"),
        event(ts="not-a-ts"),
        event(channel=""),
        event(subtype="message_changed", message={"ts": "1.0", "text": "x", "user": "U1"}),
        event(subtype="message_deleted", previous_message={"bot_id": "B1", "ts": "1.0"}),
        {"type": "message"},
    ):
        assert translate(ignored, acme, WATCH, GRID) is None, ignored


def test_thread_reply_and_deletion_of_a_reply() -> None:
    acme = CONFIG.sources["acme"]
    reply = translate(event(ts="2.000002", thread_ts="1.000001"), acme, WATCH, GRID)
    assert reply is not None and reply.thread == "1.000001" and reply.message_id == "C1:2.000002"
    gone = translate(
        event(
            subtype="message_deleted",
            deleted_ts="2.000002",
            ts="3.0",
            previous_message={"user": "U9", "ts": "2.000002", "thread_ts": "1.000001", "text": "x"},
        ),
        acme,
        WATCH,
        GRID,
    )
    assert gone is not None and gone.kind == Kind.DELETE and gone.thread == "1.000001"
    assert gone.message_id == "C1:2.000002" and gone.text == ""


def test_reactions_per_source() -> None:
    assert reactions(CONFIG.sources["acme"]) == {
        "white_check_mark": ActionKind.NOT_NEEDED,
        "eyes": ActionKind.CLAIM,
    }
    assert reactions(CONFIG.sources["lounge"]) == {
        "hand": ActionKind.CLAIM,
        "done": ActionKind.NOT_NEEDED,
        "ok_hand": ActionKind.NOT_NEEDED,
    }


def test_mentions_go_to_a_source_without_channels_else_the_first() -> None:
    assert WATCH.mentions is not None and WATCH.mentions.id == "acme"
    other = parse_config("sources: {a: {platform: slack, channels: [C1]}, b: {platform: slack}}")
    mentions = ChannelWatch.from_config(other).mentions
    assert mentions is not None and mentions.id == "b"


def test_values_and_snoozes() -> None:
    assert parse_value("12:34:2h") == (12, 34, "2h")
    assert parse_value("12:") == (12, None, "")
    assert parse_value("x:1") is None
    now = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)  # Sunday 00:30 in Berlin; DST starts
    assert snooze_until("tomorrow", now, "Europe/Berlin") == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    assert snooze_until("never", now, "UTC") is None


def test_rendering_helpers() -> None:
    assert [duration(s) for s in (5, 60, 3600, 3660, 86400, 90000)] == [
        "5s",
        "1m",
        "1h",
        "1h 1m",
        "1d",
        "1d 1h",
    ]
    assert escape("<&>") == "&lt;&amp;&gt;"
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    lines = [TranscriptLine("U0CUSTOMER", False, now, "x" * 500) for _ in range(20)]
    rich = transcript(lines, "slack", "UTC", now)
    assert rich is not None and rich["type"] == "rich_text"
    quotes = [e["elements"][0]["text"] for e in rich["elements"] if e["type"] == "rich_text_quote"]
    assert 0 < len(quotes) < 20 and sum(map(len, quotes)) <= 3000  # the oldest lines went
    assert rich["elements"][0]["elements"][0] == {"type": "user", "user_id": "U0CUSTOMER"}


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=12),
    st.sampled_from(
        [
            "1700000000.000100",
            "C1",
            "U0ALICE01",
            "message_changed",
            "message_deleted",
            "file_share",
            "tombstone",
            "T0OURS",
        ]
    ),
)
keys = st.sampled_from(
    [
        "type",
        "subtype",
        "channel",
        "user",
        "text",
        "ts",
        "thread_ts",
        "deleted_ts",
        "message",
        "previous_message",
        "edited",
        "files",
        "user_team",
        "bot_id",
        "user_profile",
        "name",
        "title",
    ]
)
payloads = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=6)),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, payloads, max_size=8))
def test_no_payload_makes_translation_raise(body: dict[str, Any]) -> None:
    translate(body, CONFIG.sources["acme"], WATCH, GRID)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, payloads, max_size=8))
def test_what_translation_reads_is_never_called_unreadable(body: dict[str, Any]) -> None:
    """``unreadable`` never raises, and never turns a message ``translate`` reads into a dead
    letter — save one whose ``thread_ts`` it would misread as a new conversation."""
    reason = unreadable(body)
    read = translate(body, CONFIG.sources["acme"], WATCH, GRID)
    assert read is None or reason is None or reason == "unreadable 'thread_ts'", (reason, read)


def test_unreadable_tells_broken_events_from_ignored_ones() -> None:
    assert unreadable(event()) is None
    assert unreadable(event(ts="soon")) == "unreadable 'ts'"
    assert unreadable(event(channel=7)) == "no readable 'channel'"
    assert unreadable(event(thread_ts=1.5)) == "unreadable 'thread_ts'"
    assert unreadable(event(subtype="message_changed", message=[])) == (
        "message_changed without a 'message' object"
    )
    edit = {"user": "U1", "ts": "1.0", "edited": {"ts": "later"}}
    assert unreadable(event(subtype="message_changed", message=edit)) == (
        "unreadable 'message.edited.ts'"
    )
    for ignored in (
        event(subtype="channel_join", ts="x"),
        event(bot_id="B2", ts="x"),
        event(user="", ts="x"),
        event(subtype="message_changed", message={"ts": "x", "user": "U1"}),  # no edit
        event(subtype="message_deleted", previous_message={"bot_id": "B1"}, ts="x"),
        {"type": "message"},
    ):
        assert unreadable(ignored) is None, ignored
