"""Issue 14 items 1, 3, 6, 7: whatever a customer writes, every renderer shows it as text.

For Slack mrkdwn, Telegram HTML, the Markdown-light of the digest and hand-offs, and the
terminal: no live mention, link, markup or control sequence comes out that the renderer's
own template did not put there.
"""

from __future__ import annotations

import re
from dataclasses import FrozenInstanceError, replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings

from adapters.slack import blocks, views
from adapters.telegram import render
from bot.domain.events import Author, InboundMessage
from bot.domain.ports import (
    NudgeUpdate,
    NudgeView,
    Outcome,
    Recipient,
    Step,
    TranscriptLine,
    WaitingItem,
)
from bot.domain.untrusted import (
    Bold,
    Code,
    Link,
    Plain,
    html_link,
    html_text,
    md_display,
    md_link,
    md_literal,
    md_parse,
    safe_url,
    slack_link,
    slack_text,
    slack_url,
    terminal,
    valid_text,
)
from bot.services.digest import DigestWriter
from storage.report_queries import SlowPeriod
from tests.security.corpus import HOSTILE, KEEP, hostile_text

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
CHANNEL, ALICE = "C0CUST001", "U0ALICE01"
OURS_URL = "https://acme.slack.com/archives/C0CUST001/p1"


def view(s: str, *, platform: str = "mastodon", url: str = OURS_URL) -> NudgeView:
    return NudgeView(
        nudge_id=7, conversation_id=3, step=Step.ESCALATION,
        recipient=Recipient("slack", ALICE, "alice", "Europe/Berlin"),
        source="acme", platform=platform, channel=CHANNEL, thread="1.2", customer=s,
        waiting_since=NOW - timedelta(minutes=18), due_at=NOW, now=NOW, responsible=("alice",),
        transcript=(TranscriptLine(s, False, NOW, s), TranscriptLine("bob", True, NOW, s)),
        url=url, can_reply=True,
    )  # fmt: skip


def waiting_item(s: str, url: str) -> WaitingItem:
    return WaitingItem(
        conversation_id=3, source="acme", platform="mastodon", channel=CHANNEL, customer=s,
        waiting_since=NOW - timedelta(hours=1), due_at=NOW, overdue=True, responsible=("alice",),
        last_message=s, url=url,
    )  # fmt: skip


# Slack ------------------------------------------------------------------------------------

_CONSTRUCT = re.compile(r"<([^<>]*)>")
_OUR_LINK = re.compile(r"https?://[^|<>\s]+\|(Open thread|open)")


def mrkdwn_texts(value: Any) -> list[str]:
    """Every string Slack parses as mrkdwn in a Block Kit payload (plain_text is literal)."""
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn" and isinstance(value.get("text"), str):
            return [value["text"]]
        return [t for v in value.values() for t in mrkdwn_texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in mrkdwn_texts(v)]
    return []


def assert_slack_safe(text: str) -> None:
    """Only our constructs: the recipient's own mention, the source channel, our links."""
    for inner in _CONSTRUCT.findall(text):
        assert inner in (f"@{ALICE}", f"#{CHANNEL}") or _OUR_LINK.fullmatch(inner), inner
    # Slack decodes exactly these three entities; a bare & could start one of ours.
    assert re.fullmatch(r"(?:[^&]|&amp;|&lt;|&gt;)*", text, re.DOTALL), text[:200]
    assert not re.search(r"[\ud800-\udfff]", text)


@given(hostile_text)
@settings(max_examples=300, deadline=None)
def test_slack_text_never_forms_a_construct(s: str) -> None:
    out = slack_text(s)
    assert "<" not in out and ">" not in out
    assert_slack_safe(out)


