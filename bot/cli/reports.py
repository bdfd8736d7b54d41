"""`nudgebot stats --csv`, the engagement table of `stats`, and `nudgebot digest --preview`."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from bot.app import Runtime
from bot.cli.common import ConfigOption, fail, load_runtime, out, parse_at, run_async
from bot.domain.durations import format_duration
from bot.domain.untrusted import md_display, terminal
from bot.services.digest import DigestWriter, oncall_reporter
from bot.services.export import csv_lines


async def write_csv(runtime: Runtime, since: datetime, until: datetime) -> None:
    """The export on stdout as it is read, page by page (see bot.services.export)."""
    try:
        async for line in csv_lines(runtime.db, since, until):
            sys.stdout.write(line)
        sys.stdout.flush()
    finally:
        await runtime.close()


def print_engagement(data: dict[str, Any]) -> None:
    """The weekly engagement rows of a report (``stats`` without ``--json``)."""
    engagement = data.get("engagement") or {}
    weeks = engagement.get("weeks") or []
    if not weeks:
        return
    table = Table(title=f"Engagement per week ({engagement.get('timezone', 'UTC')})")
    for col in ("week", "replies", "broadcasts", "conversations", "answered", "median reply"):
        table.add_column(col, justify="right")
    for w in weeks:
        median = w["median_reply_seconds"]
        ratio = w["answered_ratio"]
        table.add_row(
            w["week"],
            str(w["replies"]),
            str(w["broadcasts"]),
            str(w["conversations"]),
            f"{w['answered']}" + (f" ({ratio:.0%})" if ratio is not None else ""),
            format_duration(timedelta(seconds=median)) if median is not None else "-",
        )
    out.print(table)
    if engagement.get("weeks_omitted"):
        out.print(f"({engagement['weeks_omitted']} earlier weeks not listed)", markup=False)


def digest(
    config: ConfigOption = None,
    preview: Annotated[
        bool, typer.Option("--preview", help="Print the digest instead of waiting for its time")
    ] = False,
    person: Annotated[
        str | None, typer.Option("--person", help="Whose digest (default: every owner)")
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="As of this ISO-8601 time (default: now)")
    ] = None,
) -> None:
    """The weekly digest owners get (config `digest: {at: "Mon 09:00"}`): last week against
    the week before, the slowest conversations, who is on call."""
    if not preview:
        fail(
            "`nudgebot run` sends digests at their time (digest.at in the config); "
            "use --preview to print one now"
        )
    runtime = load_runtime(config)
    now = parse_at(at, runtime.now())
    if person is not None and person not in runtime.config.team:
        fail(f"--person {person!r} is not on the team in the config")
    people: list[str | None] = [person] if person else list(runtime.config.owners()) or [None]

    async def go() -> list[str]:
        writer = DigestWriter(runtime.db, runtime.config, oncall_reporter(runtime.oncall))
        try:
            return [(await writer.compose(p, now)).text for p in people]
        finally:
            await runtime.close()

    texts = run_async(go)
    for i, text in enumerate(texts):
        if i:
            out.print("\n" + "─" * 60 + "\n", markup=False)
        shown = terminal(md_display(text), one_line=False)
        out.print(shown, markup=False, soft_wrap=True, highlight=False)
