"""Helpers shared by the CLI commands: option types, error reporting, time parsing."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from bot.app import Runtime
from bot.config import ConfigError
from bot.domain.untrusted import terminal
from storage.db import DatabaseURLError
from storage.migrate import upgrade

T = TypeVar("T")
err = Console(stderr=True, highlight=False)
out = Console(highlight=False)

ConfigOption = Annotated[
    str | None,
    typer.Option("--config", "-c", help="Config file (default: $NUDGEBOT_CONFIG, ./nudgebot.yaml)"),
]


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


def runtime(config: str | None, *, migrate: bool = True) -> Runtime:
    """Load config and database, turning every expected failure into a clear message."""
    try:
        rt = Runtime.build(config)
        if migrate:
            upgrade(rt.db.url)
        return rt
    except ConfigError as exc:
        for issue in exc.issues:
            err.print(str(issue), soft_wrap=True, markup=False)
        fail(f"{len(exc.issues)} problem(s) in the config; nothing was done")
    except DatabaseURLError as exc:
        fail(str(exc))
    except ValueError as exc:  # settings from the environment (NUDGEBOT_MESSENGER, …)
        fail(str(exc))
    except Exception as exc:
        if exc.__class__.__module__.startswith(("sqlalchemy", "psycopg", "sqlite3", "alembic")):
            fail(f"database unavailable: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
        raise


def run_async(make: Callable[[], Awaitable[T]]) -> T:
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
    return Text(terminal(str(value)))


def ago(delta: timedelta) -> str:
    from bot.domain.durations import format_duration

    return format_duration(delta)