@pytest.mark.parametrize("s", HOSTILE)
def test_slack_nudge_and_escalation_carry_no_live_mention_or_link(s: str) -> None:
    for platform in ("mastodon", "webhook"):
        for url in (s, OURS_URL, ""):
            v = view(s, platform=platform, url=url)
            link = url
            payload = blocks.nudge_blocks(v, link, lambda p: s)
            for text in [*mrkdwn_texts(payload), blocks.fallback(v)]:
                assert_slack_safe(text)
            update = NudgeUpdate(Outcome.CLAIMED, s, NOW)
            for text in mrkdwn_texts(blocks.updated_blocks(v, update, link, lambda p: s)):
                assert_slack_safe(text)


def test_the_reported_attack_is_text() -> None:
    """The issue's reproduction: a fediverse customer and a status URL built to phish."""
    name = "<!channel> Mallory"
    url = (
        "https://x|Open thread> <!channel> <https://evil.example/reset|Your Slack password expired…"
    )
    payload = blocks.nudge_blocks(view(name, url=url), url, str)
    joined = "\n".join(mrkdwn_texts(payload)) + blocks.fallback(view(name, url=url))
    assert "<!channel>" not in joined and "evil.example/reset|" not in joined
    # The name is shown as written, in a plain_text element Slack never parses (issue 14).
    assert {"type": "plain_text", "text": name, "emoji": False} in [
        e for b in payload if b["type"] == "context" for e in b["elements"]
    ]


@pytest.mark.parametrize("s", HOSTILE)
def test_slack_views_waiting_home_and_digest_markdown(s: str) -> None:
    items = [waiting_item(s, s), waiting_item(s, OURS_URL)]
    for block in views.waiting_blocks(items, NOW, lambda p: s, title=s):
        for text in mrkdwn_texts(block):
            assert_slack_safe(text)
    home = views.home_view(items, items, NOW, "Europe/Berlin", lambda p: s)
    for text in mrkdwn_texts(home):
        assert_slack_safe(text)
    rendered = views.mrkdwn(f"**Weekly** {md_literal(s)} · [open]({OURS_URL})")
    assert_slack_safe(rendered.replace(f"<{OURS_URL}|open>", ""))
    assert rendered.count("<") == 1


@given(hostile_text)
@settings(max_examples=300, deadline=None)
def test_slack_link_url_is_http_and_cannot_break_out(s: str) -> None:
    out = slack_link(s, "open")
    if safe_url(s) is None:
        assert out == "open"
    else:
        assert re.fullmatch(r"<https?://[^|<>\s]+\|open>", out, re.IGNORECASE), out


# Telegram HTML ----------------------------------------------------------------------------


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, tuple[tuple[str, str | None], ...]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, tuple(attrs)))


def tags(markup: str) -> list[tuple[str, tuple[tuple[str, str | None], ...]]]:
    parser = Tags()
    parser.feed(markup)
    parser.close()
    return parser.tags


def assert_same_markup(hostile: str, benign: str) -> None:
    """The hostile render has exactly the tags (and hrefs) of the benign one."""
    got, want = tags(hostile), tags(benign)
    assert [t for t, _ in got] == [t for t, _ in want]
    for tag, attrs in got:
        if tag == "a":
            href = dict(attrs)["href"]
            assert href is not None and safe_url(href) is not None
    assert not re.search(r"[\ud800-\udfff]", hostile)


@pytest.mark.parametrize("s", HOSTILE)
def test_telegram_nudge_and_waiting_escape_everything(s: str) -> None:
    url = s if safe_url(s) else ""
    benign_url = "https://ok.example/" if url else ""
    for step in Step:
        v, ok = replace(view(s, url=s), step=step), replace(view("Dana", url=benign_url), step=step)
        lines = tuple(replace(t, author="Dana", text="hi") for t in ok.transcript)
        ok = replace(ok, transcript=lines)
        upd, ok_upd = NudgeUpdate(Outcome.SNOOZED, s, NOW), NudgeUpdate(Outcome.SNOOZED, "b", NOW)
        assert_same_markup(render.nudge_html(v, upd), render.nudge_html(ok, ok_upd))
    hostile = render.waiting_list([waiting_item(s, s)], "UTC", NOW, s)
    benign = render.waiting_list([waiting_item("Dana", benign_url)], "UTC", NOW, "t")
    assert_same_markup(hostile, benign)


