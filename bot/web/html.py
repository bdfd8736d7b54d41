"""Just enough templating for a few server-rendered pages, escaping by default.

``render(template, **values)`` fills ``$name`` placeholders (``string.Template``) and escapes
every value with ``html.escape(..., quote=True)`` unless it is already ``Safe`` — markup this
module (or ``render`` itself) produced. So a value from the database can only ever reach the
page as text: forgetting to escape is not possible, only marking something ``Safe`` by hand,
which nothing outside this module and the chart does.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from string import Template


class Safe(str):
    """Markup that is already escaped."""

    __slots__ = ()


def esc(value: object) -> Safe:
    if isinstance(value, Safe):
        return value
    return Safe(html.escape("" if value is None else str(value), quote=True))


def render(template: str, **values: object) -> Safe:
    return Safe(Template(template).substitute({k: esc(v) for k, v in values.items()}))


def join(parts: Iterable[object], sep: str = "") -> Safe:
    return Safe(esc(sep).join(esc(p) for p in parts))


def element(tag: str, content: object = "", **attrs: object) -> Safe:
    """``<tag attr="…">content</tag>``; ``class_`` names the class attribute; an attribute whose
    value is None or False is left out, True writes it bare."""
    parts = [tag]
    for key, value in attrs.items():
        name = key.rstrip("_").replace("_", "-")
        if value is None or value is False:
            continue
        parts.append(str(esc(name)) if value is True else f'{esc(name)}="{esc(value)}"')
    return Safe(f"<{' '.join(parts)}>{esc(content)}</{tag}>")


def void(tag: str, **attrs: object) -> Safe:
    """An element without content or end tag (``<input …>``), attributes as ``element``."""
    return Safe(element(tag, **attrs).removesuffix(f"></{tag}>") + ">")


def row_of(cells: Iterable[object], **attrs: object) -> Safe:
    """A ``<tr>`` of ``<td>`` cells; pass it to ``table`` to give a row attributes."""
    return element("tr", join(element("td", c) for c in cells), **attrs)


def table(
    headers: Iterable[object], rows: Iterable[Iterable[object]], *, class_: str | None = None
) -> Safe:
    head = join(element("th", h, scope="col") for h in headers)
    body = join(row if isinstance(row, Safe) else row_of(row) for row in rows)
    return render(
        "<table$cls><thead><tr>$head</tr></thead><tbody>$body</tbody></table>",
        cls=Safe(f' class="{esc(class_)}"') if class_ else Safe(""),
        head=head,
        body=body,
    )
