"""Slack event payloads → ``InboundMessage`` (pure: no I/O, no clock).

A message is keyed ``channel:ts`` (unique per workspace) and its conversation is
``thread_ts`` or, for a top-level message, its own ``ts``. Every field is read defensively:
a payload missing something we need is ignored, never an error (Slack retries errors).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.slack.actors import marks
from bot.config import Config, Source
from bot.domain.events import ActionKind, Author, InboundMessage, Kind

# Message subtypes that are somebody speaking; everything else (joins, topic changes, pins,
# bot_message, …) is ignored. message_changed / message_deleted are handled on their own.
SPEECH: frozenset[str | None] = frozenset({None, "file_share", "thread_broadcast", "me_message"})
_TS = re.compile(r"^\d{1,12}(?:\.\d{1,9})?$")
_MARKUP = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
_SPECIAL = {"here": "@here", "channel": "@channel", "everyone": "@everyone"}
MAX_TEXT = 40_000  # Slack's own message limit
MAX_NAME = 255
# (envelope, users.info team) of the delivery a message came in: what classify() reads.
SenderFacts = tuple[Mapping[str, Any] | None, str | None]
DEFAULT_REACTIONS: Mapping[str, ActionKind] = {
    "white_check_mark": ActionKind.NOT_NEEDED,
    "eyes": ActionKind.CLAIM,
}


@dataclass(frozen=True)
class Workspace:
    """Who the app is on Slack, from ``auth.test``."""

    team_id: str
    bot_user_id: str = ""
    bot_id: str = ""
    url: str = ""  # https://acme.slack.com/
    enterprise_id: str = ""

    @classmethod
    def from_auth_test(cls, data: Mapping[str, Any]) -> Workspace:
        return cls(
            team_id=str(data.get("team_id") or ""),
            bot_user_id=str(data.get("user_id") or ""),
            bot_id=str(data.get("bot_id") or ""),
            url=str(data.get("url") or ""),
            enterprise_id=str(data.get("enterprise_id") or ""),
        )

    def is_own_team(self, team: str) -> bool:
        return team in (self.team_id, self.enterprise_id)


@dataclass(frozen=True)
class ChannelWatch:
    """Which channels feed which Slack source, and where app mentions elsewhere go."""

    config: Config
    by_channel: Mapping[str, Source] = field(default_factory=dict)
    mentions: Source | None = None

    @classmethod
    def from_config(cls, config: Config) -> ChannelWatch:
        slack = [s for s in config.sources.values() if s.platform == "slack"]
        by_channel: dict[str, Source] = {}
        for source in slack:
            for channel in source.channels:
                by_channel.setdefault(channel, source)
        # A Slack source without channels catches mentions anywhere; else the first one.
        catch_all = next((s for s in slack if not s.channels), slack[0] if slack else None)
        return cls(config, by_channel, catch_all)

    def source(self, channel: str) -> Source | None:
        return self.by_channel.get(channel)

    def person(self, user_id: str) -> str | None:
        return self.config.person_by_platform("slack", user_id) if user_id else None


def reactions(source: Source) -> Mapping[str, ActionKind]:
    """Emoji name → action, from the source's ``reactions: {not_needed: …, claim: …}``."""
    configured = source.extra.get("reactions")
    if not isinstance(configured, Mapping):
        return DEFAULT_REACTIONS
    table = {name: kind for name, kind in DEFAULT_REACTIONS.items() if kind.value not in configured}
    for key, names in configured.items():
        try:
            kind = ActionKind(str(key))
        except ValueError:
            continue
        for name in (names,) if isinstance(names, str) else tuple(names or ()):
            table[str(name).strip(":")] = kind
    return table


def is_speech(subtype: object) -> bool:
    # A list or dict subtype would make the set lookup raise: it is no speech subtype either.
    return isinstance(subtype, str | None) and subtype in SPEECH


def ts_time(ts: str) -> datetime:
    """Slack's ``"1700000000.000100"`` as an aware UTC datetime, exact to the microsecond."""
    seconds, _, fraction = ts.partition(".")
    micros = int((fraction + "000000")[:6]) if fraction else 0
    return datetime.fromtimestamp(int(seconds), UTC) + timedelta(microseconds=micros)


def valid_ts(value: object) -> str | None:
    return value if isinstance(value, str) and _TS.match(value) else None


