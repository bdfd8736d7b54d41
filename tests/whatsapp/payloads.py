"""Webhook notifications shaped exactly like Meta's documented examples.

Sources (WhatsApp Business Platform, "messages webhook reference"):
https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages
(the text example below is that page's: WABA 102290129340398, number 15550783881 /
106540352242922, Sheena Nelson 16505551234), and its sub-pages …/messages/image,
…/messages/interactive (button_reply, list_reply) and …/messages/status.
Only ids, texts and times vary between tests.
"""

from __future__ import annotations

import json
from typing import Any

WABA_ID = "102290129340398"
DISPLAY_NUMBER = "15550783881"
PHONE_NUMBER_ID = "106540352242922"
SHEENA = "16505551234"
SHEENA_NAME = "Sheena Nelson"
TS = 1749416383  # the documented example's timestamp: 2025-06-08T20:59:43Z


def envelope(value: dict[str, Any], number: str = PHONE_NUMBER_ID) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": DISPLAY_NUMBER,
                                "phone_number_id": number,
                            },
                            **value,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def _inbound(message: dict[str, Any], wa_id: str, name: str, number: str) -> dict[str, Any]:
    contacts = [{"profile": {"name": name}, "wa_id": wa_id}]
    return envelope({"contacts": contacts, "messages": [message]}, number)


def text(
    body: str = "Does it come in another color?",
    *,
    wamid: str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
    ts: int = TS,
    wa_id: str = SHEENA,
    name: str = SHEENA_NAME,
    number: str = PHONE_NUMBER_ID,
) -> dict[str, Any]:
    message = {"from": wa_id, "id": wamid, "timestamp": str(ts), "type": "text",
               "text": {"body": body}}  # fmt: skip
    return _inbound(message, wa_id, name, number)


def image(
    caption: str | None = "Can I get this in blue?",
    *,
    wamid: str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgB=",
    ts: int = TS,
    wa_id: str = SHEENA,
) -> dict[str, Any]:
    media: dict[str, Any] = {
        "mime_type": "image/jpeg",
        "sha256": "SfInY0zZJnhVdb/jYFG6C+hRUnJmJtVcS6IcdrTPUr8=",
        "id": "1003383421387256",
        "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1003383421387256",
    }
    if caption is not None:
        media["caption"] = caption
    message = {"from": wa_id, "id": wamid, "timestamp": str(ts), "type": "image",
               "image": media}  # fmt: skip
    return _inbound(message, wa_id, SHEENA_NAME, PHONE_NUMBER_ID)


def button_reply(
    title: str = "Change",
    *,
    wamid: str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgC=",
    ts: int = TS,
    wa_id: str = SHEENA,
) -> dict[str, Any]:
    message = {
        "context": {"from": DISPLAY_NUMBER,
                    "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3NTJCQUNGQjM1NjU2QjkxRkYA"},
        "from": wa_id, "id": wamid, "timestamp": str(ts), "type": "interactive",
        "interactive": {"type": "button_reply",
                        "button_reply": {"id": "change-button", "title": title}},
    }  # fmt: skip
    return _inbound(message, wa_id, SHEENA_NAME, PHONE_NUMBER_ID)


def list_reply(
    title: str = "Priority Mail Express",
    *,
    wamid: str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgD=",
    ts: int = TS,
    wa_id: str = SHEENA,
) -> dict[str, Any]:
    message = {
        "context": {"from": DISPLAY_NUMBER,
                    "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3NTJCQUNGQjM1NjU2QjkxRkZ"},
        "from": wa_id, "id": wamid, "timestamp": str(ts), "type": "interactive",
        "interactive": {"type": "list_reply", "list_reply": {
            "id": "priority_express", "title": title, "description": "Next Day to 2 Days"}},
    }  # fmt: skip
    return _inbound(message, wa_id, SHEENA_NAME, PHONE_NUMBER_ID)


def status(
    wamid: str, state: str = "delivered", *, ts: int = TS, recipient: str = SHEENA
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": wamid, "status": state, "timestamp": str(ts), "recipient_id": recipient,
        "conversation": {"id": "6ceb9d929c1d4a48b3f4d5e0fa3e6f4a",
                         "origin": {"type": "service"}},
        "pricing": {"billable": True, "pricing_model": "PMP", "category": "service"},
    }  # fmt: skip
    if state == "failed":
        entry["errors"] = [{"code": 131047, "title": "Re-engagement message",
                            "message": "Re-engagement message",
                            "error_data": {"details": "Message failed to send because more "
                                           "than 24 hours have passed since the customer last "
                                           "replied to this number."}}]  # fmt: skip
        del entry["conversation"], entry["pricing"]
    return envelope({"statuses": [entry]})


def encode(payload: Any) -> bytes:
    return json.dumps(payload).encode()
