"""`nudgebot init`'s questions and closing notes for an email mailbox and a WhatsApp number
(the config and .env text they lead to is ``init_files``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from rich.markup import escape

from bot.cli.common import out
from bot.cli.init_ask import Asker, pattern
from bot.cli.init_files import Answers, Mailbox

PHONE_NUMBER_ID = re.compile(r"^[0-9]{5,30}$")
_ADDRESS = re.compile(r"^[^@\s<>\"',;:{}\[\]#]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$")
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
_DOMAINS = re.compile(r"^([A-Za-z0-9.-]+\.[A-Za-z0-9-]+)(\s*,\s*[A-Za-z0-9.-]+\.[A-Za-z0-9-]+)*$")


def mailbox(ask: Asker, flags: Mapping[str, str | None]) -> Mailbox:
    address = ask.ask(
        "--address",
        "The shared mailbox's address (e.g. support@example.com)",
        flags["address"],
        pattern(_ADDRESS, "an address such as support@example.com"),
    ).lower()
    domain = address.rpartition("@")[2]
    imap = ask.ask(
        "--imap-host",
        "Its IMAP server (port 993, TLS)",
        flags["imap_host"] or f"imap.{domain}",
        pattern(_HOST, "a host name such as imap.example.com"),
    )
    smtp = ask.ask(
        "--smtp-host",
        "Its SMTP server for replies (port 587, STARTTLS; none: no Reply)",
        flags["smtp_host"] if flags["smtp_host"] is not None else f"smtp.{domain}",
        pattern(_HOST, "a host name such as smtp.example.com (or none)", optional=True),
    )
    smtp = "" if smtp.lower() == "none" else smtp
    domains = ask.ask(
        "--team-domains",
        "Your team's mail domains, comma-separated (their senders are the team)",
        flags["team_domains"] or domain,
        pattern(_DOMAINS, "domains such as example.com, example.org"),
    )
    return Mailbox(
        address,
        imap,
        smtp or None,
        tuple(d.strip().lower() for d in domains.split(",")),
    )


def platform_notes(answers: Answers, env_file: Path) -> None:
    """What only the user can add: the mailbox's passwords, Meta's token and app secret."""
    if answers.mailbox is not None:
        which = "IMAP_PASSWORD and SMTP_PASSWORD" if answers.mailbox.smtp_host else "IMAP_PASSWORD"
        out.print(
            f"[yellow]note:[/] set {which} in {env_file}; new mail arrives at once where the "
            "server offers IMAP IDLE, else every poll_every",
            soft_wrap=True,
        )
    if answers.platform == "whatsapp":
        hook = escape(f"{answers.public_url or 'https://YOUR-HOST'}/whatsapp/webhook")
        out.print(
            f"[yellow]note:[/] set WHATSAPP_TOKEN and WHATSAPP_APP_SECRET in {env_file}; in "
            f"Meta's app set the webhook to {hook} with WHATSAPP_VERIFY_TOKEN from {env_file} "
            "and subscribe to messages",
            soft_wrap=True,
        )
