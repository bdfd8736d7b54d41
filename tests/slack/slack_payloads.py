"""Slack request bodies from the recorded payloads in ``payloads/``, signed as Slack signs.

Signature: ``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}`` with the signing secret —
what ``slack_sdk.signature.SignatureVerifier`` checks (and, in the test below, agrees with).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

HERE = Path(__file__).parent / "payloads"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CUSTOMER = "U0CUST0009"
ALICE, BOB, STRANGER = "U0ALICE01", "U0BOB0002", "U0STRANGE1"
CHANNEL = "C0CUST001"
OTHER_TEAM = "T0CUSTOMER"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((HERE / name).read_text(encoding="utf-8"))
    return data


def sign(body: bytes, timestamp: int, secret: str = SECRET) -> str:
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def envelope(name: str, event_id: str | None = None, **event: Any) -> dict[str, Any]:
    """A recorded ``event_callback`` with its ``event`` fields replaced (None deletes one)."""
    body = copy.deepcopy(load(name))
    for key, value in event.items():
        if value is None:
            body["event"].pop(key, None)
        else:
            body["event"][key] = value
    if event_id is not None:
        body["event_id"] = event_id
    return body


def message(
    ts: str,
    *,
    user: str = CUSTOMER,
    text: str = "Where is my order?",
    channel: str = CHANNEL,
    thread_ts: str | None = None,
    team: str | None = None,
    event_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "ts": ts,
        "event_ts": ts,
        "user": user,
        "text": text,
        "channel": channel,
        "thread_ts": thread_ts,
        **extra,
    }
    if team is not None:
        fields.update(team=team, user_team=team, source_team=team)
    if user != CUSTOMER:
        fields["user_profile"] = None
    return envelope("message.json", event_id or f"Ev{ts.replace('.', '')}", **fields)


def action_body(
    action_id: str, value: str, *, user: str = ALICE, response_url: str = "", selected: bool = False
) -> bytes:
    payload = copy.deepcopy(load("block_actions.json"))
    payload["user"]["id"] = user
    payload["response_url"] = response_url or payload["response_url"]
    action = payload["actions"][0]
    action["action_id"] = action_id
    if selected:
        action.pop("value")
        action["type"] = "static_select"
        action["selected_option"] = {"text": {"type": "plain_text", "text": value}, "value": value}
    else:
        action["value"] = value
    return urlencode({"payload": json.dumps(payload)}).encode()


def submission_body(text: str, metadata: str, *, user: str = ALICE) -> bytes:
    payload = copy.deepcopy(load("view_submission.json"))
    payload["user"]["id"] = user
    payload["view"]["private_metadata"] = metadata
    payload["view"]["state"]["values"]["reply"]["text"]["value"] = text
    return urlencode({"payload": json.dumps(payload)}).encode()


def command_body(command: str, text: str = "", *, user: str = ALICE) -> bytes:
    fields = dict(
        parse_qsl((HERE / "slash_command.txt").read_text().strip(), keep_blank_values=True)
    )
    fields.update(command=command, text=text, user_id=user)
    return urlencode(fields).encode()


async def post(
    client: httpx.AsyncClient,
    body: dict[str, Any] | bytes,
    *,
    timestamp: int | None = None,
    secret: str = SECRET,
    retry: int | None = None,
    signature: str | None = None,
) -> httpx.Response:
    """POST to ``/slack/events`` as Slack would: JSON for events, a form for the rest."""
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    kind = "application/json" if isinstance(body, dict) else "application/x-www-form-urlencoded"
    stamp = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": kind,
        "X-Slack-Request-Timestamp": str(stamp),
        "X-Slack-Signature": signature or sign(raw, stamp, secret),
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }
    if retry is not None:
        headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"})
    return await client.post("/slack/events", content=raw, headers=headers)
