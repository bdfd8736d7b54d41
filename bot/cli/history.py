"""`nudgebot history CONVERSATION`: messages, actions (who, when) and nudges, oldest first."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from bot.cli.common import (
    ConfigOption,
    TzOption,
    cell,
    display_zone,
    fail,
    load_runtime,
    out,
    print_json,
    run_async,
    zone_label,
)
from bot.services.history import conversation_history
from bot.services.waiting import iso
from storage.actions_repo import Event


def event_json(e: Event) -> dict[str, Any]:
    return {"at": iso(e.at), "kind": e.kind, "who": e.who, "what": e.what,
            "detail": e.detail, "team": e.is_team}  # fmt: skip


def history(
    conversation: Annotated[int, typer.Argument(help="Conversation id (as in `waiting --json`)")],
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Events as JSON, oldest first")] = False,
    tz: TzOption = None,
) -> None:
    """A conversation's history: every message, action (who, when) and nudge."""
    runtime = load_runtime(config)

    async def go() -> list[Event]:
        try:
            return await conversation_history(runtime.db, conversation)
        finally:
            await runtime.close()

    events = run_async(go)
    if not events:
        fail(f"conversation {conversation} does not exist (see `nudgebot waiting --json`)", 1)
    if as_json:
        print_json([event_json(e) for e in events])
        return
    zone = display_zone(runtime.config, tz)
    table = Table(title=f"Conversation {conversation} (times in {zone_label(zone)})")
    for col in ("when", "", "who", "what", "detail"):
        table.add_column(col, overflow="fold")
    for e in events:
        at = e.at.astimezone(zone)
        table.add_row(
            f"{at:%Y-%m-%d %H:%M:%S} {at.tzname()}", e.kind,
            cell(runtime.config.display_name(e.who)), cell(e.what[:120]), cell(e.detail),
        )  # fmt: skip
    out.print(table)
