"""`nudgebot import FILE.jsonl --source ID`: the bulk path into the same core as the webhook."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from sqlalchemy import func, select

from adapters.webhook.schema import PersonResolver, SchemaError, line_parser
from bot.app import Runtime
from bot.cli.common import ConfigOption, ago, err, fail, load_runtime, out, run_async
from bot.domain.events import InboundMessage
from bot.domain.untrusted import terminal
from bot.services.import_history import ImportedWaiting, settle_import
from storage.models import Message

BATCH = 5000  # one write transaction per batch: big enough to amortise, small enough to not stall
HOLD = 1000  # lines at a batch's end whose threads are carried into the next batch (_cut)
MAX_REPORTED = 20
_WRITTEN = ("conversations", "messages", "waiting_periods")  # the tables an import grows
_COLLECT_EVERY = 8  # batches between two collections of the young generations


@dataclass
class ImportReport:
    lines: int = 0
    imported: int = 0
    new: int = 0
    conversations: set[int] = field(default_factory=set)
    bad: list[tuple[int, str]] = field(default_factory=list)
    waiting: ImportedWaiting = field(default_factory=ImportedWaiting)


def _remembering(resolve: PersonResolver) -> PersonResolver:
    """``resolve`` asked once per author: a config lookup tries five identity kinds, and an
    import repeats the same few team authors thousands of times (the config cannot change
    while it runs)."""
    known: dict[str, str | None] = {}

    def remembered(author_id: str) -> str | None:
        try:
            return known[author_id]
        except KeyError:
            found = known[author_id] = resolve(author_id)
            return found

    return remembered


def _cut(batch: list[InboundMessage]) -> tuple[list[InboundMessage], list[InboundMessage]]:
    """The messages to write now, and those carried into the next batch: the ones of threads
    seen in the batch's last ``HOLD`` lines. An export is ordered by time, so a thread still
    going on at the cut has its next messages in the next lines; written in two halves, the
    second half would read the first back and rewrite it (≈ 5 % of an import, measured).
    Order does not matter to ingest, only cost; carrying is capped at half a batch."""
    recent = {(m.channel, m.thread) for m in batch[-HOLD:]}
    now: list[InboundMessage] = []
    carried: list[InboundMessage] = []
    for m in batch:
        (carried if (m.channel, m.thread) in recent else now).append(m)
    if len(carried) > len(batch) // 2:
        return batch, []
    return now, carried


@contextmanager
def _young_collections_paused() -> Iterator[None]:
    """The cyclic garbage collector off while lines are read and batches ingested.

    An import allocates millions of short-lived records, freed by reference counting as each
    batch is written; the collector ran every 700 allocations all the same, walking them and
    every young object around them: 35 % of an import's CPU (measured: 14,300 → 21,900 msg/s
    with it off). The cycles batches leave behind (sessions, transactions) are collected
    every few batches (``flush``) and when the import ends.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.collect(1)
        if enabled:
            gc.enable()


async def import_file(
    runtime: Runtime,
    handle: TextIO,
    source: str,
    platform: str,
    progress: Progress | None = None,
    task: TaskID | None = None,
    *,
    nudge: bool = False,
) -> ImportReport:
    """``nudge``: nudge imported conversations like live ones; by default what is still
    waiting at the end is history, summarised once to the people concerned."""
    report = ImportReport()
    # History is not planned while it is read, so a running `run` cannot nudge it meanwhile.
    batch: list[InboundMessage] = []
    async with runtime.db.read() as session:
        before = await session.scalar(
            select(func.count()).select_from(Message).where(Message.source == source)
        )

    analyzed = int(before or 0)  # messages the planner's statistics last saw

    full = BATCH  # lines that make a batch: BATCH new ones after those carried over
    flushes = 0

    async def flush(last: bool = False) -> None:
        nonlocal analyzed, full, flushes
        if batch:
            now, carried = (batch, []) if last else _cut(batch)
            result = await runtime.inbox.ingest_batch(now, nudge_new=nudge)
            report.imported += len(now)
            report.conversations.update(result.conversations)
            batch[:] = carried
            full = BATCH + len(carried)
            flushes += 1
            if flushes % _COLLECT_EVERY == 0:  # the cycles batches leave (see below)
                gc.collect(1)
            if report.imported >= analyzed:  # the tables doubled: a few ANALYZEs per import
                await runtime.db.refresh_statistics(_WRITTEN)
                analyzed = 2 * (int(before or 0) + report.imported)
        if progress is not None and task is not None:
            progress.update(task, completed=read)

    # The per-line loop is the import's only per-message Python outside ingest: it stays
    # flat (no generator, no per-line progress refresh, the parser's options bound once).
    parse = line_parser(
        source=source, platform=platform, resolve=_remembering(runtime.resolve_person)
    )
    append = batch.append
    count = read = 0
    with _young_collections_paused():
        for number, line in enumerate(handle, start=1):
            if progress is not None:
                read += len(line.encode())
            if line.isspace():  # blank lines are not counted; enumerate yields no empty ones
                continue
            count += 1
            try:
                append(parse(line))
            except SchemaError as exc:
                report.bad.append((number, str(exc)))
                continue
            if len(batch) >= full:
                await flush()
        await flush(last=True)
    report.lines = count
    async with runtime.db.read() as session:
        after = await session.scalar(
            select(func.count()).select_from(Message).where(Message.source == source)
        )
    report.new = int(after or 0) - int(before or 0)
    report.waiting = await settle_import(
        runtime.db, runtime.engine.settings, report.conversations, runtime.now(), nudge=nudge
    )
    return report


