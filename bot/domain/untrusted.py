"""Customer words are data: one rule per output format for text that came from outside (pure).

Every renderer routes what a customer (or another server) wrote through these functions, so
nothing a customer writes becomes a mention, a link, markup or a terminal control sequence:

- ``slack_text``: Slack mrkdwn; ``& < >`` escaped, so no ``<!channel>``, ``<@U…>``, ``<#C…>``
  or ``<url|text>`` can form from it.
- ``slack_link``: a link whose text is ours and whose URL is http(s) only, with ``| < >``
  and whitespace percent-encoded (they would end the URL or start the text).
- ``html_text`` / ``html_link``: Telegram HTML (``parse_mode=HTML``); everything escaped,
  links http(s) only.
- ``md_literal`` / ``md_link`` / ``md_parse``: the Markdown-light of ``Messenger.send_text``
  (``**bold**``, ``*bold*``, ```code```, ``[text](url)``, ``\\`` escapes). Formatting in it
  is ours (the template); every inserted value goes through ``md_literal`` and parses back as
  plain text.
- ``terminal``: the CLI; C0/C1 controls, ESC/CSI/OSC, DEL, bidi controls, line separators
  and lone surrogates are shown as visible ``\\x1b``-style escapes; emoji and every script
  stay as they are.
- ``safe_url``: the one place that decides what is a link (http/https with a host).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL = 2048
_SCHEMES = frozenset({"http", "https"})
# Characters that may not stand raw in a URL we hand on: they end it, start link text or
# make it two lines. Percent-encoding keeps the URL working.
_URL_ENCODE = {c: f"%{ord(c):02X}" for c in ' "<>|\\^`{}()'}
# Controls, bidi marks and every Unicode space (``\s``: NBSP, U+2000-U+200A, U+3000, ...):
# a space is never part of a link we hand on.
_BAD_URL_CHAR = re.compile(
    r"[\s\x00-\x20\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


# The common shape (ASCII, a plain host name, no port or user info), answered without
# urlsplit: ingest checks every message's URL (bench: ~0.5 µs instead of ~4 µs).
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?:[/?#][\x21-\x7e]*)?")


def safe_url(url: str | None) -> str | None:
    """The URL when it may be a link: http(s), a host, no controls or spaces; else None."""
    if not url or len(url) > MAX_URL:
        return None
    if _PLAIN_URL.fullmatch(url):
        return url
    candidate = url.strip()
    if not candidate or _BAD_URL_CHAR.search(candidate) or _has_surrogate(candidate):
        return None
    try:
        parts = urlsplit(candidate)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in _SCHEMES or not parts.hostname:
        return None
    if "@" in parts.netloc:  # https://trusted.example@evil.example: not a link we hand on
        return None
    return candidate


def _encode_url(url: str) -> str:
    return "".join(_URL_ENCODE.get(c, c) for c in url)


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= c <= "\udfff" for c in text)


def valid_text(text: str) -> str:
    """Lone surrogates (invalid UTF-8 that slipped through a lenient decoder) as U+FFFD:
    every platform API rejects them, and ``str.encode`` raises on them."""
    if not _has_surrogate(text):
        return text
    return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)


# Slack mrkdwn -----------------------------------------------------------------------------


def slack_text(text: str) -> str:
    """Customer text inside a mrkdwn field (Slack's documented escapes)."""
    return valid_text(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_url(url: str | None) -> str | None:
    """An http(s) URL for a Slack link element (rich_text ``link``): ``|``, ``<``, ``>``
    percent-encoded like ``slack_link``'s; None when it may not be a link."""
    safe = safe_url(url)
    return None if safe is None else _encode_url(safe)


def slack_link(url: str | None, label: str) -> str:
    """``<url|label>`` for an http(s) URL; the escaped label alone otherwise."""
    safe = safe_url(url)
    text = slack_text(label).replace("|", "¦")
    if safe is None:
        return text
    return f"<{slack_text(_encode_url(safe))}|{text}>"


# Telegram HTML ----------------------------------------------------------------------------


def html_text(text: str) -> str:
    return html.escape(valid_text(text), quote=True)


def html_link(url: str | None, label: str) -> str:
    safe = safe_url(url)
    if safe is None:
        return html_text(label)
    return f'<a href="{html.escape(_encode_url(safe), quote=True)}">{html_text(label)}</a>'


# Markdown-light (Messenger.send_text) -----------------------------------------------------

_MD_SPECIAL = frozenset("\\*`[]()")


@dataclass(frozen=True)
class Plain:
    text: str


@dataclass(frozen=True)
class Bold:
    text: str


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Link:
    label: str
    url: str  # always passed safe_url


Token = Plain | Bold | Code | Link


def md_literal(value: object) -> str:
    """A value to insert into a Markdown-light template: it parses back as plain text."""
    return "".join("\\" + c if c in _MD_SPECIAL else c for c in str(value))


def md_link(label: str, url: str | None) -> str:
    """``[label](url)`` for an http(s) URL, else the label as plain text."""
    safe = safe_url(url)
    if safe is None:
        return md_literal(label)
    return f"[{md_literal(label)}]({_encode_url(safe)})"


class _Scanner:
    """Finds unescaped markers; a failed search is remembered, so hostile input with
    thousands of unclosed markers stays linear."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.escaped = [False] * (len(text) + 1)
        i = 0
        while i < len(text):
            if text[i] == "\\" and i + 1 < len(text):
                self.escaped[i + 1] = True
                i += 2
            else:
                i += 1
        self.failed: dict[str, int] = {}

    def find(self, mark: str, start: int) -> int:
        if self.failed.get(mark, len(self.text) + 1) <= start:
            return -1
        j = self.text.find(mark, start)
        while j != -1:
            if all(not self.escaped[k] for k in range(j, j + len(mark))):
                return j
            j = self.text.find(mark, j + 1)
        self.failed[mark] = min(self.failed.get(mark, start), start)
        return -1


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text, flags=re.DOTALL)


def md_parse(text: str) -> list[Token]:
    """Markdown-light to tokens; anything that is not well-formed is plain text."""
    text = valid_text(text)
    scan = _Scanner(text)
    out: list[Token] = []
    plain: list[str] = []
    i, n = 0, len(text)

    def flush() -> None:
        if plain:
            out.append(Plain("".join(plain)))
            plain.clear()

    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            plain.append(text[i + 1])
            i += 2
            continue
        if c in "*`" and not scan.escaped[i]:
            mark = "**" if text.startswith("**", i) and not scan.escaped[i + 1] else c
            end = scan.find(mark, i + len(mark))
            if end > i + len(mark):
                inner = text[i + len(mark) : end]
                flush()
                out.append(Code(_unescape(inner)) if c == "`" else Bold(_unescape(inner)))
                i = end + len(mark)
                continue
        if c == "[" and not scan.escaped[i]:
            mid = scan.find("](", i + 1)
            close = scan.find(")", mid + 2) if mid != -1 else -1
            if close != -1:
                label, url = _unescape(text[i + 1 : mid]), _unescape(text[mid + 2 : close])
                safe = safe_url(url)
                if safe is not None and label:
                    flush()
                    out.append(Link(label, safe))
                    i = close + 1
                    continue
        plain.append(c)
        i += 1
    flush()
    return out


def md_display(text: str) -> str:
    """Markdown-light for a reader (``digest --preview``): markers kept, escapes dropped."""
    parts = []
    for token in md_parse(text):
        if isinstance(token, Bold):
            parts.append(f"**{token.text}**")
        elif isinstance(token, Code):
            parts.append(f"`{token.text}`")
        elif isinstance(token, Link):
            parts.append(f"[{token.label}]({token.url})")
        else:
            parts.append(token.text)
    return "".join(parts)


# The terminal -----------------------------------------------------------------------------

# C0 (but newline and tab handled below), DEL, C1, bidi embeddings/overrides/isolates and
# marks, line/paragraph separators, and lone surrogates. ZWJ/ZWNJ stay: emoji sequences and
# several scripts need them.
_TERMINAL_BAD = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
    r"\ud800-\udfff]"
)


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal(text: str, *, one_line: bool = True) -> str:
    """Text for a terminal: control and bidi characters made visible (``\\x1b``), newlines
    shown as ``\\n`` when ``one_line`` (a table cell, a log line)."""
    out = _TERMINAL_BAD.sub(_visible, text)
    if one_line:
        out = out.replace("\r", "\\r").replace("\n", "\\n").replace("\t", " ")
    return out