def message_id(channel: str, ts: str) -> str:
    return f"{channel}:{ts}"


def permalink(workspace_url: str, channel: str, ts: str, thread: str | None = None) -> str:
    if not workspace_url:
        return ""
    base = workspace_url if workspace_url.endswith("/") else workspace_url + "/"
    link = f"{base}archives/{channel}/p{ts.replace('.', '')}"
    return f"{link}?thread_ts={thread}&cid={channel}" if thread and thread != ts else link


def plain_text(text: str) -> str:
    """Slack markup to plain text: ``<@U1|ann>`` → ``@ann``, ``<url|label>`` → ``label (url)``,
    entities unescaped. The store keeps plain text; renderers escape for their platform."""

    def sub(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target[:1] in ("@", "#"):
            return target[0] + (label or target[1:])
        if target.startswith("!"):
            word = target[1:].split("^", 1)[0]
            return label or _SPECIAL.get(word, "@" + word)
        if label and label != target:
            return f"{label} ({target})"
        return target

    plain = _MARKUP.sub(sub, text)
    return plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")[:MAX_TEXT]


def is_bot(message: Mapping[str, Any], workspace: Workspace) -> bool:
    return bool(
        message.get("bot_id")
        or message.get("subtype") == "bot_message"
        or message.get("bot_profile")
        or (workspace.bot_user_id and message.get("user") == workspace.bot_user_id)
    )


def author_name(message: Mapping[str, Any]) -> str:
    profile = message.get("user_profile")
    if isinstance(profile, Mapping):
        for key in ("display_name", "real_name", "name"):
            value = profile.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:MAX_NAME]
    return ""


def classify(
    message: Mapping[str, Any],
    source: Source,
    watch: ChannelWatch,
    workspace: Workspace,
    *,
    envelope: Mapping[str, Any] | None = None,
    looked_up: str | None = None,
) -> tuple[bool, str | None]:
    """(is_team, person) of a message's author, per DESIGN "Customer vs team".

    A team member named in the config is on the team wherever they write from. Otherwise one
    workspace mark naming another workspace makes the sender a customer, even where other
    marks name ours: in a shared channel Slack stamps some marks with the *receiving*
    workspace (``event.team`` on app mentions, ``context_team_id``, ``authorizations``)
    whoever sent the message, but names a foreign workspace only because the sender belongs
    to it. The costs agree: a colleague taken for a customer costs a needless nudge; a
    customer taken for a colleague closes a real wait without a word. ``looked_up`` is the
    ``users.info`` team, asked only when the event carries no mark at all.
    """
    user = str(message.get("user") or "")
    person = watch.person(user)
    if person is not None:
        return True, person
    teams = marks(message, envelope) or ((looked_up,) if looked_up else ())
    if workspace.team_id and any(not workspace.is_own_team(team) for team in teams):
        return False, None  # Slack Connect: another workspace's user
    if source.customers == "everyone-else":
        return False, None
    return True, None  # a colleague who is not in the config


def needs_lookup(
    event: Mapping[str, Any], envelope: Mapping[str, Any] | None, watch: ChannelWatch
) -> str:
    """The author to ask ``users.info`` about: one who is not on the team and whom no mark on
    the event or its envelope places in a workspace; else ""."""
    inner = author_of(event)
    user = str(inner.get("user") or "")
    if not user or watch.person(user) is not None or marks(inner, envelope):
        return ""
    return user


