"""Helpers shared by the CLI commands: option types, error reporting, time parsing."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from bot.domain.untrusted import terminal

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from bot.app import Runtime
    from bot.config import Config

T = TypeVar("T")


class _LazyConsole:
    """A rich Console made on first use: `waiting` prints its table without rich, and
    importing rich.console alone costs ~30 ms of that command's start."""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr, highlight=False)
        return self._console

    def reset(self) -> None:
        """Forget the console, so the next use makes one for the terminal (and ``COLUMNS``)
        of this command. A Console pins its width once set, and ``nudgebot``'s ``app`` may
        run many commands in one process (tests, CliRunner): one command's width must not
        become the next one's."""
        self._console = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console(), name)


err: Any = _LazyConsole(stderr=True)
out: Any = _LazyConsole(stderr=False)

ConfigOption = Annotated[
    str | None,
    typer.Option("--config", "-c", help="Config file (default: $NUDGEBOT_CONFIG, ./nudgebot.yaml)"),
]


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


def load_cli_config(config: str | None) -> Config:
    """The config file, or every problem in it and exit 2 (as ``load_runtime`` does)."""
    from bot.config import ConfigError, load_config

    try:
        return load_config(config)
    except ConfigError as exc:
        _config_failed(exc)


def _config_failed(exc: Any) -> NoReturn:
    for issue in exc.issues:
        err.print(str(issue), soft_wrap=True, markup=False)
    fail(f"{len(exc.issues)} problem(s) in the config; nothing was done")


def load_runtime(config: str | None, *, migrate: bool = True) -> Runtime:
    """Load config and database, turning every expected failure into a clear message."""
    from bot.app import Runtime
    from bot.config import ConfigError
    from storage.db import DatabaseURLError
    from storage.schema_version import ensure_schema

    try:
        runtime = Runtime.build(config)
        if migrate:
            ensure_schema(runtime.db.url)
        return runtime
    except ConfigError as exc:
        _config_failed(exc)
    except DatabaseURLError as exc:
        fail(str(exc))
    except ValueError as exc:  # settings from the environment (NUDGEBOT_MESSENGER, …)
        fail(str(exc))
    except Exception as exc:
        if exc.__class__.__module__.startswith(("sqlalchemy", "psycopg", "sqlite3", "alembic")):
            fail(f"database unavailable: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
        raise


def run_async(make: Callable[[], Awaitable[T]]) -> T:
    import asyncio  # a tenth of the fast read path's start: only the commands that await

    return asyncio.run(_wrap(make))


async def _wrap(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


def parse_at(value: str | None, now: datetime) -> datetime:
    if value is None:
        return now
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        fail(f"--at {value!r} is not an ISO-8601 time such as 2026-12-24T10:00:00+01:00")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# Characters a terminal acts on that JSON leaves raw with ensure_ascii=False (C1 controls such
# as CSI, bidi controls, line separators) and lone surrogates, which stdout cannot encode.
_JSON_RAW = re.compile(
    "[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def json_text(data: Any) -> str:
    """JSON for a terminal: readable (non-ASCII scripts and emoji kept), and every character
    a terminal could act on written as a ``\\uXXXX`` escape (still the same JSON value)."""
    raw = json.dumps(data, indent=2, ensure_ascii=False)
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group(0)):04x}", raw)


def print_json(data: Any) -> None:
    sys.stdout.write(json_text(data) + "\n")


def cell(value: object) -> Text:
    """Customer text for a rich table cell: no rich markup, no terminal controls."""
    from rich.text import Text

    return Text(terminal(str(value)))


def ago(delta: timedelta) -> str:
    from bot.domain.durations import format_duration

    return format_duration(delta)


def print_table(title: str, columns: list[str], rows: list[list[str]], *, plain: bool) -> None:
    """A table that fits the terminal, prints whole when piped, or is TSV with ``--plain``.
    Cells are customer text: terminal controls are made visible, nothing is markup."""
    if plain:

        def tsv(value: str) -> str:
            return terminal(value).replace("\t", " ").replace("\n", " ")

        sys.stdout.write("\t".join(columns) + "\n")
        for row in rows:
            sys.stdout.write("\t".join(tsv(v) for v in row) + "\n")
        return
    import shutil

    from bot.cli.table import render

    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
    cells = [[terminal(v) for v in row] for row in rows]
    sys.stdout.write(render(title, columns, cells, width))


PlainOption = Annotated[bool, typer.Option("--plain", help="Tab-separated values, one row a line")]


TzOption = Annotated[
    str | None,
    typer.Option("--tz", help="Show times in this IANA zone [default: the config's timezone]"),
]


def display_zone(config: Any, tz: str | None) -> ZoneInfo:
    """The one time-zone rule of the CLI: ``--tz``, else the config's ``timezone``."""
    name = str(tz or getattr(config, "timezone", "UTC"))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"--tz {name!r} is not a time zone; use an IANA name such as Europe/Berlin")


def zone_label(zone: ZoneInfo) -> str:
    return zone.key


def local_time(value: datetime, zone: ZoneInfo) -> str:
    """Minutes, in ``zone``, with its abbreviation: ``2026-12-24 10:00 CET``."""
    from bot.domain.localtime import labelled

    return labelled(value, zone)


def parse_local(option: str, value: str, zone: ZoneInfo) -> datetime:
    """An ISO time; without an offset it is read in ``zone`` (the config's or --tz)."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        fail(f"{option} {value!r} is not an ISO-8601 time such as 2026-12-24T10:00")
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)).astimezone(UTC)


def check_port(host: str, port: int, option: str) -> None:
    """uvicorn exits the process with a traceback when it cannot bind; say so in one line
    before anything starts."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            fail(
                f"cannot listen on {host}:{port} ({exc.strerror}); stop what uses it or "
                f"choose another port with {option} {port + 1}"
            )
