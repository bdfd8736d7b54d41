"""One raw RFC 5322 message (bytes from IMAP) to the facts the poller needs: ids for
threading, who wrote to whom, the new text of the reply, attachment names, and whether a
machine sent it.

MIME and charsets are the standard library's (``email``): a body in
ISO-8859-1, KOI8-R or Shift_JIS is decoded by its declared charset, and an unknown charset
falls back to UTF-8 with replacement characters rather than an exception. Quoted history and
signatures are cut by ``mail-parser-reply`` (maintained, multi-language), not by regexes of
our own. HTML-only mail goes through the same HTML-to-text as Mastodon and Discourse.

Header values are read raw and bounded before anything parses them: a ``References`` header
of 10,000 ids must cost a scan, not a quadratic parse.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from mailparser_reply import EmailReplyParser  # type: ignore[import-untyped]

from bot.domain.htmltext import html_to_text

log = logging.getLogger("nudgebot.email")
MAX_TEXT = 20_000  # characters of body kept (what a nudge and the conversation page show)
MAX_HEADER = 2_000  # characters of a decoded Subject/From kept
MAX_ID = 200  # longer Message-IDs are stored by their hash (the column holds 255)
KEEP_REFS = 20  # References: the first (the thread's root) and the last ones (RFC 5322 §3.6.4)
MAX_ATTACHMENTS = 50
_MSG_ID = re.compile(r"<([^<>\s]{1,998})>")
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|vs|antw|fwd?|wg)\s*(\[\d+\])?\s*:\s*)+", re.I)
_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pl", "sv", "da", "cs", "ja"]
_REPLIES = EmailReplyParser(languages=_LANGUAGES)  # holds only its languages: shareable


@dataclass(frozen=True)
class Mail:
    message_id: str  # without angle brackets; synthetic when the mail has none
    in_reply_to: str | None
    references: tuple[str, ...]  # bounded: the root and the last KEEP_REFS - 1
    sender: str  # lower-cased address of From
    sender_name: str
    reply_to: str  # where a reply goes: Reply-To, else From
    recipients: tuple[str, ...]  # To and Cc, lower-cased
    subject: str
    date: datetime | None
    text: str
    attachments: tuple[str, ...]
    automatic: str | None  # why a machine sent it (auto-reply, list, bounce), else None


def short_id(value: str) -> str:
    """A Message-ID as stored: itself, or its hash when too long for the column."""
    if len(value) <= MAX_ID:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()


def ids_in(raw: str | None, *, limit: int | None = None) -> list[str]:
    """The ``<msg-id>``s of a header value, in order. With ``limit``, only the first and the
    last ``limit - 1``: the root and the nearest ancestors are what threading needs."""
    if not raw:
        return []
    found = [short_id(m) for m in _MSG_ID.findall(raw)]
    if limit is not None and len(found) > limit:
        found = [found[0], *found[-(limit - 1) :]]
    return found


def _raw(msg: Message, name: str) -> str | None:
    """A header's raw value: ``policy.default`` would parse it into objects on access."""
    for key, value in msg.raw_items():
        if key.lower() == name:
            return str(value)
    return None


def decoded(value: str | None) -> str:
    """An RFC 2047 header (``=?koi8-r?b?...?=``) as text, unfolded, control characters out."""
    if not value:
        return ""
    try:
        text = str(make_header(decode_header(value[: MAX_HEADER * 4])))
    except (ValueError, LookupError, UnicodeError, AssertionError):
        text = value
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())[:MAX_HEADER]


def _address(value: str | None) -> tuple[str, str]:
    pairs = getaddresses([decoded(value)])
    name, addr = pairs[0] if pairs else ("", "")
    return name.strip(), addr.strip().lower()


def thread_subject(subject: str) -> str:
    """The subject a thread keeps: without Re:/AW:/Fwd: prefixes, case and spacing folded."""
    return " ".join(_REPLY_PREFIX.sub("", subject).lower().split())


