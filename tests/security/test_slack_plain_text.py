"""Issue 14 item 1, the rest of it: escaping ``& < >`` stops mentions and links in mrkdwn,
but nothing can escape ``*bold*``, ``_italic_`` or ``~strike~``. So customer-authored text
(the name, the message words) in a Slack nudge lands only in fields Slack never parses:
``plain_text`` objects and ``rich_text`` ``text`` elements. Every payload is valid Block Kit
by slack_sdk's own models (lengths, element counts) plus Slack's 1-character minimum."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from adapters.slack import blocks
from bot.domain.ports import NudgeUpdate, Outcome, Step, TranscriptLine
from bot.domain.untrusted import safe_url
from tests.security.corpus import HOSTILE
from tests.security.test_untrusted_text import NOW, OURS_URL, view

NAME, WORDS = "Zq9Name", "Wv7Words"  # markers: found only where customer text went
MARKUP = ["*bold*", "_italic_", "~strike~", "`code`", "> quote", "<!channel>", "<@U0ALICE01>"]


def texts(value: Any, kind: str) -> list[str]:
    """Every ``text`` string of objects of type ``kind`` (mrkdwn, plain_text, text)."""
    if isinstance(value, dict):
        own = [value["text"]] if value.get("type") == kind and "text" in value else []
        return own + [t for v in value.values() for t in texts(v, kind)]
    if isinstance(value, list):
        return [t for v in value for t in texts(v, kind)]
    return []


def assert_valid_block_kit(payload: list[dict[str, Any]]) -> None:
    assert 0 < len(payload) <= 50
    for raw in payload:
        Block.parse(raw).validate_json()  # type: ignore[union-attr]  # raises on a bad block
    for text in texts(payload, "plain_text") + texts(payload, "text"):
        assert 1 <= len(text) <= 3000
        text.encode("utf-8")  # no lone surrogate: Slack would refuse the whole message
    for text in texts(payload, "mrkdwn"):
        assert 1 <= len(text) <= 3000


def payloads(s: str, platform: str) -> list[list[dict[str, Any]]]:
    v = view(NAME + s, platform=platform)
    lines = (
        TranscriptLine(NAME + s, False, NOW - timedelta(minutes=5), WORDS + s),
        TranscriptLine("U0BOB0002" if platform == "slack" else "bob", True, NOW, WORDS + s),
        TranscriptLine(NAME + s, False, NOW, ""),
    )
    v = replace(v, transcript=lines)
    out = []
    for step in (Step.FIRST, Step.REMINDER, Step.ESCALATION):
        sv = replace(v, step=step)
        out.append(blocks.nudge_blocks(sv, OURS_URL, str))
        for outcome in (Outcome.CLAIMED, Outcome.ANSWERED, Outcome.SNOOZED):
            update = NudgeUpdate(outcome, "bob", NOW, until=NOW + timedelta(hours=2))
            out.append(blocks.updated_blocks(sv, update, OURS_URL, str))
    return out


@pytest.mark.parametrize("s", HOSTILE + MARKUP)
@pytest.mark.parametrize("platform", ["mastodon", "telegram", "webhook"])
def test_customer_text_never_lands_in_mrkdwn(s: str, platform: str) -> None:
    for payload in payloads(s, platform):
        assert_valid_block_kit(payload)
        for text in texts(payload, "mrkdwn"):
            assert NAME not in text and WORDS not in text, text[:200]
        # The name is shown, as written, in plain_text; the words in rich_text text.
        assert any(t.startswith(NAME) for t in texts(payload, "plain_text"))
        assert any(t.startswith(WORDS) for t in texts(payload, "text"))
        assert all(e.get("emoji") is False for e in _plain(payload) if NAME in e["text"])
    v = view(NAME + s, platform=platform)
    assert NAME not in blocks.fallback(v)  # the notification text is mrkdwn too


def _plain(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        own = [value] if value.get("type") == "plain_text" else []
        return own + [e for v in value.values() for e in _plain(v)]
    if isinstance(value, list):
        return [e for v in value for e in _plain(v)]
    return []


def test_a_slack_customer_is_a_mention_built_from_a_checked_id() -> None:
    v = replace(view("U0CUST0001", platform="slack"), transcript=(
        TranscriptLine("U0CUST0001", False, NOW, "*not bold* <!here>"),
    ))  # fmt: skip
    payload = blocks.nudge_blocks(v, OURS_URL, str)
    assert_valid_block_kit(payload)
    assert "<@U0CUST0001>" in payload[0]["text"]["text"]
    [rich] = [b for b in payload if b["type"] == "rich_text"]
    head, quote = rich["elements"]
    assert head["elements"][0] == {"type": "user", "user_id": "U0CUST0001"}
    assert quote == {
        "type": "rich_text_quote",
        "elements": [{"type": "text", "text": "*not bold* <!here>"}],
    }
    assert blocks.fallback(v).startswith("<@U0CUST0001> is waiting")


def test_a_long_transcript_stays_within_limits_newest_kept() -> None:
    lines = tuple(
        TranscriptLine(NAME, False, NOW - timedelta(minutes=60 - i), f"{WORDS}{i} " + "x" * 600)
        for i in range(40)
    )
    v = replace(view(NAME * 500), transcript=lines)
    payload = blocks.nudge_blocks(v, OURS_URL, str)
    assert_valid_block_kit(payload)
    words = [t for t in texts(payload, "text") if t.startswith(WORDS)]
    assert words and words[-1].startswith(f"{WORDS}39 ")  # the newest survive
    assert sum(len(t) for t in texts(payload, "text")) <= blocks.SECTION_LIMIT


@pytest.mark.parametrize("s", HOSTILE + MARKUP)
def test_waiting_lists_home_and_summaries_keep_names_out_of_mrkdwn(s: str) -> None:
    """/waiting, App Home and nudge summaries: the name is a rich_text text element."""
    from adapters.slack import views
    from adapters.slack.summary_blocks import summary_blocks
    from bot.domain.ports import Recipient
    from bot.domain.summary import SummaryItem, SummaryReason, SummaryView
    from tests.security.test_untrusted_text import waiting_item

    items = [waiting_item(NAME + s, s), waiting_item(NAME + s, OURS_URL)]
    lists = [
        views.waiting_blocks(items * 20, NOW, str, title="Waiting"),
        views.home_view(items, items * 30, NOW, "UTC", str)["blocks"],
    ]
    summary = SummaryView(
        summary_id=1, recipient=Recipient("slack", "U0ALICE01", "alice", "UTC"),
        reason=SummaryReason.BATCH, now=NOW, waiting=40, escalated=0,
        oldest=tuple(
            SummaryItem(i, i, NAME + s, "acme", "mastodon", "C0CUST001",
                        NOW - timedelta(hours=1), url, True)
            for i, url in enumerate((s, OURS_URL))
        ),
    )  # fmt: skip
    lists.append(summary_blocks(summary, str))
    for payload in lists:
        assert len(payload) <= 100  # App Home's limit (messages: 50, checked above)
        for raw in payload:
            Block.parse(raw).validate_json()  # type: ignore[union-attr]
        for text in texts(payload, "mrkdwn"):
            assert NAME not in text, text[:200]
        names = [t for t in texts(payload, "text") if t.startswith(NAME[:4])]
        assert names and all(len(t) <= 80 for t in names)
        for element in _links(payload):  # http(s) only, nothing that could close a link
            assert safe_url(element["url"]) and not set("|<> ") & set(element["url"])
            assert element["text"] in ("open", "Open thread")  # the label is always ours


def _links(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        own = [value] if value.get("type") == "link" else []
        return own + [e for v in value.values() for e in _links(v)]
    if isinstance(value, list):
        return [e for v in value for e in _links(v)]
    return []
