"""`nudgebot oncall` (who is on call), `oncall take` (store an override), `oncall turns`."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import typer
from rich.table import Table
from rich.text import Text

from bot.cli.common import (
    ConfigOption,
    TzOption,
    display_zone,
    err,
    fail,
    load_runtime,
    local_time,
    out,
    parse_local,
    print_json,
    run_async,
    zone_label,
)
from bot.domain.durations import DurationError, format_duration, parse_duration
from bot.domain.untrusted import terminal
from bot.services.oncall_view import OncallError
from bot.services.waiting import iso

if TYPE_CHECKING:
    from bot.app import Runtime
    from bot.cli.fastpath import ReadView
    from bot.services.oncall_schedules import Status

T = TypeVar("T")
oncall_app = typer.Typer(
    help="Who is on call: now (or --at a time); take a turn; list turns.",
    invoke_without_command=True,
    no_args_is_help=False,
)


def _time(option: str, value: str, runtime: Runtime | ReadView, ctx: typer.Context) -> datetime:
    """Without an offset, ``value`` is read in the CLI's zone (--tz, else the config's)."""
    return parse_local(option, value, _zone(runtime, ctx))


def _zone(runtime: Runtime | ReadView, ctx: typer.Context) -> ZoneInfo:
    return display_zone(runtime.config, (ctx.obj or {}).get("tz"))


def _config(ctx: typer.Context, config: str | None) -> str | None:
    return config if config is not None else (ctx.obj or {}).get("config")


def _with_oncall(runtime: Runtime, work: Callable[[], T]) -> T:
    """``work()`` after loading stored overrides and calendars, in one event loop (the
    database pool and the HTTP client belong to it), then close the runtime."""

    async def go() -> T:
        try:
            await runtime.oncall.prepare()
            return work()
        finally:
            await runtime.close()

    return run_async(go)


def _name(runtime: Runtime | ReadView, person: str | None) -> str:
    if person is None:
        return "-"
    found = runtime.config.person(person)
    return f"{found.name} ({person})" if found is not None and found.name != person else person


def _local(at: datetime | None, zone: ZoneInfo) -> str:
    if at is None:
        return "-"
    return f"{at.astimezone(zone):%a %Y-%m-%d %H:%M}"


@oncall_app.callback()
def oncall(
    ctx: typer.Context,
    config: ConfigOption = None,
    at: Annotated[
        str | None, typer.Option("--at", help="ISO-8601 time to ask about (default: now)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Answer as JSON")] = False,
    tz: TzOption = None,
) -> None:
    """Who is on call in every rotation, now or --at a time."""
    ctx.obj = {"config": config, "tz": tz}
    if ctx.invoked_subcommand is not None:
        return
    from bot.cli.fastpath import open_view

    view = open_view(config)  # None: the full path (calendars, a new database, …)
    if view is not None:
        view.close()  # the stored overrides are loaded; the rest is the config's
        when = _time("--at", at, view, ctx) if at is not None else None
        moment = when or view.now
        statuses = [view.oncall.status(rid, moment) for rid in view.oncall.rotation_ids]
        report = view.oncall.report(moment)
        shown: Runtime | ReadView = view
    else:
        runtime = load_runtime(config)
        when = _time("--at", at, runtime, ctx) if at is not None else None
        moment = when or runtime.now()

        def answer() -> tuple[dict[str, Any], list[Status]]:
            statuses = [runtime.oncall.status(rid, moment) for rid in runtime.oncall.rotation_ids]
            return runtime.oncall.report(moment), statuses

        report, statuses = _with_oncall(runtime, answer)
        shown = runtime
    if as_json:
        print_json(report)
        return
    _print_statuses(shown, statuses, moment, _zone(shown, ctx))


def _print_statuses(
    runtime: Runtime | ReadView, statuses: list[Status], at: datetime, tz: ZoneInfo
) -> None:
    if not statuses:
        out.print("No rotations are configured (add rotations: to the config).")
        return
    table = Table(title=f"On call at {local_time(at, tz)} (times in {zone_label(tz)})")
    for col in ("rotation", "on call", "since", "until", "next"):
        table.add_column(col, overflow="fold")
    for s in statuses:
        table.add_row(
            s.rotation,
            _name(runtime, s.person) if s.person else "[dim]nobody[/]",
            _local(s.since, tz),
            _local(s.until, tz),
            _name(runtime, s.next.person) if s.next else "-",
        )
    out.print(table)
    for s in statuses:
        if s.problem:
            # The problem may quote a calendar's own text: no markup, no escape sequences.
            err.print(Text.assemble(("warning:", "yellow"), f" rotation {s.rotation}: ",
                                    terminal(s.problem)), soft_wrap=True)  # fmt: skip


@oncall_app.command("take")
def take(
    ctx: typer.Context,
    rotation: Annotated[str, typer.Argument(help="Rotation id from the config")],
    person: Annotated[str, typer.Option("--person", help="Team member id who takes the turn")],
    length: Annotated[
        str | None, typer.Option("--for", help="How long, e.g. 2h, 1d (default: rest of turn)")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="ISO-8601 end time")] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="ISO-8601 start time (default: now)")
    ] = None,
    note: Annotated[str, typer.Option("--note", help="Why, for the record")] = "",
    config: ConfigOption = None,
) -> None:
    """Put PERSON on call in ROTATION (an override stored in the database).

    For --for, until --until, or (neither) until the turn on call at the start ends. It wins
    over the turn and over older overrides.
    """
    if length is not None and until is not None:
        fail("give either --for or --until, not both")
    span: timedelta | None = None
    if length is not None:
        try:
            span = parse_duration(length)
        except DurationError as exc:
            fail(f"--for: {exc}")
        if span <= timedelta(0):
            fail(f"--for {length!r} must be longer than zero")
    runtime = load_runtime(_config(ctx, config))
    end = _time("--until", until, runtime, ctx) if until is not None else None
    begin = _time("--from", start, runtime, ctx) if start is not None else None
    try:
        by = f"cli:{getpass.getuser()}"
    except Exception:
        by = "cli"

    async def go() -> tuple[datetime, datetime]:
        try:
            await runtime.oncall.prepare()
            stored = await runtime.oncall.take(
                rotation, person, start=begin, end=end, length=span, by=by, note=note
            )
            return stored.start, stored.end
        finally:
            await runtime.close()

    try:
        first, last = run_async(go)
    except OncallError as exc:
        fail(str(exc))
    tz = _zone(runtime, ctx)
    out.print(
        f"{_name(runtime, person)} is on call in {rotation} from {_local(first, tz)} until "
        f"{_local(last, tz)} ({zone_label(tz)}, {format_duration(last - first)}).",
        markup=False,
    )


@oncall_app.command("turns")
def turns(
    ctx: typer.Context,
    rotation: Annotated[str, typer.Argument(help="Rotation id from the config")],
    days: Annotated[int, typer.Option("--days", min=1, max=366, help="How far ahead")] = 14,
    start: Annotated[str | None, typer.Option("--from", help="ISO-8601 (default: now)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Answer as JSON")] = False,
    config: ConfigOption = None,
) -> None:
    """The turns of ROTATION over the next --days days (overrides applied)."""
    runtime = load_runtime(_config(ctx, config))
    begin = _time("--from", start, runtime, ctx) if start is not None else None
    first = begin or runtime.now()
    try:
        listed = _with_oncall(
            runtime, lambda: runtime.oncall.turns(rotation, first, first + timedelta(days=days))
        )
    except OncallError as exc:
        fail(str(exc))
    if as_json:
        print_json(
            [
                {"person": t.person, "start": iso(t.start), "end": iso(t.end),
                 "override": t.override}
                for t in listed
            ]
        )  # fmt: skip
        return
    tz = _zone(runtime, ctx)
    table = Table(title=f"{rotation}: turns from {_local(first, tz)} ({zone_label(tz)})")
    for col in ("on call", "from", "until", "length", ""):
        table.add_column(col)
    for t in listed:
        table.add_row(
            _name(runtime, t.person) if t.person else "[dim]nobody[/]",
            _local(t.start, tz),
            _local(t.end, tz),
            format_duration(t.end - t.start),
            "override" if t.override else "",
        )
    out.print(table)
