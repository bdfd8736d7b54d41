"""The `nudgebot` console script."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer

from bot.cli.common import ConfigOption, err, fail, out, run_async, runtime
from bot.cli.dead_letters import dead_letters
from bot.cli.demo import demo
from bot.cli.history import history
from bot.cli.importer import import_command
from bot.cli.init import init
from bot.cli.oncall import oncall_app
from bot.cli.queries import stats, waiting
from bot.cli.reports import digest
from bot.config import ConfigError, load_config
from bot.config.loader import resolve_config_path
from bot.config.strength import weak_secrets
from storage.db import DatabaseURLError, database_url
from storage.migrate import head, upgrade

app = typer.Typer(
    name="nudgebot",
    help="Makes sure nobody who talks to your business is left waiting.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(oncall_app, name="oncall")

app.command("waiting")(waiting)
app.command("stats")(stats)
app.command("import")(import_command)
app.command("history")(history)
app.command("digest")(digest)
app.command("demo")(demo)
app.command("init")(init)
app.command("dead-letters")(dead_letters)


@app.command("check-config")
def check_config(config: ConfigOption = None) -> None:
    """Validate the config file and print every problem with its key path and fix."""
    path = resolve_config_path(config)
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        for issue in exc.issues:
            err.print(str(issue), markup=False, soft_wrap=True)
        fail(f"{len(exc.issues)} problem(s) found in {path}", code=1)
    weak = weak_secrets(
        os.environ,
        ((f"sources.{s.id}.secret", s.secret) for s in cfg.sources.values() if s.secret),
    )
    if weak:
        for problem in weak:
            err.print(problem, markup=False, soft_wrap=True)
        fail(f"{len(weak)} weak secret(s); nothing is wrong with the config file itself", code=1)
    if cfg.path is None:
        out.print(f"{path} does not exist: using the built-in empty config (no team, no sources)")
        return
    out.print(
        f"{cfg.path}: OK — {len(cfg.team)} people, {len(cfg.sources)} sources, "
        f"{len(cfg.rotations)} rotations, {len(cfg.policies)} policies",
        markup=False,
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations (DATABASE_URL; `run` also does this at start)."""
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
    rt = runtime(config)
    logsafety.register(
        logsafety.config_secrets(
            rt.config.sources.values(), (r.ical for r in rt.config.rotations.values())
        )
    )
    bind_host = host or os.environ.get("NUDGEBOT_HOST", "127.0.0.1")
    raw_port = port if port is not None else os.environ.get("NUDGEBOT_PORT", "8080")
    try:
        bind_port = int(raw_port)
    except ValueError:
        fail(f"NUDGEBOT_PORT {raw_port!r} is not a port number")
    try:
        tick_seconds()  # refuse a bad NUDGEBOT_TICK_SECONDS now, not when the scheduler starts
        process = assemble(rt)
    except ValueError as exc:  # adapter settings from the environment (tokens, URLs, modes)
        fail(str(exc))
    out.print(
        f"nudgebot listening on http://{bind_host}:{bind_port} "
        f"(database {rt.db.engine.url.render_as_string(hide_password=True)})",
        markup=False,
    )
    run_async(lambda: serve(process, bind_host, bind_port))


def main() -> None:
    app()
