"""SQLAlchemy 2 models. Times are stored as naive UTC and handed back aware (see UTCDateTime)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY, PostgreSQL wants room beyond 2**31.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC out; naive UTC on disk so both databases sort alike."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC time")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQL on SQLite hands back text
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("source", "thread_key"),
        # "Who's waiting, oldest first" reads only waiting rows: a partial index keeps the
        # answered history (the bulk of the table) out of it entirely.
        Index(
            "ix_conversations_waiting",
            "waiting_since",
            sqlite_where=text("waiting_since IS NOT NULL"),
            postgresql_where=text("waiting_since IS NOT NULL"),
        ),
        Index(
            "ix_conversations_due",
            "due_at",
            sqlite_where=text("due_at IS NOT NULL"),
            postgresql_where=text("due_at IS NOT NULL"),
        ),
        Index("ix_conversations_source_started", "source", "started_at"),
        Index("ix_conversations_started_at", "started_at"),  # reports across sources (0004)
        # Catch-up's window: a channel's newest conversation, its recently active ones (0012).
        Index("ix_conversations_source_channel_last", "source", "channel", "last_message_at"),
        # The planner's only read: conversations whose next ladder slot is due.
        Index(
            "ix_conversations_next_nudge",
            "next_nudge_at",
            sqlite_where=text("next_nudge_at IS NOT NULL"),
            postgresql_where=text("next_nudge_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    thread_key: Mapped[str] = mapped_column(String(512))
    platform: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(255), default="")
    thread: Mapped[str] = mapped_column(String(512))
    url: Mapped[str] = mapped_column(Text, default="")
    customer_id: Mapped[str | None] = mapped_column(String(255))
    customer_name: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    waiting_message_id: Mapped[str | None] = mapped_column(String(255))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_text: Mapped[str] = mapped_column(Text, default="")
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_responder: Mapped[str | None] = mapped_column(String(255))
    customer_messages: Mapped[int] = mapped_column(Integer, default=0)
    team_messages: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    nudges_sent: Mapped[int] = mapped_column(Integer, default=0)
    # Bumped on every recompute; a scheduled job that saw an older version is stale.
    version: Mapped[int] = mapped_column(Integer, default=0)
    # When the nudge ladder must look at this conversation again (NULL: nothing planned).
    next_nudge_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The waiting_since of a wait that arrived by `import` as history: it is summarised to
    # the people concerned, never nudged one by one (0010).
    imported_wait: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("source", "message_id"),
        Index("ix_messages_conversation_at", "conversation_id", "at"),
        Index("ix_messages_source_at", "source", "at"),
        Index("ix_messages_at", "at"),  # reports across sources (0004)
        # "this customer's latest message in this chat" (Telegram threading) (0006)
        Index("ix_messages_source_author_at", "source", "author_id", "at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(255))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    author_id: Mapped[str] = mapped_column(String(255))
    author_name: Mapped[str] = mapped_column(String(255), default="")
    person: Mapped[str | None] = mapped_column(String(64))
    is_team: Mapped[bool] = mapped_column(Boolean)
    text: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(Text, default="")
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WaitingPeriod(Base):
    """Derived from messages on every recompute; kept as rows so stats are plain queries."""

    __tablename__ = "waiting_periods"
    __table_args__ = (
        Index("ix_waiting_periods_source_started", "source", "started_at"),
        Index("ix_waiting_periods_conversation_id", "conversation_id"),
        Index("ix_waiting_periods_started_at", "started_at"),  # reports across sources (0004)
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(16))
    answered_by: Mapped[str | None] = mapped_column(String(255))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ActionRecord(Base):
    """Everything a team member did to a conversation: the audit trail and an input to state."""

    __tablename__ = "actions"
    __table_args__ = (Index("ix_actions_conversation_at", "conversation_id", "at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    person: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, default="")
    # Where it was done: web (the conversation page), slack, telegram; "" before 0011.
    via: Mapped[str] = mapped_column(String(16), default="", server_default="")


class Nudge(Base):
    """The delivery outbox: one row per ladder slot and recipient (see storage.outbox_repo).

    ``next_attempt_at`` is set exactly while there is delivery work (pending, or sending under
    a lease that ends then) and ``update_next_at`` while an in-place update is owed, so the two
    partial indexes hold only live work and a tick never reads history.
    """

    __tablename__ = "nudges"
    __table_args__ = (
        UniqueConstraint(
            "conversation_id",
            "period_start",
            "track",
            "seq",
            "recipient_key",
            name="uq_nudges_step",
        ),
        Index(
            "ix_nudges_due",
            "next_attempt_at",
            sqlite_where=text("next_attempt_at IS NOT NULL"),
            postgresql_where=text("next_attempt_at IS NOT NULL"),
        ),
        Index(
            "ix_nudges_update_due",
            "update_next_at",
            sqlite_where=text("update_next_at IS NOT NULL"),
            postgresql_where=text("update_next_at IS NOT NULL"),
        ),
        # What one recipient got lately and has coming: the batching decision and the hourly
        # cap read a few entries of these per claim, whatever the history (0010).
        Index("ix_nudges_lane", "recipient_platform", "recipient_address", "sent_at"),
        Index(
            "ix_nudges_lane_due",
            "recipient_platform",
            "recipient_address",
            "next_attempt_at",
            sqlite_where=text("next_attempt_at IS NOT NULL"),
            postgresql_where=text("next_attempt_at IS NOT NULL"),
        ),
        # A recipient's batched nudges, for the escalations their summary lists (0014).
        Index(
            "ix_nudges_lane_batched",
            "recipient_platform",
            "recipient_address",
            sqlite_where=text("state = 'batched'"),
            postgresql_where=text("state = 'batched'"),
        ),
        # Only rows in flight: a dead process's expired claims are found first
        # (storage.outbox_repo).
        Index(
            "ix_nudges_leased",
            "lease_until",
            sqlite_where=text("state = 'sending'"),
            postgresql_where=text("state = 'sending'"),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)  # the period's waiting_since
    track: Mapped[str] = mapped_column(String(16))  # responsible | escalation
    seq: Mapped[int] = mapped_column(Integer)
    recipient_key: Mapped[str] = mapped_column(String(160))  # person:ID | slack-channel:CID | -
    step: Mapped[str] = mapped_column(String(16))  # first | reminder | escalation
    recipient_person: Mapped[str | None] = mapped_column(String(64))
    recipient_platform: Mapped[str] = mapped_column(String(32), default="")
    recipient_address: Mapped[str] = mapped_column(String(255), default="")
    slot_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when the ladder step was due
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)  # ...and when it may reach them
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # pending -> sending -> sent | failed; pending -> cancelled; skipped: a placeholder
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    platform_ref: Mapped[str | None] = mapped_column(String(255))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Batched: when the summary standing for it went out (posted or edited) with it in; it
    # then counts as sent (``nudges_sent``) without taking a message of its own (0014).
    summarised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What became of the conversation, shown on the sent message in place.
    outcome: Mapped[str | None] = mapped_column(String(16))
    outcome_by: Mapped[str | None] = mapped_column(String(255))
    outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome_after: Mapped[int | None] = mapped_column(Integer)  # seconds since waiting_since
    outcome_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # None -> pending -> sending -> done | failed; version guards against a newer outcome
    update_state: Mapped[str | None] = mapped_column(String(16))
    update_version: Mapped[int] = mapped_column(Integer, default=0)
    update_attempts: Mapped[int] = mapped_column(Integer, default=0)
    update_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PollCursor(Base):
    """Where each polled source (Mastodon, Discourse, GitHub, X) got to: the adapter's opaque
    cursor, saved after the messages it covers are stored, so a restart neither misses nor
    repeats (see storage.cursors_repo)."""

    __tablename__ = "poll_cursors"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    cursor: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DeadLetter(Base):
    """An inbound payload that passed authentication but could not be read, kept as received
    (see storage.dead_letters_repo). ``digest`` (sha256 of the bytes) makes a redelivery of
    the same payload count up ``deliveries`` instead of adding a row."""

    __tablename__ = "dead_letters"
    __table_args__ = (
        UniqueConstraint("platform", "source", "digest"),
        Index("ix_dead_letters_received_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    # utf-8: ``payload`` is the body as text; base64: the body was not clean UTF-8 (or held
    # NUL, which PostgreSQL text refuses), so it is kept losslessly encoded.
    encoding: Mapped[str] = mapped_column(String(8))
    payload: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deliveries: Mapped[int] = mapped_column(Integer, default=1)


class DigestRecord(Base):
    """One weekly digest per owner and week (the owner's ISO week of the send slot): the row
    is claimed before sending, so replicas sharing the database send it once."""

    __tablename__ = "digests"

    person: Mapped[str] = mapped_column(String(64), primary_key=True)
    week: Mapped[str] = mapped_column(String(10), primary_key=True)  # e.g. 2026-W49
    state: Mapped[str] = mapped_column(String(16))  # sending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    platform_ref: Mapped[str | None] = mapped_column(String(255))
    last_error: Mapped[str] = mapped_column(Text, default="")


class OncallOverride(Base):
    """A turn taken with ``nudgebot oncall take``: ranks above the config's own overrides,
    and among stored ones the latest created wins (see bot.services.oncall)."""

    __tablename__ = "oncall_overrides"
    __table_args__ = (Index("ix_oncall_overrides_ends_at", "ends_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    rotation: Mapped[str] = mapped_column(String(64))
    person: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(255), default="")
    note: Mapped[str] = mapped_column(Text, default="")


class OncallHandoff(Base):
    """One hand-off notice per rotation, turn start and incoming person: the UNIQUE key makes
    it go out once however many replicas notice the turn (see storage.oncall_repo)."""

    __tablename__ = "oncall_handoffs"
    __table_args__ = (UniqueConstraint("rotation", "turn_start", "person"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    rotation: Mapped[str] = mapped_column(String(64))
    turn_start: Mapped[datetime] = mapped_column(UTCDateTime)
    turn_end: Mapped[datetime] = mapped_column(UTCDateTime)
    person: Mapped[str] = mapped_column(String(64))
    # sending (leased until lease_until) -> sent | failed; sending past its lease is retried
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")


class NudgeSummary(Base):
    """One summary message per recipient (storage.summaries_repo): many nudges to one person as
    one message, edited in place. Claimed under a lease like an outbox row."""

    __tablename__ = "nudge_summaries"
    __table_args__ = (
        UniqueConstraint("recipient_platform", "recipient_address", name="uq_nudge_summaries_lane"),
        Index(
            "ix_nudge_summaries_due",
            "next_attempt_at",
            sqlite_where=text("next_attempt_at IS NOT NULL"),
            postgresql_where=text("next_attempt_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    recipient_platform: Mapped[str] = mapped_column(String(32))
    recipient_address: Mapped[str] = mapped_column(String(255))
    recipient_person: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(16), default="batch")
    window_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # batching until then
    post_due: Mapped[bool] = mapped_column(Boolean, default=False)  # a new message is owed
    held_back: Mapped[int] = mapped_column(Integer, default=0)  # nudges the cap held back
    platform_ref: Mapped[str | None] = mapped_column(String(255))
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default="idle")  # idle|pending|sending|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=0)  # bumped by every change
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")


class SummaryPost(Base):
    """Every summary message posted (not edits): counted by ``max_messages_per_hour``."""

    __tablename__ = "summary_posts"
    __table_args__ = (
        Index("ix_summary_posts_lane", "recipient_platform", "recipient_address", "at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    recipient_platform: Mapped[str] = mapped_column(String(32))
    recipient_address: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class DashboardSession(Base):
    """A dashboard sign-in. The cookie holds a random id (and a MAC with the API token); the
    row holds only its SHA-256, so logging out on one replica ends it on every replica, and
    a read of this table gives nobody a working cookie (see bot.web.session)."""

    __tablename__ = "dashboard_sessions"
    __table_args__ = (Index("ix_dashboard_sessions_last_seen_at", "last_seen_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the id
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuthFailure(Base):
    """A failed sign-in or bearer token, by client address (bot.web.throttle): kept in the
    database so every replica counts the same failures. Rows older than the throttle's
    window are deleted whenever a failure is written."""

    __tablename__ = "auth_failures"
    __table_args__ = (
        Index("ix_auth_failures_address_failed_at", "address", "failed_at"),
        Index("ix_auth_failures_failed_at", "failed_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    address: Mapped[str] = mapped_column(String(64))  # sha256 hex of the client address
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChannelName(Base):
    """A channel's or chat's display name as its platform reported it (Slack
    ``conversations.info``, Telegram ``getChat``), so the dashboard shows names, not ids;
    refreshed when older than a day (see bot.services.channel_names)."""

    __tablename__ = "channel_names"

    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)
