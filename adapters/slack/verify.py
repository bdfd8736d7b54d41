"""Checks on a ``/slack/events`` request before Bolt sees it: Slack's signature, then a body
Bolt can read.

Bolt parses the body before it checks the signature, and ``slack_sdk``'s verifier calls
``int()`` on the timestamp header unguarded: ``abc``, ``1e3`` or 400 digits became a 500 (503
after our mapping) with an ERROR traceback. Here the headers are checked for their shape
first — a malformed one is a 401 like a wrong one — and the body is parsed only once it is
known to come from Slack, so an unauthenticated client cannot make us parse anything. A signed
body that still cannot be read (nested too deeply, not UTF-8, not an object) is the sender's
400, and is kept as a dead letter: Slack wrote it, we could not read it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt.request.internals import parse_body

TIMESTAMP = "x-slack-request-timestamp"
SIGNATURE = "x-slack-signature"
REPLAY_WINDOW = 5 * 60  # seconds, as Slack documents and Bolt enforces
# Unix seconds: ten digits until 2286; twelve leaves room without letting int() see 400.
_TIMESTAMP = re.compile(rb"[0-9]{1,12}")
_SIGNATURE = re.compile(rb"v0=[0-9a-fA-F]{64}")


class Unauthorized(Exception):
    pass


class Unreadable(Exception):
    pass


def check_signature(secret: str, body: bytes, headers: Mapping[bytes, bytes], now: float) -> None:
    """Raises ``Unauthorized`` naming the problem; returns when Slack signed ``body``."""
    stamp = headers.get(TIMESTAMP.encode(), b"").strip()
    if not _TIMESTAMP.fullmatch(stamp):
        raise Unauthorized("invalid request: missing or malformed X-Slack-Request-Timestamp")
    if abs(now - int(stamp)) > REPLAY_WINDOW:
        raise Unauthorized("invalid request: X-Slack-Request-Timestamp is over 5 minutes off")
    given = headers.get(SIGNATURE.encode(), b"").strip()
    if not _SIGNATURE.fullmatch(given):
        raise Unauthorized("invalid request: missing or malformed X-Slack-Signature")
    base = b"v0:" + stamp + b":" + body
    expected = b"v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest().encode()
    if not hmac.compare_digest(expected, given.lower()):
        raise Unauthorized("invalid request: X-Slack-Signature does not match the body")


def readable(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The body as Bolt will parse it; ``Unreadable`` when Bolt could not."""
    try:
        parsed = parse_body(body.decode("utf-8"), content_type)
    except RecursionError:
        raise Unreadable("body is nested too deeply") from None
    except UnicodeDecodeError:
        raise Unreadable("body is not UTF-8") from None
    except ValueError:
        raise Unreadable("body is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise Unreadable(f"body is a JSON {type(parsed).__name__}, not an object")
    for key in ("event", "view", "workflow_step"):
        if key in parsed and not isinstance(parsed[key], dict):
            raise Unreadable(f"{key!r} is not an object")
    # Bolt reads actions[0] while building its error handler's arguments, so a bad list
    # there cannot even reach that handler.
    if parsed.get("type") in ("block_actions", "interactive_message"):
        actions = parsed.get("actions")
        if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
            raise Unreadable("'actions' is not a list of objects")
    return parsed


def is_ssl_check(body: bytes) -> bool:
    """Slack's certificate check on slash-command URLs, which comes unsigned: a form with
    ``ssl_check=1`` and nothing Bolt would parse as JSON (Bolt answers it itself)."""
    if b"ssl_check" not in body or b"payload" in body or body.lstrip().startswith(b"{"):
        return False
    return dict(parse_qsl(body.decode("latin-1"))).get("ssl_check") == "1"


def is_message_event(parsed: Mapping[str, Any]) -> bool:
    """An Events API ``message`` or ``app_mention`` callback (as Bolt's ``app.event`` matches
    them, every subtype included)."""
    event = parsed.get("event")
    return (
        parsed.get("type") == "event_callback"
        and isinstance(event, dict)
        and event.get("type") in ("message", "app_mention")
    )
