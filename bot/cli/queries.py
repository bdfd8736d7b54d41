"""`nudgebot waiting` and `nudgebot stats`."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from bot.cli.common import ConfigOption, cell, fail, out, print_json, run_async, runtime
from bot.cli.reports import print_engagement, write_csv
from bot.domain.durations import format_duration, parse_since
from bot.services.stats import report
from bot.services.waiting import WaitingRow, list_waiting


def waiting(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Rows as JSON, oldest first")] = False,
    source: Annotated[str | None, typer.Option("--source", help="Only this source")] = None,
    person: Annotated[
        str | None,
        typer.Option("--person", help="Only conversations this person is responsible for"),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="At most this many rows")
    ] = None,
) -> None:
    """Who's waiting on us: conversations waiting for a reply, oldest first."""
    rt = runtime(config)
    if source is not None and rt.config.sources and source not in rt.config.sources:
        known = ", ".join(sorted(rt.config.sources))
        fail(f"--source {source!r} is not a configured source (known: {known})")
    if person is not None and rt.config.team and person not in rt.config.team:
        fail(f"--person {person!r} is not on the team in the config")

    async def go() -> list[WaitingRow]:
        try:
            await rt.oncall.prepare()  # stored overrides and calendars decide who's on call
            return await list_waiting(
                rt.db, rt.routing, rt.now(), source=source, person=person, limit=limit
            )
        finally:
            await rt.close()

    rows = run_async(go)
    if as_json:
        print_json([r.as_json() for r in rows])
        return
    if not rows:
        out.print("Nobody is waiting. :tada:")
        return
    table = Table(title=f"{len(rows)} waiting, oldest first")
    for col in ("customer", "where", "waiting for", "responsible", "due", "last message"):
        table.add_column(col, overflow="fold")
    for r in rows:
        where = f"{r.source}" + (f" #{r.channel}" if r.channel else "")
        due = (
            "[bold red]overdue[/]"
            if r.overdue
            else (f"in {format_duration(r.due_at - rt.now())}" if r.due_at else "-")
        )
        table.add_row(
            cell(r.customer),
            cell(where),
            format_duration(timedelta(seconds=r.waiting_seconds)),
            cell(", ".join(r.responsible_all) or "-"),
            due,
            cell(r.last_message[:80]),
        )
    out.print(table)


def stats(
    config: ConfigOption = None,
    since: Annotated[str, typer.Option("--since", help="Look-back (7d, 24h) or ISO date")] = "7d",
    as_json: Annotated[bool, typer.Option("--json", help="Report as JSON")] = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="Conversations with first response and reply times, CSV")
    ] = False,
) -> None:
    """Response times (median, p90), SLA met, replies vs broadcasts, by source and person."""
    rt = runtime(config)
    now = rt.now()
    try:
        start = parse_since(since, now)
    except ValueError as exc:
        fail(f"--since {exc}")
    if as_json and as_csv:
        fail("--json and --csv: choose one")
    if as_csv:
        run_async(lambda: write_csv(rt, start, now))
        return

    async def go() -> dict[str, object]:
        try:
            return await report(rt.db, start, now, now, tz=rt.config.tz)
        finally:
            await rt.close()

    data = run_async(go)
    if as_json:
        print_json(data)
        return
    _print_stats(data)
    print_engagement(data)


def _fmt(seconds: object) -> str:
    if not isinstance(seconds, int | float):
        return "-"
    return format_duration(timedelta(seconds=float(seconds)))


def _print_stats(data: dict[str, object]) -> None:
    table = Table(title=f"Response times {data['since']} → {data['until']}")
    for col in (
        "",
        "first resp. median",
        "p90",
        "reply median",
        "p90",
        "replies",
        "broadcasts",
        "unanswered",
        "SLA met",
    ):
        table.add_column(col, justify="right")

    def add(name: str | Text, b: dict[str, object]) -> None:
        first = b["first_response"]
        reply = b["reply"]
        assert isinstance(first, dict) and isinstance(reply, dict)
        sla = b["sla_met_ratio"]
        table.add_row(
            name,
            _fmt(first["median_seconds"]),
            _fmt(first["p90_seconds"]),
            _fmt(reply["median_seconds"]),
            _fmt(reply["p90_seconds"]),
            str(b["replies"]),
            str(b["broadcasts"]),
            str(b["unanswered"]),
            f"{float(sla):.0%}" if isinstance(sla, int | float) else "-",
        )

    add("[bold]all[/]", data)
    for group in ("by_source", "by_person"):
        section = data[group]
        assert isinstance(section, dict)
        for key, bucket in section.items():
            add(cell(f"{group[3:]}: {key}"), bucket)  # imported author ids are outside text
    out.print(table)
