"""Email test kit: mail built with the standard library, a source pointing at the session's
Dovecot (and, when asked, at an aiosmtpd server), and the polled-sources harness (real
Runtime, CoreService, ``bot.wiring.polled`` and database)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from tests.email.servers import Dovecot
from tests.polled.kit import Clock, Harness, harness

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
SOURCE = "support-mail"
CUSTOMER = "jane@customer.example"


def mail(
    subject: str = "Printer on fire",
    body: str = "Hello, my printer is on fire. What now?",
    *,
    sender: str = f"Jane Doe <{CUSTOMER}>",
    to: str = "Support <support@example.com>",
    message_id: str | None = "root@customer.example",
    in_reply_to: str | None = None,
    references: str | None = None,
    at: datetime = T0,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(at)
    if message_id:
        msg["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
    if references:
        msg["References"] = references
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    return msg


def source_yaml(server: Dovecot, smtp_port: int | None = None, **extra: str) -> str:
    smtp = (
        f"    smtp: {{host: 127.0.0.1, port: {smtp_port}, starttls: false}}\n" if smtp_port else ""
    )
    more = "".join(f"    {k}: {v}\n" for k, v in extra.items())
    return (
        f"  {SOURCE}:\n"
        "    platform: email\n"
        "    policy: standard\n"
        "    address: support@example.com\n"
        f"    imap: {{host: 127.0.0.1, port: {server.port}, user: {server.user}, "
        f"password: {server.password}, tls: false}}\n"
        f"{smtp}"
        "    team_domains: [example.com]\n"
        "    backfill: 7d\n"
        f"{more}"
    )


@asynccontextmanager
async def email_harness(
    tmp_path: Path,
    db_url: str,
    server: Dovecot,
    smtp_port: int | None = None,
    *,
    knobs: Mapping[str, Any] | None = None,
    **extra: str,
) -> AsyncIterator[Harness]:
    """``knobs`` go to ``assemble`` (e.g. the real ``asyncio.sleep`` to run the poll loop)."""
    async with harness(
        tmp_path,
        db_url,
        source_yaml(server, smtp_port, **extra),
        clock=Clock(T0 + timedelta(minutes=30)),
        **(knobs or {}),
    ) as h:
        yield h
