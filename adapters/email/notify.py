"""``notify: email``: nudges and notices by mail, for people without Slack or Telegram.

Sent through an email source's ``smtp:`` from its ``address``, marked ``Auto-Submitted:
auto-generated`` (RFC 3834) so that no auto-responder answers them and our own poller skips
them if they land in the shared mailbox. Plain text only: customer text is never markup in a
``text/plain`` body, and header values (subject, names) lose their line breaks.

A mail cannot be edited once sent, so ``update_nudge`` (claimed, answered, snoozed) sends
nothing: the dashboard link in the mail shows the current state.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from adapters.email import PLATFORM
from adapters.email.reply import smtp_send
from bot.config.email import EmailSettings
from bot.domain.ports import Delivered, NudgeUpdate, NudgeView, Recipient

log = logging.getLogger("nudgebot.email")
MAX_SUBJECT = 150


def _line(text: str, limit: int = MAX_SUBJECT) -> str:
    """One header-safe line: control characters (CR, LF, …) become spaces."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())[:limit]


def _waited(view: NudgeView) -> str:
    minutes = max(0, int((view.now - view.waiting_since).total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m" if hours else f"{minutes}m"


def nudge_text(view: NudgeView) -> tuple[str, str]:
    """(subject, body) of one nudge."""
    who = _line(view.customer or "a customer", 60)
    subject = f"[Nudgebot] {who} has waited {_waited(view)} in {_line(view.source, 40)}"
    lines = [f"{who} has been waiting for a reply for {_waited(view)} ({view.source}, "
             f"{view.platform})."]  # fmt: skip
    if view.due_at is not None:
        lines.append(f"Due: {view.due_at:%Y-%m-%d %H:%M} UTC")
    if view.transcript:
        lines.append("")
        for line in view.transcript[-5:]:
            mark = "team" if line.is_team else "customer"
            lines.append(f"{line.at:%H:%M} {line.author} ({mark}):")
            lines.extend(f"  {t}" for t in line.text.splitlines()[:20])
    if view.url:
        lines += ["", f"Open it: {view.url}"]
    return subject, "\n".join(lines) + "\n"


class EmailMessenger:
    platform = PLATFORM

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings

    def _mail(self, to: str, subject: str, body: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = f"Nudgebot <{self.settings.address}>"
        msg["To"] = _line(to, 300)
        msg["Subject"] = _line(subject)
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg["Message-ID"] = make_msgid(domain=self.settings.domain)
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(body)
        return msg

    async def _send(self, to: str, subject: str, body: str) -> Delivered:
        msg = self._mail(to, subject, body)
        await asyncio.to_thread(smtp_send, self.settings, msg)
        return Delivered(str(msg["Message-ID"]).strip("<>"))

    async def send_nudge(self, view: NudgeView) -> Delivered:
        subject, body = nudge_text(view)
        return await self._send(view.recipient.address, subject, body)

    async def update_nudge(self, ref: str, view: NudgeView, update: NudgeUpdate) -> None:
        log.debug("nudge mail %s: %s (a sent mail cannot change)", ref, update)

    async def send_text(self, recipient: Recipient, text: str) -> Delivered:
        first = _line(text.splitlines()[0] if text.strip() else "Nudgebot", 80)
        return await self._send(recipient.address, f"[Nudgebot] {first}", text)
