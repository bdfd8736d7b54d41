"""bot/domain/untrusted.py rule by rule, outputs compared exactly (pure, no corpus, no
Hypothesis): the fast file ``make mutation`` runs first against the module. The properties
over hostile input (nothing forms a construct, whatever the text) are in
test_untrusted_text.py."""

from __future__ import annotations

import pytest

from bot.domain.untrusted import (
    MAX_URL,
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

E = "https://e.example/"

# --- safe_url -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        (E + "a?b=1#c", E + "a?b=1#c"),  # the common shape
        ("http://e.example", "http://e.example"),
        (" https://e.example/x \n", "https://e.example/x"),  # surrounding space dropped
        ("HTTPS://E.example/", "HTTPS://E.example/"),  # schemes are case-insensitive
        ("https://e.example:8443/p", "https://e.example:8443/p"),
        ("https://bücher.example/", "https://bücher.example/"),
        ("https://[::1]:80/", "https://[::1]:80/"),
        (E + "a|b^c{d}", E + "a|b^c{d}"),  # kept raw; encoded where it is handed on
    ],
)
def test_safe_url_keeps_http_links_with_a_host(url: str, kept: str) -> None:
    assert safe_url(url) == kept


@pytest.mark.parametrize(
    "url",
    [
        None, "", " ", "\t\n",
        "javascript:alert(1)", "ftp://e.example/", "mailto:a@e.example", "tg://resolve",
        "//e.example/",
        "https://e.example:99999/", "https://e.example:x/",  # a port that is not one
        "https://a@e.example/", "https://a:b@e.example/",  # user info: not a link we hand on
        "https://e.example/a b", "https://e.example/\u202ex", "https://e.example/\x85x",
        "https://e.example/\u2028x", "https://é.example/\ud800",  # controls, bidi, surrogates
        "HTTP://\xa00", "https://e.example/a\u3000b", "https://e\u2009x.example/",  # spaces
        "https:///x", "https://:8443/x",
    ],
)  # fmt: skip
def test_safe_url_refuses_everything_else(url: str | None) -> None:
    assert safe_url(url) is None


def test_safe_url_limit_is_counted_before_the_surrounding_space_is_dropped() -> None:
    assert MAX_URL == 2048
    url = "https://e.example:1/" + "a" * (MAX_URL - 20)
    assert safe_url(url) == url
    assert safe_url(url + " ") is None


# --- plain text -----------------------------------------------------------------------------


def test_valid_text_replaces_only_lone_surrogates() -> None:
    assert valid_text("a\ud800b\udfffc") == "a\ufffdb\ufffdc"
    text = "日本語 👨‍👩‍👧 \ud7ff"
    assert valid_text(text) is text  # the common case is not copied


def test_slack_text_escapes_slacks_three_characters() -> None:
    assert slack_text("<!channel> & <@U1> \ud800 *b* |") == (
        "&lt;!channel&gt; &amp; &lt;@U1&gt; \ufffd *b* |"
    )


def test_slack_link_exactly() -> None:
    assert slack_link(E + "a|b<c>?x=1&y=2", "l&|<") == (
        "<https://e.example/a%7Cb%3Cc%3E?x=1&amp;y=2|l&amp;¦&lt;>"
    )
    assert slack_link("javascript:x", "a|b&") == "a¦b&amp;"
    assert slack_link(None, "l") == "l"
    assert slack_url(E + "(a){b}") == "https://e.example/%28a%29%7Bb%7D"
    assert slack_url(None) is None


def test_every_character_that_would_end_a_url_is_percent_encoded() -> None:
    url = E + '"<>|\\^`{}()'
    assert html_link(url, "l") == (
        '<a href="https://e.example/%22%3C%3E%7C%5C%5E%60%7B%7D%28%29">l</a>'
    )
    assert md_link("l", url) == "[l](https://e.example/%22%3C%3E%7C%5C%5E%60%7B%7D%28%29)"


def test_html_text_and_link_escape_everything() -> None:
    assert html_text("<b>\"x\" & 'y'</b>\ud800") == (
        "&lt;b&gt;&quot;x&quot; &amp; &#x27;y&#x27;&lt;/b&gt;\ufffd"
    )
    assert (
        html_link(E + "?a=1&b=2", "<i>") == '<a href="https://e.example/?a=1&amp;b=2">&lt;i&gt;</a>'
    )
    assert html_link("", "<i>") == "&lt;i&gt;"


# --- Markdown-light -------------------------------------------------------------------------


def test_md_literal_escapes_every_marker() -> None:
    assert md_literal("a*b`c[d]e(f)g\\h_~") == "a\\*b\\`c\\[d\\]e\\(f\\)g\\\\h_~"
    assert md_literal(42) == "42"
    assert md_parse(md_literal("**x** `y` [z](https://e.example/) \\")) == [
        Plain("**x** `y` [z](https://e.example/) \\")
    ]


