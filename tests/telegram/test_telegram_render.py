"""adapters/telegram/render.py as pure functions: whole messages compared exactly.

No Bot API, no server: this is the file ``make mutation`` runs against render.py (the
integration through the real PTB Bot lives in test_telegram_messenger.py). Times are in the
reader's zone, Europe/Berlin (UTC+1 in November) unless a test says otherwise."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from adapters.telegram import render
from bot.domain.ports import (
    NudgeUpdate,
    NudgeView,
    OnCallItem,
    Outcome,
    Recipient,
    Step,
    TranscriptLine,
    WaitingItem,
)
from tests.fakes.telegram_api import check_html

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)  # a Saturday
MIN = timedelta(minutes=1)
DANA = "Dana <Kim> & Co"
DANA_HTML = "Dana &lt;Kim&gt; &amp; Co"


def view(**changes: object) -> NudgeView:
    base = NudgeView(
        nudge_id=7,
        conversation_id=42,
        step=Step.FIRST,
        recipient=Recipient("telegram", "111", "alice", "Europe/Berlin"),
        source="community",
        platform="telegram",
        channel="-100123",
        thread="4411",
        customer=DANA,
        waiting_since=T0,
        due_at=T0 + 15 * MIN,
        now=T0 + 18 * MIN,
        responsible=("alice", "bob"),
        transcript=(
            TranscriptLine(DANA, False, T0, "Where is <b>my</b> order? 5 > 3 & co"),
            TranscriptLine("Bob", True, T0 + MIN, "looking"),
        ),
        url="https://t.me/c/123/4411?x=1&y=2",
        can_reply=True,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


TRANSCRIPT = (
    f"👤 <b>{DANA_HTML}</b> · 11:00\nWhere is &lt;b&gt;my&lt;/b&gt; order? 5 &gt; 3 &amp; co\n"
    "💬 <b>Bob</b> · 11:01\nlooking"
)
LINK = '<a href="https://t.me/c/123/4411?x=1&amp;y=2">Open the conversation</a>'
PROMPT = f"↩️ <i>Reply to this message to answer {DANA_HTML} — I post it as you.</i>"


# --- whole nudges ---------------------------------------------------------------------------


def test_a_first_nudge_exactly() -> None:
    html = render.nudge_html(view())
    assert html == "\n".join([
        f"⏳ <b>{DANA_HTML}</b> is waiting for a reply",
        "in <b>community</b> (telegram) for <b>18m</b> · since 11:00, due 11:15",
        f"<blockquote>{TRANSCRIPT}</blockquote>",
        LINK,
        PROMPT,
        "<i>Conversation #42</i>",
    ])  # fmt: skip
    assert check_html(html)[0] is None


def test_a_reminder_without_due_time_link_transcript_or_reply() -> None:
    html = render.nudge_html(
        view(step=Step.REMINDER, due_at=None, transcript=(), url="", can_reply=False,
             customer="", source="a<b", platform="x&y")
    )  # fmt: skip
    assert html == "\n".join([
        "⏳ Still waiting: <b>A customer</b>",
        "in <b>a&lt;b</b> (x&amp;y) for <b>18m</b> · since 11:00",
        "<i>Conversation #42</i>",
    ])  # fmt: skip


def test_an_escalation_names_the_responsible_people() -> None:
    html = render.nudge_html(view(step=Step.ESCALATION, responsible=("al<i>", "bob")))
    lines = html.split("\n")
    assert lines[0] == f"🚨 Nobody has answered <b>{DANA_HTML}</b>"
    assert lines[2] == "Responsible: al&lt;i&gt;, bob"
    assert lines[3].startswith("<blockquote>")
    nobody = render.nudge_html(view(step=Step.ESCALATION, responsible=()))
    assert "Responsible" not in nobody
    first = render.nudge_html(view(step=Step.FIRST))
    assert "Responsible" not in first


def test_a_url_that_is_not_safe_gives_no_link() -> None:
    for url in ("javascript:alert(1)", "", "ftp://e.example/x"):
        html = render.nudge_html(view(url=url))
        assert "<a " not in html and "Open the conversation" not in html


def test_the_reply_window_line_and_where_it_goes() -> None:
    waiting = view(reply_window_closes=T0 + 3 * 60 * MIN)
    lines = render.nudge_html(waiting).split("\n")
    assert lines[2] == "⏳ reply within 2h 42m or a template is needed (window closes 14:00)"
    assert lines[3].startswith("<blockquote>")
    claimed = NudgeUpdate(Outcome.CLAIMED, "Bob", T0)
    assert "(window closes 14:00)" in render.nudge_html(waiting, claimed)
    snoozed = NudgeUpdate(Outcome.SNOOZED, "Bob", T0)
    assert "(window closes 14:00)" in render.nudge_html(waiting, snoozed)
    for outcome in (Outcome.ANSWERED, Outcome.NOT_NEEDED):
        assert "window closes" not in render.nudge_html(waiting, NudgeUpdate(outcome, "Bob", T0))
    assert "window closes" not in render.nudge_html(view())


def test_an_update_puts_the_status_first_and_the_prompt_only_while_unresolved() -> None:
    claimed = render.nudge_html(view(), NudgeUpdate(Outcome.CLAIMED, "B<o>b", T0))
    assert claimed.split("\n")[0] == "🙋 <b>Claimed</b> by B&lt;o&gt;b"
    assert claimed.split("\n")[1] == f"⏳ <b>{DANA_HTML}</b> is waiting for a reply"
    assert PROMPT in claimed
    snoozed = render.nudge_html(view(), NudgeUpdate(Outcome.SNOOZED, "Bob", T0))
    assert PROMPT in snoozed
    for outcome in (Outcome.ANSWERED, Outcome.NOT_NEEDED):
        html = render.nudge_html(view(), NudgeUpdate(outcome, "Bob", T0))
        assert "Reply to this message" not in html
        assert html.endswith(f"{LINK}\n<i>Conversation #42</i>")


def test_a_nudge_about_another_platform_says_reply_without_posting() -> None:
    html = render.nudge_html(view(platform="slack"))
    assert f"↩️ <i>Reply to this message to answer {DANA_HTML}.</i>" in html
    assert "I post it as you" not in html


def test_the_customer_name_in_a_nudge_keeps_64_characters() -> None:
    assert f"<b>{'d' * 64}</b> is waiting" in render.nudge_html(view(customer="d" * 64))
    assert f"<b>{'d' * 63}…</b> is waiting" in render.nudge_html(view(customer="d" * 65))
    assert "<b>d d</b> is waiting" in render.nudge_html(view(customer=" d \n d "))


# --- status lines ---------------------------------------------------------------------------


def test_status_line_names_each_outcome() -> None:
    def line(outcome: Outcome, by: str | None = "Bob", **more: object) -> str:
        return render.status_line(NudgeUpdate(outcome, by, T0, **more), "Europe/Berlin")  # type: ignore[arg-type]

    assert line(Outcome.ANSWERED, after_seconds=60) == "✅ <b>Answered</b> by Bob after 1m"
    assert line(Outcome.ANSWERED, after_seconds=0) == "✅ <b>Answered</b> by Bob after 0s"
    assert line(Outcome.ANSWERED) == "✅ <b>Answered</b> by Bob"
    assert line(Outcome.ANSWERED, by=None) == "✅ <b>Answered</b> by someone"
    assert line(Outcome.CLAIMED, by="<x>") == "🙋 <b>Claimed</b> by &lt;x&gt;"
    assert line(Outcome.SNOOZED) == "⏰ <b>Snoozed</b> by Bob"
    assert line(Outcome.SNOOZED, until=T0 + 30 * MIN) == "⏰ <b>Snoozed</b> until 11:30 by Bob"
    two_days = T0 + 2 * 24 * 60 * MIN
    assert (
        line(Outcome.SNOOZED, until=two_days) == "⏰ <b>Snoozed</b> until Mon 30 Nov 11:00 by Bob"
    )
    assert line(Outcome.NOT_NEEDED) == "✖ <b>Not needed</b> — Bob"


# --- keyboard -------------------------------------------------------------------------------


def _buttons(markup: object) -> list[list[tuple[str, str]]]:
    assert markup is not None
    rows = markup.inline_keyboard  # type: ignore[attr-defined]
    return [[(b.text, b.callback_data) for b in row] for row in rows]


SNOOZES = [("⏰ 30m", "nb:s30m:7:42"), ("⏰ 2h", "nb:s2h:7:42"), ("⏰ Tomorrow", "nb:stom:7:42")]


def test_the_keyboard_claims_snoozes_and_closes() -> None:
    claim, close = ("🙋 Claim", "nb:claim:7:42"), ("✖ Not needed", "nb:nn:7:42")
    assert _buttons(render.keyboard(view())) == [[claim, close], SNOOZES]
    snoozed = NudgeUpdate(Outcome.SNOOZED, "Bob", T0)
    assert _buttons(render.keyboard(view(), snoozed)) == [[claim, close], SNOOZES]
    claimed = NudgeUpdate(Outcome.CLAIMED, "Bob", T0)
    assert _buttons(render.keyboard(view(), claimed)) == [[close], SNOOZES]
    for outcome in (Outcome.ANSWERED, Outcome.NOT_NEEDED):
        assert render.keyboard(view(), NudgeUpdate(outcome, "Bob", T0)) is None


# --- clock and zones ------------------------------------------------------------------------


def test_clock_shows_the_date_only_when_it_is_not_today() -> None:
    assert render.clock(T0, "UTC") == "10:00"  # without ``now``: the instant's own day
    assert render.clock(T0, "UTC", now=T0 + 2 * 24 * 60 * MIN) == "Sat 28 Nov 10:00"
    assert render.clock(T0, "UTC", now=T0 + 60 * MIN) == "10:00"
    # 23:30 UTC is already the next day in Berlin: the reader's day decides.
    late = T0 + 13 * 60 * MIN + 30 * MIN
    assert render.clock(late, "Europe/Berlin", now=T0) == "Sun 29 Nov 00:30"
    assert render.clock(late, "UTC", now=T0) == "23:30"


@pytest.mark.parametrize("zone", ["Not/AZone", "", "../etc", "a\x00b"])
def test_an_unknown_zone_reads_as_utc(zone: str) -> None:
    assert render.clock(T0, zone) == "10:00"


# --- transcripts ----------------------------------------------------------------------------


def test_a_transcript_line_keeps_300_characters() -> None:
    def shown(text: str) -> str:
        line = TranscriptLine("Dana", False, T0, text)
        return render.transcript(view(transcript=(line,))).split("\n", 1)[1]

    assert shown("a" * 300) == "a" * 300
    assert shown("a" * 301) == "a" * 299 + "…"
    assert shown("  a \n\t b  ") == "a b"


def test_transcript_marks_customer_and_team_and_trims_authors_to_64() -> None:
    lines = (
        TranscriptLine("c" * 64, False, T0, "hi"),
        TranscriptLine("t" * 65, True, T0 + MIN, "hello"),
    )
    customer, team = render.transcript(view(transcript=lines)).split("\n")[::2]
    assert customer == f"👤 <b>{'c' * 64}</b> · 11:00"
    assert team == f"💬 <b>{'t' * 63}…</b> · 11:01"


def test_the_transcript_holds_at_most_3800_characters() -> None:
    # Eleven full lines, then an oldest line sized so that all of them take exactly 3800
    # characters (each counted with its newline): it fits; one character more and it is "…".
    newest = [TranscriptLine("Dana", False, T0 + i * MIN, "n" * 300) for i in range(1, 12)]
    used = sum(len(render.transcript(view(transcript=(line,)))) + 1 for line in newest)
    head = len(render.transcript(view(transcript=(TranscriptLine("Dana", False, T0, ""),))))
    size = 3800 - used - head - 1

    def lines(n: int) -> tuple[TranscriptLine, ...]:
        return (TranscriptLine("Dana", False, T0, "o" * n), *newest)

    fits = render.transcript(view(transcript=lines(size)))
    assert fits.startswith("👤") and "o" * size in fits and len(fits) == 3800 - 1
    cut = render.transcript(view(transcript=lines(size + 1)))
    assert cut.startswith("…\n") and "o" not in cut.replace("Dana", "")
    # Trimming stops at the first line that does not fit: no older, shorter line after a gap.
    older = TranscriptLine("Dana", False, T0 - MIN, "z")
    gap = render.transcript(view(transcript=(older, *lines(size + 1))))
    assert gap == cut


def test_a_transcript_keeps_the_newest_line_even_when_it_alone_is_over_budget() -> None:
    line = TranscriptLine("Dana", False, T0, "x" * 300)
    alone = render.transcript(view(transcript=(line,)), budget=10)
    assert alone == "👤 <b>Dana</b> · 11:00\n" + "x" * 300
    two = render.transcript(view(transcript=(line, line)), budget=10)
    assert two == "…\n" + alone


def test_a_long_transcript_keeps_the_newest_and_fits_a_message() -> None:
    lines = tuple(
        TranscriptLine("Dana", False, T0 + i * MIN, f"message {i} " + "&<" * 400) for i in range(60)
    )
    html = render.nudge_html(view(transcript=lines))
    problem, shown = check_html(html)
    assert problem is None
    assert len(shown) <= render.MAX_MESSAGE
    assert "message 59" in html and "message 0 " not in html
    assert render.MAX_MESSAGE == 4096  # Telegram's limit for one message


# --- lists ----------------------------------------------------------------------------------


def item(n: int, **changes: object) -> WaitingItem:
    base = WaitingItem(n, "community", "telegram", "-100", f"c{n}", T0, None, False,
                       ("alice",), "hi", "")  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_waiting_list_row_exactly() -> None:
    rows = [
        item(5, customer="D<a>", overdue=True, responsible=("al", "bo"), source="s&",
             url="https://e.example/?a=1&b=2", last_message="  last\n words  "),
        item(6, customer="", responsible=(), waiting_since=T0 - 90 * MIN, url="javascript:x"),
    ]  # fmt: skip
    assert render.waiting_list(rows, "UTC", T0 + MIN, "Wait<ing>") == "\n".join([
        "<b>Wait&lt;ing&gt;</b> (2)",
        "🔴 #5 <b>D&lt;a&gt;</b> in s&amp; · 1m → al, bo · "
        '<a href="https://e.example/?a=1&amp;b=2">open</a>',
        "    last words",
        "🟡 #6 <b>?</b> in community · 1h 31m → nobody",
        "    hi",
    ])  # fmt: skip


def test_a_waiting_list_trims_names_to_40_and_messages_to_80() -> None:
    row = render.waiting_list([item(1, customer="c" * 41, last_message="m" * 81)], "UTC", T0, "W")
    assert f"<b>{'c' * 39}…</b>" in row and f"    {'m' * 79}…" in row
    row = render.waiting_list([item(1, customer="c" * 40, last_message="m" * 80)], "UTC", T0, "W")
    assert f"<b>{'c' * 40}</b>" in row and row.endswith(f"    {'m' * 80}")


def test_an_empty_waiting_list_says_so() -> None:
    assert render.waiting_list([], "UTC", T0, "A&B") == "<b>A&amp;B</b>\nNobody is waiting. 🎉"


def test_waiting_list_shows_20_rows_and_counts_the_rest() -> None:
    twenty = render.waiting_list([item(n) for n in range(20)], "UTC", T0, "Waiting")
    assert twenty.count("\n    hi") == 20 and "more" not in twenty
    more = render.waiting_list([item(n) for n in range(22)], "UTC", T0, "Waiting")
    assert more.count("\n    hi") == 20 and more.endswith("… and 2 more")
    assert more.startswith("<b>Waiting</b> (22)")
    assert "#19 " in more and "#20 " not in more


def test_the_oncall_list_exactly() -> None:
    assert render.oncall_list([], "UTC", T0) == "No rotations are configured."
    rows = [
        OnCallItem("ops<1>", "al&", T0 - MIN, T0 + 60 * MIN, "b<o>"),
        OnCallItem("night", None, None, None, None),
        OnCallItem("day", "cy", None, T0 + 3 * 24 * 60 * MIN, None),
    ]
    assert render.oncall_list(rows, "Europe/Berlin", T0) == "\n".join([
        "<b>On call</b>",
        "• ops&lt;1&gt;: <b>al&amp;</b> until 12:00, then b&lt;o&gt;",
        "• night: <b>nobody</b>",
        "• day: <b>cy</b> until Tue 01 Dec 11:00",
    ])  # fmt: skip


# --- template text, commands ----------------------------------------------------------------


def test_markdown_light_turns_the_templates_marks_into_html_and_escapes_the_rest() -> None:
    text = "**Hi** `x<y>` <z> & [open](https://e.example/?a=1&b=2) [bad](javascript:x)"
    assert render.markdown_light(text) == (
        "<b>Hi</b> <code>x&lt;y&gt;</code> &lt;z&gt; &amp; "
        '<a href="https://e.example/?a=1&amp;b=2">open</a> [bad](javascript:x)'
    )
    assert render.markdown_light("") == ""


def test_whoami_names_the_ids_and_the_person() -> None:
    assert render.whoami(5, -7, "group<x>", None) == (
        "Your Telegram user id: <code>5</code>\nThis chat's id: <code>-7</code> (group&lt;x&gt;)"
    )
    assert render.whoami(5, 5, "private", "a<b>").endswith(
        "(private)\nYou are <b>a&lt;b&gt;</b> in the team config."
    )


def test_the_fixed_texts_are_valid_telegram_html() -> None:
    for text in (render.HELP, render.REFUSAL, render.TEAM_NOTE, render.UNKNOWN,
                 render.esc(render.REFUSAL)):  # fmt: skip
        assert check_html(text)[0] is None
    assert render.esc("<a href='x'>&\"") == "&lt;a href=&#x27;x&#x27;&gt;&amp;&quot;"