def author_of(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The message whose author an event is about (the edited or deleted one for those)."""
    key = {"message_changed": "message", "message_deleted": "previous_message"}.get(
        str(event.get("subtype") or "")
    )
    inner = event.get(key) if key else event
    return inner if isinstance(inner, Mapping) else {}


def _text(message: Mapping[str, Any]) -> str:
    text = plain_text(str(message.get("text") or ""))
    if text.strip():
        return text
    files = message.get("files")
    if isinstance(files, list):
        names = [
            str(f.get("title") or f.get("name") or "file") for f in files if isinstance(f, Mapping)
        ]
        if names:
            return "[file: " + ", ".join(names) + "]"
    return text


def _build(
    message: Mapping[str, Any],
    channel: str,
    ts: str,
    source: Source,
    watch: ChannelWatch,
    workspace: Workspace,
    *,
    kind: Kind = Kind.MESSAGE,
    edited_at: datetime | None = None,
    text: str | None = None,
    sender: SenderFacts | None = None,
) -> InboundMessage:
    thread = valid_ts(message.get("thread_ts")) or ts
    envelope, looked_up = sender if sender is not None else (None, None)
    is_team, person = classify(
        message, source, watch, workspace, envelope=envelope, looked_up=looked_up
    )
    return InboundMessage(
        source=source.id,
        platform="slack",
        message_id=message_id(channel, ts),
        thread=thread,
        at=ts_time(ts),
        author=Author(str(message.get("user") or "")[:MAX_NAME], author_name(message)),
        is_team=is_team,
        text=_text(message) if text is None else text,
        channel=channel,
        url=permalink(workspace.url, channel, ts, thread),
        person=person,
        kind=kind,
        edited_at=edited_at,
    )


def target(event: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(channel, ts, thread) an event is about, for choosing its source before translating."""
    channel = event.get("channel")
    if not isinstance(channel, str) or not channel:
        return None
    subtype = event.get("subtype")
    inner = (
        event.get("message")
        if subtype == "message_changed"
        else (event.get("previous_message") if subtype == "message_deleted" else event)
    )
    inner = inner if isinstance(inner, Mapping) else {}
    ts = valid_ts(event.get("deleted_ts")) if subtype == "message_deleted" else None
    ts = ts or valid_ts(inner.get("ts")) or _previous_ts(event) or valid_ts(event.get("ts"))
    if ts is None:
        return None
    return channel, ts, valid_ts(inner.get("thread_ts")) or ts


def _previous_ts(event: Mapping[str, Any]) -> str | None:
    """An edit names the message it changed by ``message.ts``; some recorded deliveries
    (bolt-python's ``message_changed`` fixture) carry it only as ``previous_message.ts``."""
    if event.get("subtype") != "message_changed":
        return None
    previous = event.get("previous_message")
    return valid_ts(previous.get("ts")) if isinstance(previous, Mapping) else None


def translate(
    event: Mapping[str, Any],
    source: Source,
    watch: ChannelWatch,
    workspace: Workspace,
    *,
    envelope: Mapping[str, Any] | None = None,
    looked_up: str | None = None,
) -> InboundMessage | None:
    """The domain message for a ``message`` or ``app_mention`` event, or None to ignore it.
    ``envelope`` is the delivery around the event (its workspace marks count, see
    ``classify``); ``looked_up`` the author's ``users.info`` team when asked."""
    sender: SenderFacts = (envelope, looked_up)
    where = target(event)
    if where is None:
        return None
    channel, ts, _thread = where
    subtype = event.get("subtype")
    if subtype == "message_changed":
        return _changed(event, channel, source, watch, workspace, sender)
    if subtype == "message_deleted":
        previous = event.get("previous_message")
        previous = previous if isinstance(previous, Mapping) else {}
        if is_bot(previous, workspace):
            return None
        return _build(
            previous,
            channel,
            ts,
            source,
            watch,
            workspace,
            kind=Kind.DELETE,
            text="",
            sender=sender,
        )
    if not is_speech(subtype) or is_bot(event, workspace) or not event.get("user"):
        return None
    return _build(event, channel, ts, source, watch, workspace, sender=sender)


def _changed(
    event: Mapping[str, Any],
    channel: str,
    source: Source,
    watch: ChannelWatch,
    workspace: Workspace,
    sender: SenderFacts,
) -> InboundMessage | None:
    message = event.get("message")
    if not isinstance(message, Mapping) or is_bot(message, workspace):
        return None
    ts = valid_ts(message.get("ts")) or _previous_ts(event)
    if ts is None:
        return None
    if message.get("subtype") == "tombstone":
        # A thread parent deleted while it has replies stays as a tombstone: a deletion.
        previous = event.get("previous_message")
        author = previous if isinstance(previous, Mapping) else message
        return _build(
            author, channel, ts, source, watch, workspace, kind=Kind.DELETE, text="", sender=sender
        )
    edited = message.get("edited")
    edited_ts = valid_ts(edited.get("ts")) if isinstance(edited, Mapping) else None
    if edited_ts is None or not is_speech(message.get("subtype")) or not message.get("user"):
        return None  # unfurls, reply counts and other non-edits
    return _build(message, channel, ts, source, watch, workspace, kind=Kind.EDIT,
                  edited_at=ts_time(edited_ts), sender=sender)  # fmt: skip
