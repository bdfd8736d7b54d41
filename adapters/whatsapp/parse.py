"""Meta's webhook notification → customer messages and delivery statuses.

Shape (``field: messages``)::

    {"object": "whatsapp_business_account",
     "entry": [{"id": WABA, "changes": [{"field": "messages", "value": {
         "messaging_product": "whatsapp",
         "metadata": {"display_phone_number": …, "phone_number_id": …},
         "contacts": [{"profile": {"name": …}, "wa_id": …}],
         "messages": [{"from": wa_id, "id": "wamid…", "timestamp": "1749416383",
                       "type": "text", "text": {"body": …}}],
         "statuses": [{"id": "wamid…", "status": "delivered", "timestamp": …,
                       "recipient_id": wa_id}]}}]}]}

Strict where it matters (ids, times, the envelope) and tolerant elsewhere: a message type
we do not know is stored as ``[type]`` rather than dropped, because the customer still waits.
Every problem raises ``Malformed`` naming the field, and nothing of a rejected body is stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from adapters.whatsapp import PLATFORM
from bot.domain.events import Author, InboundMessage

MAX_TEXT = 40_000
MAX_ID = 255
# Plain-text stand-ins for what a customer sent when it is not text.
MEDIA = ("image", "video", "audio", "document", "sticker")
# Not something to answer: an emoji reaction to a message, a notice that the customer
# changed number. Skipped (validated like the rest, but never stored).
SKIPPED = ("reaction", "system")
# Timestamps outside this range are not Meta's: refuse rather than overflow the clock.
EARLIEST, LATEST = 0, 32_503_680_000  # 1970 .. 3000


class Malformed(ValueError):
    """A body that is not a WhatsApp notification; the message names the culprit."""


@dataclass(frozen=True)
class Status:
    """A delivery report for a message we sent (``sent``, ``delivered``, ``read``, ``failed``)."""

    phone_number_id: str
    message_id: str
    status: str
    recipient: str
    at: datetime
    error: str = ""


@dataclass(frozen=True)
class Notification:
    messages: tuple[InboundMessage, ...]
    statuses: tuple[Status, ...]
    ignored: int  # other numbers' changes, other webhook fields, reactions, system notices


SourceOf = Callable[[str], str | None]  # phone_number_id -> source id, or None: not ours


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Malformed(f"{where}: expected an array, got {type(value).__name__}")
    return value


def _text(value: Any, where: str, *, limit: int = MAX_ID, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Malformed(f"{where}: expected a string")
    text = str(value)
    if required and not text.strip():
        raise Malformed(f"{where}: must not be empty")
    if "\x00" in text:
        raise Malformed(f"{where}: contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Malformed(f"{where}: is not valid Unicode (lone surrogate)") from None
    if limit == MAX_TEXT:
        return text[:limit]  # what a person wrote is kept, cut at 40,000 characters
    if len(text) > limit:  # an id this long is not Meta's
        raise Malformed(f"{where}: longer than {limit} characters")
    return text


def _time(value: Any, where: str) -> datetime:
    raw = _text(value, where)
    if not raw.isdigit() or not EARLIEST <= int(raw) < LATEST:
        raise Malformed(f'{where}: expected Unix seconds as a string, like "1749416383"')
    return datetime.fromtimestamp(int(raw), UTC)


def message_text(msg: Mapping[str, Any], where: str) -> str:
    """What the customer said, as plain text: text, captions, interactive replies, media."""
    kind = _text(msg.get("type"), f"{where}.type")
    body: Any = msg.get(kind)
    if kind == "text":
        return _text(_obj(body, f"{where}.text").get("body"), f"{where}.text.body", limit=MAX_TEXT)
    if kind in MEDIA:
        media = _obj(body, f"{where}.{kind}") if body is not None else {}
        caption = _text(media.get("caption"), f"{where}.{kind}.caption", limit=MAX_TEXT,
                        required=False)  # fmt: skip
        name = _text(media.get("filename"), f"{where}.{kind}.filename", limit=MAX_TEXT,
                     required=False)  # fmt: skip
        label = f"[{kind}: {name}]" if name else f"[{kind}]"
        return f"{label} {caption}" if caption else label
    if kind == "interactive":
        inter = _obj(body, f"{where}.interactive")
        sub = _text(inter.get("type"), f"{where}.interactive.type")
        reply = _obj(inter.get(sub), f"{where}.interactive.{sub}")
        # button_reply / list_reply carry a title; a flow's nfm_reply only a body
        shown = reply.get("title") if reply.get("title") is not None else reply.get("body")
        title = _text(shown, f"{where}.interactive.{sub}.title", limit=MAX_TEXT, required=False)
        return title or f"[{sub}]"
    if kind == "button":  # a quick-reply button of a template
        button = _obj(body, f"{where}.button")
        return _text(button.get("text"), f"{where}.button.text", limit=MAX_TEXT)
    if kind == "location":
        place = _obj(body, f"{where}.location")
        name = _text(place.get("name"), f"{where}.location.name", limit=MAX_TEXT, required=False)
        return f"[location] {name}".rstrip()
    return f"[{kind}]"


def _names(value: Mapping[str, Any], where: str) -> dict[str, str]:
    names: dict[str, str] = {}
    for i, contact in enumerate(_list(value.get("contacts"), f"{where}.contacts")):
        contact = _obj(contact, f"{where}.contacts[{i}]")
        wa_id = _text(contact.get("wa_id"), f"{where}.contacts[{i}].wa_id", required=False)
        profile = contact.get("profile")
        name = profile.get("name") if isinstance(profile, dict) else None
        if wa_id:
            names[wa_id] = _text(name, f"{where}.contacts[{i}].profile.name", required=False)
    return names


def _message(
    msg: Any, where: str, source: str, number: str, names: Mapping[str, str]
) -> InboundMessage | None:
    msg = _obj(msg, where)
    wa_id = _text(msg.get("from"), f"{where}.from")
    if msg.get("type") in SKIPPED:
        _text(msg.get("id"), f"{where}.id")
        _time(msg.get("timestamp"), f"{where}.timestamp")
        return None
    return InboundMessage(
        source=source,
        platform=PLATFORM,
        message_id=_text(msg.get("id"), f"{where}.id"),
        thread=wa_id,
        channel=number,
        at=_time(msg.get("timestamp"), f"{where}.timestamp"),
        author=Author(wa_id, names.get(wa_id, "")),
        is_team=False,
        text=message_text(msg, where),
    )


def _status(raw: Any, where: str, number: str) -> Status:
    st = _obj(raw, where)
    errors = _list(st.get("errors"), f"{where}.errors")
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    return Status(
        phone_number_id=number,
        message_id=_text(st.get("id"), f"{where}.id"),
        status=_text(st.get("status"), f"{where}.status", limit=32),
        recipient=_text(st.get("recipient_id"), f"{where}.recipient_id", required=False),
        at=_time(st.get("timestamp"), f"{where}.timestamp"),
        error=str(first.get("code", ""))[:16],
    )


def parse_notification(body: bytes, source_of: SourceOf) -> Notification:
    """Every customer message and status of one POST, for the numbers ``source_of`` knows."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # non-UTF-8 and too-deep bodies included
        raise Malformed(f"body is not valid JSON ({type(exc).__name__})") from None
    data = _obj(data, "body")
    if data.get("object") != "whatsapp_business_account":
        raise Malformed('object: expected "whatsapp_business_account"')
    messages: list[InboundMessage] = []
    statuses: list[Status] = []
    ignored = 0
    for e, entry in enumerate(_list(data.get("entry"), "entry")):
        entry = _obj(entry, f"entry[{e}]")
        for c, change in enumerate(_list(entry.get("changes"), f"entry[{e}].changes")):
            where = f"entry[{e}].changes[{c}].value"
            change = _obj(change, f"entry[{e}].changes[{c}]")
            if change.get("field") != "messages":
                ignored += 1
                continue
            value = _obj(change.get("value"), where)
            meta = _obj(value.get("metadata"), f"{where}.metadata")
            number = _text(meta.get("phone_number_id"), f"{where}.metadata.phone_number_id")
            source = source_of(number)
            if source is None:
                ignored += 1
                continue
            names = _names(value, where)
            for i, msg in enumerate(_list(value.get("messages"), f"{where}.messages")):
                parsed = _message(msg, f"{where}.messages[{i}]", source, number, names)
                if parsed is None:
                    ignored += 1
                else:
                    messages.append(parsed)
            for i, st in enumerate(_list(value.get("statuses"), f"{where}.statuses")):
                statuses.append(_status(st, f"{where}.statuses[{i}]", number))
    return Notification(tuple(messages), tuple(statuses), ignored)
