"""Every doc page's commands run as written: the shell blocks of README.md and docs/*.md are
extracted; the safe ones (`--help`, `check-config`, `init --non-interactive` in a temp dir,
`oncall`, `waiting`, `stats`) run against a temp config; every `nudgebot …` in them and in
inline code names options the command really has."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from bot.cli.main import app

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SAFE = ("check-config", "oncall", "waiting", "stats")
CONFIG = """\
timezone: Europe/Berlin
team:
  alice: {name: Alice, owner: true, slack: U0ALICE01}
  bob: {name: Bob, slack: U0BOB0001}
rotations:
  support: {members: [alice, bob], shift: 1w, handoff: "mon 09:00", start: 2026-11-02}
sources:
  website:
    {platform: webhook, secret: Qm9yZWFsaXMtd2ViaG9vay1zZWNyZXQtMDAwMDAwMDA, owner: alice,
     rotation: support}
"""


def _shell_lines() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        blocks = re.findall(r"```(?:sh|bash|shell|console)\n(.*?)```", page.read_text(), re.S)
        for block in blocks:
            for line in block.splitlines():
                command = line.split(" #", 1)[0].strip()
                if command and not command.startswith("#"):
                    found.append((page.name, command))
    return found


def _inline_commands() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for span in re.findall(r"`([^`\n]*nudgebot [^`\n]*)`", page.read_text()):
            found.append((page.name, span))
    return found


def _argv(command: str) -> list[str] | None:
    """The nudgebot arguments of a command line (env assignments and the path dropped)."""
    line = re.sub(r"\[[^\]]*\]", "", command)  # optional parts: [--json], [--from ISO]
    line = line.replace("\\|", "|")
    for part in line.split("&&"):
        try:
            tokens = shlex.split(part.split(" | ")[0])
        except ValueError:
            return None
        while tokens and re.match(r"^[A-Z_]+=", tokens[0]):
            tokens = tokens[1:]
        if tokens and (tokens[0] == "nudgebot" or re.match(r"^\S+/nudgebot$", tokens[0])):
            return tokens[1:] or None
    return None


def _resolve(argv: list[str]) -> tuple[Any, list[str]] | None:
    command: Any = typer.main.get_command(app)  # typer's own vendored click: duck-typed
    ctx = command.make_context("nudgebot", ["--help"], resilient_parsing=True)
    rest = list(argv)
    while hasattr(command, "get_command") and rest and not rest[0].startswith("-"):
        sub = command.get_command(ctx, rest[0])
        if sub is None:
            return None
        command, rest = sub, rest[1:]
    return command, rest


def _options(command: Any) -> set[str]:
    names = {"--help"}
    for param in command.params:
        names.update(o for o in (*param.opts, *param.secondary_opts) if o.startswith("-"))
    return names


COMMANDS = sorted({(page, cmd) for page, cmd in _shell_lines() + _inline_commands()
                   if _argv(cmd)})  # fmt: skip


@pytest.mark.parametrize(("page", "command"), COMMANDS)
def test_documented_options_exist(page: str, command: str) -> None:
    argv = _argv(command)
    assert argv is not None
    resolved = _resolve(argv)
    assert resolved is not None, f"{page}: {command!r} names no nudgebot command"
    cmd, rest = resolved
    options = _options(cmd)
    for token in rest:
        if token.startswith("--"):
            name = token.split("=", 1)[0]
            assert name in options, f"{page}: {command!r}: {name} is not an option of it"


def _safe(argv: list[str]) -> bool:
    if "--help" in argv:
        return True
    if argv[0] == "init":
        return "--non-interactive" in argv
    return argv[0] in SAFE and not (argv[0] == "oncall" and argv[1:2] == ["take"])


def _placeholder(command: str) -> bool:
    return (
        "…" in command
        or "<" in command
        or any(re.fullmatch(r"[A-Z][A-Z_.]+", t) for t in (_argv(command) or []))
    )


SAFE_COMMANDS = [(page, cmd) for page, cmd in COMMANDS
                 if _safe(_argv(cmd) or ["-"]) and not _placeholder(cmd)]  # fmt: skip


def test_some_documented_commands_are_run() -> None:
    assert len(SAFE_COMMANDS) >= 5, SAFE_COMMANDS


@pytest.mark.parametrize(("page", "command"), SAFE_COMMANDS)
def test_documented_command_runs(page: str, command: str, tmp_path: Path, db_url: str) -> None:
    argv = _argv(command)
    assert argv is not None
    (tmp_path / "nudgebot.yaml").write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUDGEBOT_", "SLACK_"))}
    env["DATABASE_URL"] = db_url
    if argv[0] == "init":  # in an empty directory of its own
        (tmp_path / "nudgebot.yaml").unlink()
    done = subprocess.run([sys.executable, "-m", "bot", *argv], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, f"{page}: {command!r}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr


def test_init_with_public_url_works_in_a_checkout(tmp_path: Path) -> None:
    """docs/deploy.md runs `init --public-url` in the clone, which ships the manifest
    template; that template is not a file of the user's to protect."""
    (tmp_path / "slack-app-manifest.yaml").write_text(
        (REPO / "slack-app-manifest.yaml").read_text()
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUDGEBOT_")}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "init", "--non-interactive", "--public-url",
         "https://nudgebot.example.com", "--person", "alice", "--slack-id", "U0ALICE01"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (
        "https://nudgebot.example.com/slack/events"
        in (tmp_path / "slack-app-manifest.yaml").read_text()
    )