@given(hostile_text)
@settings(max_examples=300, deadline=None)
def test_telegram_markdown_light_keeps_values_as_text(s: str) -> None:
    template = "**Weekly digest for {}** · [open](https://ok.example/) `x{}`"
    hostile = render.markdown_light(template.format(md_literal(s), md_literal(s)))
    benign = render.markdown_light(template.format("Bob", "x"))
    assert_same_markup(hostile, benign)


def test_telegram_links_only_http() -> None:
    for scheme in ("tg://resolve?domain=evil", "javascript:alert(1)", "data:text/html,x"):
        html = render.nudge_html(view("Dana", url=scheme))
        assert "<a " not in html and "Open the conversation" not in html
        assert "<a " not in render.waiting_list([waiting_item("D", scheme)], "UTC", NOW, "t")


# Markdown-light ---------------------------------------------------------------------------


@given(hostile_text)
@settings(max_examples=500, deadline=None)
def test_md_literal_parses_back_as_plain_text(s: str) -> None:
    expected = [Plain(valid_text(s))] if s else []
    assert md_parse(md_literal(s)) == expected
    assert md_display(md_literal(s)) == valid_text(s)


@pytest.mark.parametrize("s", HOSTILE)
def test_digest_formats_its_template_never_the_names(s: str) -> None:
    writer = DigestWriter(None, _Config(), None)  # type: ignore[arg-type]
    report = {
        "replies": 1, "broadcasts": 0, "unanswered": 0, "sla_met_ratio": 1.0,
        "engagement": {"weeks": [{"conversations": 1, "answered": 1}]},
        "first_response": {"median_seconds": 60, "p90_seconds": 60, "count": 1},
        "reply": {"median_seconds": 60, "p90_seconds": 60, "count": 1},
    }  # fmt: skip
    slow = [SlowPeriod(1, s, s, NOW, None, None, 60, url) for url in (s, OURS_URL)]
    oncall = {"rotations": {s: {"on_call": s, "until": s, "next": s}}}
    monday = datetime(2026, 11, 23).date()
    text = writer.render(None, "2026-W48", monday, report, report, slow, oncall, ZoneInfo("UTC"))
    benign_slow = [SlowPeriod(1, "a", "b", NOW, None, None, 60, u) for u in (s, OURS_URL)]
    benign_oncall = {"rotations": {"r": {"on_call": "p", "until": "", "next": "q"}}}
    benign = writer.render(
        None, "2026-W48", monday, report, report, benign_slow, benign_oncall, ZoneInfo("UTC")
    )
    assert [type(t) for t in md_parse(text) if not isinstance(t, Plain)] == [
        type(t) for t in md_parse(benign) if not isinstance(t, Plain)
    ]
    slack = views.mrkdwn(text)
    links = re.findall(r"<[^<>]*>", slack)
    assert all(_OUR_LINK.fullmatch(link[1:-1]) for link in links)
    assert_same_markup(render.markdown_light(text), render.markdown_light(benign))


class _Config:
    rotations: ClassVar[dict[str, object]] = {}

    @staticmethod
    def person(_id: str) -> None:
        return None

    @staticmethod
    def display_name(person_id: str) -> str:  # as Config's for someone not on the team
        return person_id


# Terminal ---------------------------------------------------------------------------------

_ACTIVE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


@given(hostile_text)
@settings(max_examples=500, deadline=None)
def test_terminal_shows_no_control_sequence(s: str) -> None:
    out = terminal(s)
    assert not _ACTIVE.search(out)
    multi = terminal(s, one_line=False)  # newlines and tabs are the only controls kept
    assert not _ACTIVE.search(multi.replace("\n", "").replace("\t", ""))


@pytest.mark.parametrize("s", KEEP)
def test_terminal_keeps_every_script_and_emoji(s: str) -> None:
    assert terminal(s) == s


