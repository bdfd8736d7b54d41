"""Box tables for the CLI, drawn directly.

rich's Table measures and renders every cell through its layout engine: 0.3 s for the 50 rows
of `nudgebot waiting`, most of that command's budget. These tables need none of its features
(no markup — cells are customer text —, no wrapping), so they are drawn here with the same
look: a heavy head, light rows. Widths are terminal cells (wide scripts and emoji count two).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len, set_cell_size

ELLIPSIS = "…"
MIN_WIDTH = 3  # a column squeezed to fit a terminal keeps this many cells
LAST_WIDTH = 24  # the last column (the message) gives way first, down to this


def _fit(value: str, width: int) -> str:
    if cell_len(value) <= width:
        return set_cell_size(value, width)  # pads
    return set_cell_size(value, max(width - 1, 0)) + ELLIPSIS


def _squeeze(widths: list[int], limit: int | None) -> list[int]:
    """Narrow the widest columns (the last first: the message) until the table fits."""
    if limit is None:
        return widths
    widths = list(widths)
    frame = 3 * len(widths) + 1  # "│ " before each cell, " │" after the last, " │ " between

    def too_wide() -> int:
        return frame + sum(widths) - limit

    excess = too_wide()
    if excess > 0 and widths:
        widths[-1] = max(min(widths[-1], LAST_WIDTH), widths[-1] - excess)
    while (excess := too_wide()) > 0:
        widest = max(range(len(widths)), key=lambda i: widths[i])
        if widths[widest] <= MIN_WIDTH:
            break  # a terminal narrower than the columns' minimum: let it wrap
        widths[widest] = max(MIN_WIDTH, widths[widest] - excess)
    return widths


def render(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], width: int | None
) -> str:
    """The table as text; ``width`` is the terminal's (cells are cut to fit, with …), or
    None for piped output, which is printed whole."""
    natural = [cell_len(c) for c in columns]
    for row in rows:
        for i, value in enumerate(row):
            natural[i] = max(natural[i], cell_len(value))
    widths = _squeeze(natural, width)

    def line(left: str, fill: str, mid: str, right: str) -> str:
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def cells(values: Sequence[str], bar: str) -> str:
        parts = (_fit(v, w) for v, w in zip(values, widths, strict=True))
        return f"{bar} " + f" {bar} ".join(parts) + f" {bar}"

    total = sum(widths) + 3 * len(widths) + 1
    out = [title.center(total).rstrip()] if title else []
    out.append(line("┏", "━", "┳", "┓"))
    out.append(cells(columns, "┃"))
    out.append(line("┡", "━", "╇", "┩"))
    out.extend(cells(row, "│") for row in rows)
    out.append(line("└", "─", "┴", "┘"))
    return "\n".join(out) + "\n"
