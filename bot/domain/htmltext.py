"""HTML (Mastodon ``content``, Discourse ``cooked``) to the plain text a nudge shows.

Paragraphs and line breaks survive as newlines, list items get a dash, links keep their
visible text, entities are decoded, and script/style bodies are dropped. Input of any size or
shape produces text (never an exception): it came from someone else's server.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK = frozenset(
    {"p", "div", "blockquote", "pre", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "table",
     "tr", "aside", "section", "article", "header", "footer", "details", "summary", "hr"}
)  # fmt: skip
_DROP = frozenset({"script", "style", "template", "noscript", "head", "title"})
MAX_HTML = 200_000  # characters parsed; a larger body is cut before parsing
MAX_TEXT = 20_000


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.dropping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP:
            self.dropping += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "hr":
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP:
            self.dropping = max(0, self.dropping - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.dropping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _Text()
    try:
        parser.feed(html[:MAX_HTML])
        parser.close()
    except Exception:  # pragma: no cover - HTMLParser is lenient; belt and braces
        return re.sub(r"<[^>]*>", " ", html[:MAX_HTML]).strip()[:MAX_TEXT]
    raw = "".join(parser.parts).replace("\xa0", " ")
    lines = [" ".join(line.split()) for line in raw.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text[:MAX_TEXT]
