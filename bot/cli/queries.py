"""`nudgebot waiting` and `nudgebot stats`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from bot.cli.common import (
    ConfigOption,
    PlainOption,
    TzOption,
    cell,
    display_zone,
    fail,
    load_runtime,
    local_time,
    out,
    print_json,
    print_table,
    run_async,
    zone_label,
)
from bot.domain.durations import format_duration, parse_since

if TYPE_CHECKING:
    from rich.text import Text

    from bot.config import Config
    from bot.services.waiting import WaitingRow


DEFAULT_LIMIT = 50


def waiting(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Rows as JSON, oldest first")] = False,
    source: Annotated[str | None, typer.Option("--source", help="Only this source")] = None,
    person: Annotated[
        str | None,
        typer.Option("--person", help="Only conversations this person is responsible for"),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", min=1, help=f"At most this many rows [table default: {DEFAULT_LIMIT}]"
        ),
    ] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Every waiting conversation")] = False,
    plain: PlainOption = False,
    tz: TzOption = None,
) -> None:
    """Who's waiting on us: conversations waiting for a reply, oldest first.

    The table shows the oldest 50 and how many more there are (--limit N, --all);
    --json prints every row unless --limit is given."""
    from bot.cli.fastpath import open_view

    if show_all and limit is not None:
        fail("--all and --limit: choose one")
    cap = None if show_all or (as_json and limit is None) else (limit or DEFAULT_LIMIT)
    view = open_view(config)
    if view is not None:
        try:
            _check_filters(view.config, source, person)
            rows, total = view.waiting(source=source, person=person, limit=cap)
        finally:
            view.close()
        cfg, now = view.config, view.now
    else:  # the full path: migrates a new database, loads calendars, says what is wrong
        rows, total, cfg, now = _waiting_full(config, source, person, cap)
    zone = display_zone(cfg, tz)
    if as_json:
        print_json([r.as_json() for r in rows])
        return
    if not rows:
        sys.stdout.write("Nobody is waiting. 🎉\n")
        return
    table_rows = []
    for r in rows:
        where = f"{r.source}" + (f" #{r.channel}" if r.channel else "")
        due = (
            "overdue"
            if r.overdue
            else (f"in {format_duration(r.due_at - now)}" if r.due_at else "-")
        )
        names = [cfg.display_name(p) for p in r.responsible_all]
        table_rows.append([
            str(r.conversation), r.customer, where,
            format_duration(timedelta(seconds=r.waiting_seconds)),
            local_time(r.waiting_since, zone), ", ".join(names) or "-", due,
            r.last_message[:200],
        ])  # fmt: skip
    shown = f"{len(rows)} of {total}" if total > len(rows) else f"{total}"
    print_table(
        f"{shown} waiting, oldest first (times in {zone_label(zone)})",
        ["id", "customer", "where", "waiting for", "since", "responsible", "due",
         "last message"],
        table_rows,
        plain=plain,
    )  # fmt: skip
    if total > len(rows) and not plain:
        sys.stdout.write(f"… and {total - len(rows)} more (--limit N, --all)\n")


def _check_filters(config: Config, source: str | None, person: str | None) -> None:
    if source is not None and config.sources and source not in config.sources:
        known = ", ".join(sorted(config.sources))
        fail(f"--source {source!r} is not a configured source (known: {known})")
    if person is not None and config.team and person not in config.team:
        fail(f"--person {person!r} is not on the team in the config")


def _waiting_full(
    config: str | None, source: str | None, person: str | None, cap: int | None
) -> tuple[list[WaitingRow], int, Config, datetime]:
    from bot.services.waiting import count_waiting, list_waiting

    runtime = load_runtime(config)
    _check_filters(runtime.config, source, person)

    async def go() -> tuple[list[WaitingRow], int]:
        try:
            await runtime.oncall.prepare()  # stored overrides and calendars decide who's on call
            rows = await list_waiting(
                runtime.db, runtime.routing, runtime.now(), source=source, person=person,
                limit=None if person else cap,
            )  # fmt: skip
            if person is not None:  # responsibility is known only after routing
                return rows[:cap] if cap else rows, len(rows)
            total = len(rows) if cap is None or len(rows) < cap else None
            return rows, total if total is not None else await count_waiting(runtime.db, source)
        finally:
            await runtime.close()

    rows, total = run_async(go)
    return rows, total, runtime.config, runtime.now()


def stats(
    config: ConfigOption = None,
    since: Annotated[str, typer.Option("--since", help="Look-back (7d, 24h) or ISO date")] = "7d",
    as_json: Annotated[bool, typer.Option("--json", help="Report as JSON")] = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="Conversations with first response and reply times, CSV")
    ] = False,
    tz: TzOption = None,
) -> None:
    """Response times (median, p90), SLA met, replies vs broadcasts, by source and person."""
    from bot.cli.reports import print_engagement, write_csv
    from bot.services.stats import report

    runtime = load_runtime(config)
    now = runtime.now()
    try:
        start = parse_since(since, now)
    except ValueError as exc:
        fail(f"--since {exc}")
    if as_json and as_csv:
        fail("--json and --csv: choose one")
    if as_csv:
        run_async(lambda: write_csv(runtime, start, now))
        return

    async def go() -> dict[str, object]:
        try:
            return await report(runtime.db, start, now, now, tz=runtime.config.tz)
        finally:
            await runtime.close()

    data = run_async(go)
    if as_json:
        print_json(data)
        return
    _print_stats(data, display_zone(runtime.config, tz), runtime.config.display_name)
    print_engagement(data)


def _fmt(seconds: object) -> str:
    if not isinstance(seconds, int | float):
        return "-"
    return format_duration(timedelta(seconds=float(seconds)))


def _when(value: object, zone: ZoneInfo) -> str:
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return local_time(parsed, zone)


def _print_stats(data: dict[str, object], zone: ZoneInfo, name: Callable[[str], str] = str) -> None:
    from rich.table import Table

    table = Table(
        title=f"Response times {_when(data['since'], zone)} → {_when(data['until'], zone)} "
        f"(times in {zone_label(zone)})"
    )
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
            shown = name(key) if group == "by_person" else key  # Alice, not person:alice
            add(cell(f"{group[3:]}: {shown}"), bucket)  # imported author ids are outside text
    out.print(table)
