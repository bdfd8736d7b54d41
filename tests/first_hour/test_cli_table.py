"""The CLI's own box tables (bot.cli.table): whole when piped, cut to the terminal with …,
aligned by terminal cells (wide scripts and emoji take two)."""

from __future__ import annotations

from rich.cells import cell_len

from bot.cli.table import render

COLUMNS = ["id", "customer", "last message"]
LONG = "Where is my order? " * 20
ROWS = [["1", "Dana", LONG.strip()], ["22", "日本語の客 👋", "short"]]


def test_piped_output_keeps_every_character() -> None:
    text = render("2 waiting", COLUMNS, ROWS, None)
    assert LONG.strip() in text
    assert "…" not in text
    lines = text.splitlines()
    assert lines[0].strip() == "2 waiting"
    # Every row of the box is the same number of cells wide: wide characters count two.
    assert len({cell_len(line) for line in lines[1:]}) == 1


def test_a_terminal_gets_rows_cut_to_its_width() -> None:
    for width in (40, 60, 100):
        text = render("2 waiting", COLUMNS, ROWS, width)
        box = text.splitlines()[1:]
        assert {cell_len(line) for line in box} == {cell_len(box[0])}
        assert cell_len(box[0]) <= width, (width, text)
        assert "…" in text  # the long message was cut, not wrapped onto another line
        assert len(box) == 3 + len(ROWS) + 1


def test_the_message_column_gives_way_before_the_others() -> None:
    text = render("", COLUMNS, ROWS, 60)
    assert "日本語の客 👋" in text  # the customer column kept its width
    assert "Where is my" in text and LONG.strip() not in text