def says_reply(subject: str) -> bool:
    """Whether the subject starts with Re:/AW:/SV:… (its mail answers another)."""
    return _REPLY_PREFIX.match(subject) is not None


def automatic(msg: Message, sender: str) -> str | None:
    """RFC 3834 and the older conventions: a machine wrote it, so it opens no wait."""
    auto = (_raw(msg, "auto-submitted") or "").strip().lower()
    if auto and not auto.startswith("no"):
        return f"Auto-Submitted: {auto[:40]}"
    precedence = (_raw(msg, "precedence") or "").strip().lower()
    if precedence in ("bulk", "list", "junk", "auto_reply"):
        return f"Precedence: {precedence}"
    local = sender.partition("@")[0]
    if local in ("mailer-daemon", "postmaster") or msg.get_content_type() == "multipart/report":
        return "delivery report (bounce)"
    if _raw(msg, "x-autoreply") or _raw(msg, "x-autorespond"):
        return "X-Autoreply"
    return None


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:  # a charset Python does not know
        return payload.decode("utf-8", "replace")


def _bodies(msg: Message) -> tuple[str, str, tuple[str, ...]]:
    plain, html, names = "", "", list[str]()
    for part in msg.walk():
        if part.is_multipart():
            continue
        filename = part.get_filename()
        disposition = (part.get_content_disposition() or "").lower()
        if filename or disposition == "attachment":
            if len(names) < MAX_ATTACHMENTS:
                names.append(decoded(filename) or part.get_content_type())
            continue
        kind = part.get_content_type()
        if kind == "text/plain" and not plain:
            plain = _part_text(part)
        elif kind == "text/html" and not html:
            html = _part_text(part)
    return plain, html, tuple(names)


def new_text(body: str) -> str:
    """The reply without the quoted history under it and the signature after it."""
    body = body.replace("\r\n", "\n")[: MAX_TEXT * 5]
    try:
        parsed = _REPLIES.read(text=body)
        latest = parsed.replies[0].body if parsed.replies else body
    except Exception:  # a third-party parser on hostile text: keep the whole body instead
        log.warning("reply parser failed on a mail; keeping its whole body", exc_info=True)
        latest = body
    return (latest.strip() or body.strip())[:MAX_TEXT]


def _date(msg: Message) -> datetime | None:
    try:
        got = parsedate_to_datetime(_raw(msg, "date") or "")
    except (TypeError, ValueError, IndexError):
        return None
    return got if got is not None and got.tzinfo is not None else None


def parse(raw: bytes, *, fallback_id: str) -> Mail:
    """Never raises on content: every mail yields a ``Mail`` (its text may be empty)."""
    # compat32: headers stay strings until asked for (policy.default parses every header it
    # touches into objects, which was 60% of the time per mail); decoding is done here.
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    name, sender = _address(_raw(msg, "from"))
    reply_name, reply_addr = _address(_raw(msg, "reply-to"))
    recipients = tuple(
        a.strip().lower()
        for _, a in getaddresses([decoded(_raw(msg, "to")), decoded(_raw(msg, "cc"))])
        if "@" in a
    )
    own = ids_in(_raw(msg, "message-id"))
    parents = ids_in(_raw(msg, "in-reply-to"))
    plain, html, attachments = _bodies(msg)
    text = new_text(plain) if plain.strip() else html_to_text(html)[:MAX_TEXT]
    if attachments:
        text = (text + "\n\n" if text else "") + "Attachments: " + ", ".join(attachments)
    return Mail(
        message_id=own[0] if own else fallback_id,
        in_reply_to=parents[0] if parents else None,
        references=tuple(ids_in(_raw(msg, "references"), limit=KEEP_REFS)),
        sender=sender,
        sender_name=name or reply_name,
        reply_to=reply_addr or sender,
        recipients=recipients,
        subject=decoded(_raw(msg, "subject")),
        date=_date(msg),
        text=text,
        attachments=attachments,
        automatic=automatic(msg, sender),
    )
