"""The `nudgebot` console script."""

from __future__ import annotations

import importlib
import logging
import os
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from bot.cli.common import ConfigOption, check_port, err, fail, load_runtime, out, run_async

# Each command's module is imported when that command runs (or help lists it): `waiting`
# must not pay for Bolt, python-telegram-bot, Alembic and the demo, which `run` and `demo` use.
LAZY: dict[str, tuple[str, str]] = {
    "waiting": ("bot.cli.queries", "waiting"),
    "stats": ("bot.cli.queries", "stats"),
    "import": ("bot.cli.importer", "import_command"),
    "history": ("bot.cli.history", "history"),
    "digest": ("bot.cli.reports", "digest"),
    "demo": ("bot.cli.demo", "demo"),
    "init": ("bot.cli.init", "init"),
    "oncall": ("bot.cli.oncall", "oncall_app"),
    "dead-letters": ("bot.cli.dead_letters", "dead_letters"),
}


# Typer's click types are annotated as Any: some typer versions vendor their own click.
def lazy_command(name: str) -> Any:
    module, attr = LAZY[name]
    target: Any = getattr(importlib.import_module(module), attr)
    command: Any
    if isinstance(target, typer.Typer):
        command = typer.main.get_group(target)
    else:
        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


class LazyGroup(TyperGroup):
    def invoke(self, ctx: Any) -> Any:
        out.reset()  # each command prints at its own terminal's width
        err.reset()
        return super().invoke(ctx)

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in LAZY:
            found = lazy_command(cmd_name)
            self.add_command(found, cmd_name)
        return found


app = typer.Typer(
    name="nudgebot",
    help="Makes sure nobody who talks to your business is left waiting.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=LazyGroup,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")


StrictOption = Annotated[
    bool, typer.Option("--strict", help="Treat warnings (setups that would do nothing) as errors")
]


def print_report(config: Any, path: str, *, strict: bool) -> None:
    """The startup report and its warnings; with ``strict``, warnings stop here."""
    from bot.config.report import startup_report

    report = startup_report(config, path)
    for line in report.lines:
        out.print(f"  {line}", markup=False, soft_wrap=True)
    for warning in report.warnings:
        err.print(f"warning: {warning}", markup=False, soft_wrap=True)
    if strict and report.warnings:
        fail(f"{len(report.warnings)} warning(s) and --strict: fix them first", code=1)


@app.command("check-config")
def check_config(config: ConfigOption = None, strict: StrictOption = False) -> None:
    """Validate the config file and print every problem with its key path and fix, then what
    each source and person will do (credentials, policy, where nudges go)."""
    from bot.config import ConfigError, load_config
    from bot.config.loader import resolve_config_path

    path = resolve_config_path(config)
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        for issue in exc.issues:
            err.print(str(issue), markup=False, soft_wrap=True)
        fail(f"{len(exc.issues)} problem(s) found in {path}", code=1)
    from bot.config.strength import weak_secrets

    weak = weak_secrets(
        os.environ,
        ((f"sources.{s.id}.secret", s.secret) for s in cfg.sources.values() if s.secret),
    )
    if weak:
        for problem in weak:
            err.print(problem, markup=False, soft_wrap=True)
        fail(f"{len(weak)} weak secret(s); nothing is wrong with the config file itself", code=1)
    if cfg.path is not None:
        out.print(
            f"{cfg.path}: OK — {len(cfg.team)} people, {len(cfg.sources)} sources, "
            f"{len(cfg.rotations)} rotations, {len(cfg.policies)} policies",
            markup=False,
            soft_wrap=True,  # one line, whatever the path's length: scripts grep it
        )
    print_report(cfg, str(path), strict=strict)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations (DATABASE_URL; `run` also does this at start)."""
    from storage.db import DatabaseURLError, database_url
    from storage.migrate import head, upgrade

    try:
        applied = upgrade(database_url())
    except DatabaseURLError as exc:
        fail(str(exc))
    except Exception as exc:
        fail(f"migration failed: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
    if applied:
        out.print(f"applied {', '.join(applied)}; database is at {head()}")
    else:
        out.print(f"database is up to date ({head()})")


@app.command("run")
def run(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Bind address [$NUDGEBOT_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Bind port [$NUDGEBOT_PORT]")] = None,
    strict: StrictOption = False,
) -> None:
    """Serve HTTP, run the adapters and the scheduler."""
    from bot import logsafety
    from bot.cli.serve import serve
    from bot.scheduler import tick_seconds
    from bot.wiring.process import assemble

    level = os.environ.get("NUDGEBOT_LOG_LEVEL", "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        fail(f"NUDGEBOT_LOG_LEVEL {level!r}: use DEBUG, INFO, WARNING or ERROR")
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logsafety.install()  # before anything can log: redaction, escaping, quiet HTTP clients
    from bot.config.loader import resolve_config_path

    runtime = load_runtime(config)
    logsafety.register(
        logsafety.config_secrets(
            runtime.config.sources.values(), (r.ical for r in runtime.config.rotations.values())
        )
    )
    print_report(runtime.config, str(resolve_config_path(config)), strict=strict)
    bind_host = host or os.environ.get("NUDGEBOT_HOST", "127.0.0.1")
    raw_port = port if port is not None else os.environ.get("NUDGEBOT_PORT", "8080")
    try:
        bind_port = int(raw_port)
    except ValueError:
        fail(f"NUDGEBOT_PORT {raw_port!r} is not a port number")
    check_port(bind_host, bind_port, "--port (or NUDGEBOT_PORT)")
    from bot.wiring.preflight import preflight

    if (problem := run_async(lambda: preflight(os.environ))) is not None:
        run_async(runtime.close)
        fail(problem)
    try:
        tick_seconds()  # refuse a bad NUDGEBOT_TICK_SECONDS now, not when the scheduler starts
        process = assemble(runtime)
    except ValueError as exc:  # adapter settings from the environment (tokens, URLs, modes)
        fail(str(exc))
    out.print(
        f"nudgebot listening on http://{bind_host}:{bind_port} "
        f"(database {runtime.db.engine.url.render_as_string(hide_password=True)})",
        markup=False,
    )
    run_async(lambda: serve(process, bind_host, bind_port))


def main() -> None:
    app()
