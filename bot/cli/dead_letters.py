"""`nudgebot dead-letters`: inbound payloads that passed authentication but could not be read.

Kept, never dropped (see storage.dead_letters_repo): an update python-telegram-bot refuses
and that holds no message to rebuild, a signed Slack or webhook body that does not parse.
Newest first. ``--json`` carries each payload whole; the table shows the start of it.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from bot.cli.common import ConfigOption, load_runtime, out, print_json, run_async
from bot.services.waiting import iso
from storage.dead_letters_repo import StoredLetter, listing

_PREVIEW = 80


def letter_json(letter: StoredLetter) -> dict[str, Any]:
    try:
        payload, encoding = letter.payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        payload, encoding = base64.b64encode(letter.payload).decode("ascii"), "base64"
    return {
        "id": letter.id, "platform": letter.platform, "source": letter.source or None,
        "reason": letter.reason, "received_at": iso(letter.received_at),
        "last_received_at": iso(letter.last_received_at), "deliveries": letter.deliveries,
        "size": letter.size, "encoding": encoding, "payload": payload,
    }  # fmt: skip


def plain(value: str, limit: int | None = None) -> Text:
    """Client-written text for a terminal: control characters (ANSI escapes, newlines) shown
    escaped, never obeyed; Rich markup not interpreted."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)
    if limit is not None and len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return Text(shown)


def dead_letters(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="As JSON, payloads whole")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many")] = 100,
) -> None:
    """Inbound payloads that could not be read: kept here, never dropped."""
    runtime = load_runtime(config)

    async def go() -> list[StoredLetter]:
        try:
            return await listing(runtime.db, limit=limit)
        finally:
            await runtime.close()

    letters = run_async(go)
    if as_json:
        print_json([letter_json(letter) for letter in letters])
        return
    if not letters:
        out.print("No dead letters: every inbound payload so far could be read.")
        return
    table = Table(title="Dead letters (newest first)")
    # The id is what one copies: whole on one line however narrow the terminal.
    table.add_column("id", no_wrap=True, min_width=max(len(str(x.id)) for x in letters))
    for col in ("last received (UTC)", "platform", "source", "times", "reason", "payload"):
        table.add_column(col, overflow="fold")
    for letter in letters:
        table.add_row(
            str(letter.id), letter.last_received_at.strftime("%Y-%m-%d %H:%M:%S"),
            letter.platform, plain(letter.source or "-"), str(letter.deliveries),
            plain(letter.reason, 160), plain(letter.text(), _PREVIEW),
        )  # fmt: skip
    out.print(table)
