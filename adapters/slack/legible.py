"""Telling a message event we cannot read from one we ignore on purpose (pure).

``translate`` returns None for both — it must never raise (Slack retries errors) — but they
call for different answers: an ignored event is a 200, an unreadable one is the sender's 400
and a dead letter, so nothing Slack sent us to act on disappears in silence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.slack.events import Workspace, is_bot, is_speech, target, valid_ts


class UnreadableEvent(ValueError):
    """A message event we would act on, whose channel or timestamps cannot be read: the
    payload's fault, so the sender's 400 and a dead letter (``SlackService._failure``)."""


_ANYONE = Workspace(team_id="")  # is_bot by the message's own marks alone


def unreadable(event: Mapping[str, Any]) -> str | None:
    """Why ``translate`` could not read a ``message`` / ``app_mention`` event that it would
    otherwise act on; None when the event reads, or is one ignored on purpose (bots,
    subtypes we do not handle, non-edits, messages without a user). ``translate`` itself
    stays total (it returns None for both): this tells the two apart, so nothing that
    Slack sent us to act on is dropped in silence."""
    subtype = event.get("subtype")
    if subtype is not None and not isinstance(subtype, str):
        return "unreadable 'subtype'"
    if subtype == "message_changed":
        inner = event.get("message")
        if not isinstance(inner, Mapping):
            return "message_changed without a 'message' object"
        if is_bot(inner, _ANYONE):
            return None
        if not isinstance(inner.get("subtype"), str | None):
            return "unreadable 'message.subtype'"
        if inner.get("subtype") != "tombstone":
            edited = inner.get("edited")
            if edited is None or not is_speech(inner.get("subtype")) or not inner.get("user"):
                return None  # unfurls, reply counts and other non-edits
            if not isinstance(edited, Mapping) or valid_ts(edited.get("ts")) is None:
                return "unreadable 'message.edited.ts'"
    elif subtype == "message_deleted":
        inner = event.get("previous_message")
        if isinstance(inner, Mapping) and is_bot(inner, _ANYONE):
            return None
    else:
        inner = event
        if not is_speech(subtype) or is_bot(event, _ANYONE) or not event.get("user"):
            return None
    channel = event.get("channel")
    if not isinstance(channel, str) or not channel:
        return "no readable 'channel'"
    if target(event) is None:
        return "unreadable 'ts'"
    thread = inner.get("thread_ts") if isinstance(inner, Mapping) else None
    if thread is not None and valid_ts(thread) is None:
        return "unreadable 'thread_ts'"  # read as top-level, a reply would start a conversation
    return None
