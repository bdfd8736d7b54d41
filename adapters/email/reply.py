"""Reply-through: a team member's answer, sent by SMTP from the shared ``address`` so it
threads in the customer's mail client, then filed in the Sent folder like any mail client
would. Blocking (``smtplib``/``imaplib``); the poller runs it in a worker thread.

The mail answered is looked up in the mailbox by its Message-ID (nothing about it has to be
remembered across restarts): its ``Reply-To``/``From`` is the recipient, its subject gets
"Re:", and ``In-Reply-To``/``References`` name it and its ancestors (RFC 5322 §3.6.4).

Header injection is refused, not cleaned: a line break in a name, address or subject would
let text become headers (``Bcc:``), so such a reply is a permanent ``DeliveryError`` and
nothing is sent.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid

from adapters.email.imap import ImapError, Session
from adapters.email.parse import MAX_TEXT, Mail, parse, says_reply
from bot.config.email import EmailSettings
from bot.domain.ports import DeliveryError, ReplyTarget

log = logging.getLogger("nudgebot.email")
TIMEOUT = 30.0
_BREAKS = ("\r", "\n", "\x00", "\x0b", "\x0c", "\x85", "\u2028", "\u2029")


def _clean(value: str, what: str) -> str:
    if any(b in value for b in _BREAKS):
        raise DeliveryError(
            f"reply not sent: the {what} contains a line break ({value[:60]!r}), which "
            "would let it write mail headers",
            permanent=True,
        )
    return value


def _original(session: Callable[[], Session], folders: Sequence[str], target: ReplyTarget) -> Mail:
    wanted = [i for i in (target.reply_to, target.thread) if i]
    try:
        with session() as imap:
            for message_id in wanted:
                raw = imap.find(folders, message_id)
                if raw is not None:
                    return parse(raw, fallback_id=message_id)
    except ImapError as exc:
        raise DeliveryError(f"reply not sent: cannot read the mail it answers: {exc}") from None
    raise DeliveryError(
        f"reply not sent: the mail it answers ({wanted[0] if wanted else '?'}) is no longer "
        "in the mailbox's folders",
        permanent=True,
    )


def build(settings: EmailSettings, answered: Mail, text: str, name: str) -> EmailMessage:
    to = _clean(answered.reply_to, "recipient address")
    if "@" not in to:
        raise DeliveryError(
            "reply not sent: the mail it answers has no sender address", permanent=True
        )
    subject = _clean(answered.subject, "subject")
    msg = EmailMessage()
    msg["From"] = formataddr((_clean(name, "sender name"), settings.address))
    msg["To"] = to
    msg["Subject"] = subject if says_reply(subject) else f"Re: {subject}".strip()
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=settings.domain)
    parents = [*answered.references, answered.message_id]
    msg["In-Reply-To"] = f"<{answered.message_id}>"
    msg["References"] = " ".join(f"<{p}>" for p in dict.fromkeys(parents))
    msg.set_content(text[:MAX_TEXT])
    return msg


def smtp_send(settings: EmailSettings, msg: EmailMessage) -> None:
    server = settings.smtp
    if server is None:
        raise DeliveryError("not sent: this email source has no smtp: settings", permanent=True)
    where = f"SMTP {server.host}:{server.port}"
    try:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP = (
            smtplib.SMTP_SSL(server.host, server.port, timeout=TIMEOUT, context=context)
            if server.tls
            else smtplib.SMTP(server.host, server.port, timeout=TIMEOUT)
        )
        with smtp:
            if server.starttls:
                smtp.starttls(context=context)
            if server.password:
                smtp.login(server.user, server.password)
            smtp.send_message(msg, from_addr=settings.address, to_addrs=[str(msg["To"])])
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(
            f"not sent: {where} refused the login of {server.user} ({exc.smtp_code})",
            permanent=True,
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [c for c, _ in exc.recipients.values()]
        raise DeliveryError(
            f"not sent: {where} refused {msg['To']} ({codes})",
            permanent=all(c >= 500 for c in codes),
        ) from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(
            f"not sent: {where} answered {exc.smtp_code}", permanent=exc.smtp_code >= 500
        ) from None
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"not sent: {where}: {type(exc).__name__}: {exc}") from None


def send_reply(
    settings: EmailSettings,
    session: Callable[[], Session],
    target: ReplyTarget,
    text: str,
    name: str,
    folders: Sequence[str],
) -> str:
    """Send; the new mail's Message-ID (what the poller stores it as)."""
    _clean(name, "sender name")  # before any network: nothing happens for a refused reply
    msg = build(settings, _original(session, folders, target), text, name)
    smtp_send(settings, msg)
    sent_id = str(msg["Message-ID"]).strip().strip("<>")
    sent_folder = folders[-1] if len(folders) > len(settings.folders) else None
    if sent_folder is not None:
        try:
            with session() as imap:
                imap.append(sent_folder, msg.as_bytes())
        except (ImapError, OSError) as exc:  # sent is sent: the copy is a courtesy
            log.warning("reply %s sent but not filed in %s: %s", sent_id, sent_folder, exc)
    return sent_id