def test_ingest_keeps_only_http_links() -> None:
    def msg(url: str) -> InboundMessage:
        return InboundMessage("s", "webhook", "m", "t", NOW, Author("c"), False, url=url)

    assert msg("https://ok.example/a").url == "https://ok.example/a"
    for bad in ("javascript:alert(1)", "tg://x", "https://x|y> <!channel>", "data:,x", "ftp://x",
                "https://good.example@evil.example/"):  # fmt: skip
        assert msg(bad).url == ""


# Exact edges (found by `make mutation ONLY=untrusted`) ---------------------------------------


def test_safe_url_length_limit_is_2048_characters() -> None:
    for head in ("https://e.example/", "https://e.example:8443/"):  # fast path and urlsplit path
        at_limit = head + "a" * (2048 - len(head))
        assert safe_url(at_limit) == at_limit
        assert safe_url(at_limit + "a") is None


def test_safe_url_needs_a_host() -> None:
    for url in ("https:///path", "http://:80/x", "https://?q", "https://#f"):
        assert safe_url(url) is None, url


def test_lone_surrogates_at_both_ends_of_the_range_are_replaced() -> None:
    for s in ("\ud800", "\udbff", "\udc00", "\udfff"):
        assert valid_text(f"a{s}b") == "a\ufffdb"
    assert valid_text("a\ud7ff\ue000b") == "a\ud7ff\ue000b"  # neighbours are ordinary text


def test_markdown_light_edges_stay_plain() -> None:
    for text in ("****", "``", "**", "a\\", "[](https://e.example/)", "[a]()", "[a](", "[a]"):
        assert md_parse(text) == [Plain(text)], text
    # An escaped closer closes nothing, the last character included.
    assert md_parse("*a\\*") == [Plain("*a*")]
    assert md_parse("`a\\`") == [Plain("`a`")]
    assert md_parse("[a](https://e.example/\\)") == [Plain("[a](https://e.example/)")]
    assert md_parse("**b**`c`[l](https://e.example/)\\*") == [
        Bold("b"), Code("c"), Link("l", "https://e.example/"), Plain("*"),
    ]  # fmt: skip
    assert md_display("**b** `c` [l](https://e.example/) \\*") == (
        "**b** `c` [l](https://e.example/) *"
    )


def test_tokens_are_values() -> None:
    tokens = {Plain("a"), Bold("b"), Code("c"), Link("l", "https://e.example/")}
    assert len(tokens) == 4
    with pytest.raises(FrozenInstanceError):
        Plain("a").text = "b"  # type: ignore[misc]


def test_terminal_one_line_is_the_default() -> None:
    assert terminal("a\nb\r\tc") == "a\\nb\\x0d c"
    assert terminal("a\nb\r\tc", one_line=False) == "a\nb\\x0d\tc"


def test_html_link_and_text_exactly() -> None:
    assert html_link('https://e.example/a(b)|c?q=1&r="x"', "x<y") == (
        '<a href="https://e.example/a%28b%29%7Cc?q=1&amp;r=%22x%22">x&lt;y</a>'
    )
    assert html_link("javascript:alert(1)", "x<y") == "x&lt;y"
    assert html_link(None, "l") == "l"
    assert html_text("\"'<&>") == "&quot;&#x27;&lt;&amp;&gt;"  # safe in text and attributes


def test_md_link_exactly() -> None:
    link = md_link("a]b", "https://e.example/(x)")
    assert link == "[a\\]b](https://e.example/%28x%29)"
    assert md_parse(link) == [Link("a]b", "https://e.example/%28x%29")]
    assert md_link("l*", "javascript:x") == "l\\*"


def test_slack_url_keeps_a_safe_url_and_encodes_slacks_markers() -> None:
    assert slack_url("https://e.example/a|b<c>") == "https://e.example/a%7Cb%3Cc%3E"
    assert slack_url("javascript:alert(1)") is None