def test_md_link_exactly() -> None:
    assert md_link("a*", E) == "[a\\*](https://e.example/)"
    assert md_link("a*", None) == "a\\*"


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("a **b** c", [Plain("a "), Bold("b"), Plain(" c")]),
        ("*b*", [Bold("b")]),
        ("**b*", [Plain("*"), Bold("b")]),
        ("*b**", [Bold("b"), Plain("*")]),
        ("**a*b**", [Bold("a*b")]),
        ("`x*y*`", [Code("x*y*")]),
        ("``x``", [Plain("`"), Code("x"), Plain("`")]),  # no double-backtick code
        ("**a\\*b**", [Bold("a*b")]),
        ("`a\\`b`", [Code("a`b")]),
        ("\\\\*b*", [Plain("\\"), Bold("b")]),
        ("x\\*y\\", [Plain("x*y\\")]),
        ("a *b", [Plain("a *b")]),
        ("*a* *b", [Bold("a"), Plain(" *b")]),
        ("`a` `b` `c", [Code("a"), Plain(" "), Code("b"), Plain(" `c")]),
        ("*a `b` c*", [Bold("a `b` c")]),
        ("[l](https://e.example/a) x", [Link("l", E + "a"), Plain(" x")]),
        ("[l](https://e.example/)(b)", [Link("l", E), Plain("(b)")]),
        ("[a\\]b](https://e.example/\\))", [Link("a]b", E + ")")]),
        ("[*l*](https://e.example/)", [Link("*l*", E)]),
        ("[l](javascript:x) [m](https://e.example/)", [
            Plain("[l](javascript:x) "), Link("m", E)]),
        ("[l](https://e.example/ x)", [Plain("[l](https://e.example/ x)")]),
        ("[l]https://e.example/)", [Plain("[l]https://e.example/)")]),
        ("[l](https://e.example/", [Plain("[l](https://e.example/")]),
        ("\\[l](https://e.example/)", [Plain("[l](https://e.example/)")]),
        ("[l\\](https://e.example/)", [Plain("[l](https://e.example/)")]),
        ("a\ud800*b*", [Plain("a\ufffd"), Bold("b")]),
        ("\\x**b**", [Plain("x"), Bold("b")]),  # an escape two characters back is not ours
        ("[](https://e.example/) [a](https://e.example/)", [
            Plain("[](https://e.example/) "), Link("a", E)]),  # an empty label ends the link
        ("[a)](https://e.example/)", [Link("a)", E)]),  # the URL's ")" is after the "]("
        # Searches that failed once fail again (remembered), never "found" elsewhere:
        ("[a](https://e.example/xx [b](https://e.example/yy", [
            Plain("[a](https://e.example/xx [b](https://e.example/yy")]),
        ("https://e.example/) [a [b", [Plain("https://e.example/) [a [b")]),
        ("", []),
    ],
)  # fmt: skip
def test_md_parse_exactly(text: str, tokens: list[object]) -> None:
    assert md_parse(text) == tokens


def test_many_unclosed_markers_stay_plain() -> None:
    text = "*" + "[a](" * 3000 + "`"
    assert md_parse(text) == [Plain(text)]


def test_md_display_keeps_markers_and_drops_escapes() -> None:
    assert md_display("**b** *i* `c\\`` [l\\]](https://e.example/) \\* x") == (
        "**b** **i** `c`` [l]](https://e.example/) * x"
    )
    assert md_display("") == ""


# --- the terminal ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[2J", "\\x1b[2J"),
        ("\x00\x07\x08\x0b\x0c\x1f", "\\x00\\x07\\x08\\x0b\\x0c\\x1f"),
        ("\x7f\x80\x9b\x9f", "\\x7f\\x80\\x9b\\x9f"),
        ("\u202eevil\u202c", "\\u202eevil\\u202c"),
        ("\u061c\u200e\u200f\u2028", "\\u061c\\u200e\\u200f\\u2028"),
        ("\u2029\u2066\u2069", "\\u2029\\u2066\\u2069"),
        ("a\ud800b\udfff", "a\\ud800b\\udfff"),
        ("\xa0é日本語 👨‍👩‍👧 \u200d", "\xa0é日本語 👨‍👩‍👧 \u200d"),  # text, ZWJ included
        ("a\nb\tc\r", "a\\nb c\\x0d"),
    ],
)  # fmt: skip
def test_terminal_shows_controls_as_escapes(text: str, shown: str) -> None:
    assert terminal(text) == shown


def test_terminal_keeps_lines_and_tabs_when_asked() -> None:
    assert terminal("a\nb\tc\x1b", one_line=False) == "a\nb\tc\\x1b"
