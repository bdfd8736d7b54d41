"""`nudgebot init`: a few questions (or flags), then a commented ``nudgebot.yaml``, the Slack
app manifest with the public URL filled in, and ``.env`` with fresh secrets beside it."""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from bot.cli.common import fail, out
from bot.cli.init_ask import Asker, pattern
from bot.cli.init_files import (
    DEFAULT_SOURCE_IDS,
    Answers,
    render_config,
    render_env,
    render_manifest,
)
from bot.cli.init_platforms import PHONE_NUMBER_ID, platform_notes
from bot.cli.init_platforms import mailbox as mailbox_answers
from bot.config import ConfigError, parse_config
from bot.config.strength import weak_secrets

# What the written config reads from .env, as check-config would see it once filled in.
CHECK_ENV = {"WEBHOOK_SECRET": "x", "IMAP_PASSWORD": "x", "SMTP_PASSWORD": "x"}
_ID = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
_SLACK_CHANNEL = re.compile(r"^[CG][A-Z0-9]{2,}$")
_TELEGRAM_USER = re.compile(r"^[0-9]{1,15}$")
_TELEGRAM_CHAT = re.compile(r"^-?[0-9]{1,20}$")


def _zone(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (KeyError, ValueError, OSError):
        return f"{value!r} is not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)"
    return None


def _url(value: str) -> str | None:
    if not value or re.match(r"^https?://[^/\s]+(/\S*)?$", value):
        return None
    return f"{value!r} is not a URL such as https://nudgebot.example.com"


def _platform(value: str) -> str | None:
    if value in DEFAULT_SOURCE_IDS:
        return None
    return f"{value!r}: use webhook, slack, telegram, email or whatsapp"


def _default_person() -> str:
    try:
        name = re.sub(r"[^a-z0-9_-]", "", getpass.getuser().lower())
    except (OSError, KeyError):
        name = ""
    return name if _ID.match(name) else "admin"


def gather(ask: Asker, flags: Mapping[str, str | None]) -> Answers:
    person = ask.ask(
        "--person",
        "Your member id (short, lowercase)",
        flags["person"] or _default_person(),
        pattern(_ID, "a short lowercase id"),
    )
    name = ask.ask(
        "--name",
        "Your name",
        flags["name"] or person.capitalize(),
        lambda v: None if v else "a name is needed",
    )
    slack = ask.ask(
        "--slack-id",
        "Your Slack user ID (U…; empty to skip)",
        flags["slack"],
        pattern(_SLACK_USER, "a Slack user ID such as U0ALICE01", optional=True),
    )
    telegram = ask.ask(
        "--telegram-id",
        "Your numeric Telegram user ID (empty to skip)",
        flags["telegram"],
        pattern(_TELEGRAM_USER, "a numeric Telegram user ID", optional=True),
    )
    zone = ask.ask("--timezone", "Time zone", flags["timezone"] or "UTC", _zone)
    platform = ask.ask(
        "--source-platform",
        "First source: webhook, slack, telegram, email or whatsapp",
        flags["platform"] or "webhook",
        _platform,
    )
    source = ask.ask(
        "--source-id",
        "Its id",
        flags["source"] or DEFAULT_SOURCE_IDS[platform],
        pattern(_ID, "a short lowercase id"),
    )
    channel: str | None = None
    # platform -> (flag, question, the flag's key, the answer's pattern and its description)
    where = {
        "slack": ("--channel", "Slack channel ID to watch (C…)", "channel",
                  _SLACK_CHANNEL, "a Slack channel ID such as C0CUST001"),
        "telegram": ("--channel", "Telegram group chat ID (e.g. -1001234567890)", "channel",
                     _TELEGRAM_CHAT, "a Telegram chat ID"),
        "whatsapp": ("--phone-number-id", "WhatsApp phone number ID (WhatsApp Manager → API Setup)",
                     "phone_number_id", PHONE_NUMBER_ID, "a WhatsApp phone number ID (digits)"),
    }  # fmt: skip
    if platform in where:
        flag, question, key, shape, described = where[platform]
        channel = ask.ask(flag, question, flags[key], pattern(shape, described))
    mailbox = mailbox_answers(ask, flags) if platform == "email" else None
    public_url = ask.ask(
        "--public-url", "Public URL that reaches Nudgebot (empty: later)", flags["public_url"], _url
    )
    return Answers(
        person,
        name,
        zone,
        slack or None,
        telegram or None,
        platform,
        source,
        channel,
        public_url.rstrip("/") or None,
        mailbox,
    )


def env_values(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if not k.lstrip().startswith("#")}


def write_private(path: Path, text: str) -> None:
    """Write ``path`` readable by its owner only from the first byte: created with mode 600
    (never world-readable between a write and a chmod), an existing file truncated and set
    to 600 before anything is written into it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            fd = -1
            file.write(text)
    finally:
        if fd != -1:
            os.close(fd)


def _template(path: Path) -> bool:
    return path.name == "slack-app-manifest.yaml" and "YOUR-HOST" in path.read_text("utf-8")


def init(
    config: Annotated[Path, typer.Option("--config", "-c", help="Config file to write")] = Path(
        "nudgebot.yaml"
    ),
    public_url: Annotated[str | None, typer.Option(help="Public base URL (https://…)")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA time zone, e.g. Europe/Berlin")] = None,
    person: Annotated[str | None, typer.Option(help="Your member id")] = None,
    name: Annotated[str | None, typer.Option(help="Your name")] = None,
    slack_id: Annotated[str | None, typer.Option(help="Your Slack user ID")] = None,
    telegram_id: Annotated[str | None, typer.Option(help="Your Telegram user ID")] = None,
    source_platform: Annotated[
        str | None, typer.Option(help="webhook|slack|telegram|email|whatsapp")
    ] = None,
    source_id: Annotated[str | None, typer.Option(help="The first source's id")] = None,
    channel: Annotated[str | None, typer.Option(help="Slack channel / Telegram chat ID")] = None,
    address: Annotated[str | None, typer.Option(help="email: the shared mailbox")] = None,
    imap_host: Annotated[str | None, typer.Option(help="email: IMAP server")] = None,
    smtp_host: Annotated[str | None, typer.Option(help="email: SMTP server ('' for none)")] = None,
    team_domains: Annotated[str | None, typer.Option(help="email: a.com,b.com")] = None,
    phone_number_id: Annotated[str | None, typer.Option(help="whatsapp: phone number ID")] = None,
    non_interactive: Annotated[bool, typer.Option(help="Ask nothing; flags or defaults")] = False,
    force: Annotated[bool, typer.Option(help="Overwrite existing files")] = False,
) -> None:
    """Write a commented nudgebot.yaml, slack-app-manifest.yaml and .env (fresh secrets)."""
    folder = config.parent
    manifest, env_file = folder / "slack-app-manifest.yaml", folder / ".env"
    # The checkout's own manifest is the unfilled template (YOUR-HOST): nobody's work to lose.
    existing = [p for p in (config, manifest) if p.exists() and not _template(p)]
    if existing and not force:
        fail(f"{', '.join(map(str, existing))} already exist(s); use --force to overwrite", 1)
    flags = {"person": person, "name": name, "slack": slack_id, "telegram": telegram_id,
             "timezone": timezone, "platform": source_platform, "source": source_id,
             "channel": channel, "public_url": public_url, "address": address,
             "imap_host": imap_host, "smtp_host": smtp_host, "team_domains": team_domains,
             "phone_number_id": phone_number_id}  # fmt: skip
    if env_file.exists() and not force:
        kept = env_values(env_file.read_text(encoding="utf-8", errors="replace"))
        hooks = [("WEBHOOK_SECRET", kept["WEBHOOK_SECRET"])] if kept.get("WEBHOOK_SECRET") else []
        if weak := weak_secrets(kept, hooks):
            fail(f"{env_file} is kept (no --force) but: " + "; ".join(weak), 1)
    answers = gather(Asker(not non_interactive), flags)
    text = render_config(answers)
    try:  # never write a file that check-config would reject
        parse_config(text, file=str(config), env=CHECK_ENV)
    except ConfigError as exc:
        fail("; ".join(str(i) for i in exc.issues))
    folder.mkdir(parents=True, exist_ok=True)
    config.write_text(text, encoding="utf-8")
    manifest.write_text(render_manifest(answers.public_url), encoding="utf-8")
    written = [config, manifest]
    if force or not env_file.exists():
        write_private(env_file, render_env(answers))
        written.append(env_file)
    out.print(f"wrote {', '.join(map(str, written))}", markup=False)
    if answers.notify is None:
        out.print("[yellow]note:[/] no Slack or Telegram ID: nobody can be nudged yet")
    if answers.public_url is None:
        out.print("[yellow]note:[/] no public URL: the manifest still says YOUR-HOST")
    platform_notes(answers, env_file)
    out.print(
        f"next: set -a; . {env_file}; set +a; nudgebot check-config --config {config}; "
        f"nudgebot run --config {config}",
        markup=False,
        soft_wrap=True,
    )