def waiting_report(waiting: ImportedWaiting, now: datetime, nudge: bool) -> list[str]:
    """What the import leaves waiting: count, oldest, by source and by responsible person."""
    if not waiting.count:
        return ["nothing imported is waiting for a reply"]
    lines = [f"{waiting.count} imported conversations are still waiting for a reply"]
    if waiting.oldest is not None:
        o = waiting.oldest
        lines.append(f"  oldest: {o.customer or 'a customer'} in {o.source}, waiting "
                     f"{ago(now - o.waiting_since)} (conversation {o.conversation})")  # fmt: skip
    lines.append("  by source: " + ", ".join(f"{k} {n}" for k, n in waiting.by_source))
    lines.append("  by responsible person: " + ", ".join(f"{k} {n}" for k, n in waiting.by_person))
    if nudge:
        lines.append("  --nudge: they are nudged like live conversations (batched per person)")
        return lines
    lines.append("  stored as history: not nudged one by one (use --nudge for that)")
    if waiting.summaries_to:
        lines.append("  one summary each goes to " + ", ".join(waiting.summaries_to)
                     + " (sent by `nudgebot run`)")  # fmt: skip
    if waiting.unreachable:
        lines.append("  no Slack or Telegram address to summarise to: "
                     + ", ".join(waiting.unreachable))  # fmt: skip
    return lines


def import_command(
    file: Annotated[
        Path, typer.Argument(help="JSON Lines file, one message per line ('-' = stdin)")
    ],
    source: Annotated[str, typer.Option("--source", help="Source id the messages belong to")],
    config: ConfigOption = None,
    nudge: Annotated[
        bool,
        typer.Option(
            "--nudge",
            help="Nudge imported conversations still waiting like live ones "
            "(default: they are history, summarised once per person)",
        ),
    ] = False,
) -> None:
    """Bulk-load messages (one JSON object per line). Re-importing the same file changes nothing."""
    runtime = load_runtime(config)
    configured = runtime.config.source(source)
    if configured is None and runtime.config.sources:
        known = ", ".join(sorted(runtime.config.sources))
        fail(f"--source {source!r} is not in the config (known: {known})")
    platform = configured.platform if configured else "import"
    if str(file) != "-" and not file.is_file():
        fail(f"{file}: no such file")
    show = sys.stderr.isatty()

    async def go() -> ImportReport:
        try:
            if str(file) == "-":
                return await import_file(runtime, sys.stdin, source, str(platform), nudge=nudge)
            size = file.stat().st_size
            with file.open(encoding="utf-8", errors="replace") as handle:
                if not show:
                    return await import_file(runtime, handle, source, str(platform), nudge=nudge)
                columns = (
                    TextColumn("importing"),
                    BarColumn(),
                    DownloadColumn(),
                    TimeRemainingColumn(),
                )
                with Progress(*columns, console=err, transient=True) as progress:
                    task = progress.add_task("import", total=size)
                    return await import_file(
                        runtime, handle, source, str(platform), progress, task, nudge=nudge
                    )
        finally:
            await runtime.close()

    report = run_async(go)
    for number, problem in report.bad[:MAX_REPORTED]:
        shown = terminal(f"{file}:{number}: {problem} (line skipped)")  # it may quote the file
        err.print(shown, markup=False, soft_wrap=True)
    if len(report.bad) > MAX_REPORTED:
        err.print(f"… and {len(report.bad) - MAX_REPORTED} more bad lines", markup=False)
    out.print(
        f"{report.lines} lines: {report.imported} messages read, {report.new} new, "
        f"{report.imported - report.new} already stored; {len(report.conversations)} "
        f"conversations touched; {len(report.bad)} bad lines skipped",
        markup=False,
    )
    for line in waiting_report(report.waiting, runtime.now(), nudge):
        out.print(line, markup=False, soft_wrap=True)
    if report.bad and report.imported == 0:
        raise typer.Exit(1)
