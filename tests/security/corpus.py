"""Hostile strings: what a customer, a forum or a calendar server may hand us.

Used by every security test that renders outside text; each entry is something an attacker
tried (or would try) against a renderer.
"""

from __future__ import annotations

from hypothesis import strategies as st

MENTIONS = [
    "<!channel> Mallory",
    "<!here|here> <!everyone>",
    "<@U0ALICE01> <@W123|boss>",
    "<#C0CUST001|general>",
    "<!subteam^S123|@support>",
    "&lt;!channel&gt;",  # pre-escaped: must stay text, not become a live mention
    "<!date^1392734382^{date}|x>",
]
LINKS = [
    "https://x|Open thread> <!channel> <https://evil.example/reset|Your Slack password expired…",
    "<https://evil.example|https://good.example>",
    "[click](https://evil.example)",
    "[x](javascript:alert(1))",
    "javascript:alert(1)",
    "tg://resolve?domain=evil",
    "data:text/html,<script>alert(1)</script>",
    "https://good.example/a b\nc",
    "https://ok.example/path?(a)|b<c>",
    "file:///etc/passwd",
    "//evil.example/no-scheme",
    "https:///nohost",
]
MARKUP = [
    "*bold* _it_ ~strike~ `code` ```block```",
    "**[phish](https://evil.example)**",
    "<b>bold</b><a href='https://evil.example'>x</a><script>alert(1)</script>",
    '<a href="tg://x">tap</a> &amp; &#60;b&#62;',
    "\\*escaped\\* \\[x\\](https://evil.example)",
    "> quoted\n>> more",
    '[x](https://evil.example "title")',
    "[b](https://a.example)(https://b.example)",
]
INVISIBLE = [
    "zero\u200bwidth\u200cjoin\u200dme\ufeff",
    "bidi \u202eevil\u202c \u2066iso\u2069 \u200f\u200e \u061c",
    "line\u2028sep\u2029para",
]
TERMINAL = [
    "\x1b[2J\x1b[H cleared",
    "\x1b]0;owned title\x07",
    "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "\x1b[8mhidden\x1b[0m",
    "\x9b2J c1 csi \x9d0;osc\x9c",
    "bell\x07 backspace\x08\x08 del\x7f cr\rover",
    "[bold red]rich markup[/] [link=https://evil.example]x[/link]",
]
KEEP = ["Grüße 👋🏽 👨‍👩‍👧 日本語 عربى עברית हिन्दी ทดสอบ Ωμέγα"]
LONG = ["<!channel>" * 2000, "*" * 50_000, "[" * 20_000 + "](https://x.example)" * 3, "a" * 100_000]
SURROGATES = ["lone \ud800 high", "lone \udfff low", "\udc80\udcff from surrogateescape"]

HOSTILE = MENTIONS + LINKS + MARKUP + INVISIBLE + TERMINAL + KEEP + LONG + SURROGATES

# Hypothesis: arbitrary text (surrogates included), biased towards the characters every
# format treats as special.
_SPECIAL = st.sampled_from(
    [
        *"<>&|*_~`[]()\\!@#^\"'\n\r\t\x1b\x07\x9b\u202e\u200b",
        *["<!channel>", "<@U1>", "https://e.example", "javascript:", "](", "**"],
    ]
)
hostile_text = st.one_of(
    st.sampled_from(HOSTILE),
    st.lists(st.one_of(_SPECIAL, st.text(max_size=8)), max_size=30).map("".join),
    st.text(alphabet=st.characters(exclude_categories=()), max_size=80),
)
