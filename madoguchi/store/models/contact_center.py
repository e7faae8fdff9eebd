"""People and contact-center work: users and sessions, queues and their members, agent
presence, the conversation lifecycle's event log, notes, tags, dispositions, and timers.

The lifecycle fields live on ``conversations`` (core); this module holds everything that
hangs off them. Timers are rows so that offer timeouts, overflow, auto-close and flow
waits survive a restart and can be claimed by one worker among many.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    FetchedValue,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.store.models.core import Base, IdType, JSONType, UTCDateTime, utcnow

__all__ = [
    "AgentPresence",
    "AgentPresenceLog",
    "ConversationEvent",
    "ConversationRead",
    "ConversationTag",
    "CsatResponse",
    "DispositionCode",
    "LoginAttempt",
    "Note",
    "Queue",
    "QueueMember",
    "Timer",
    "User",
    "UserSession",
]


def _pk() -> Mapped[int]:
    return mapped_column(IdType, primary_key=True, autoincrement=True)


def _workspace_fk() -> Mapped[int]:
    return mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)


class User(Base):
    """A person who signs in: admin, supervisor or agent of one workspace."""

    __tablename__ = "users"

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))  # admin | supervisor | agent
    password_hash: Mapped[str | None] = mapped_column(String(255))
    locale: Mapped[str] = mapped_column(String(8), default="en")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UserSession(Base):
    """A browser session (cookie); only the token's digest is stored."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginAttempt(Base):
    """A failed sign-in, for rate limiting across processes.

    Not scoped to a workspace: an attempt for an unknown e-mail belongs to none.
    """

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_key_at", "key", "at"),)

    id: Mapped[int] = _pk()
    key: Mapped[str] = mapped_column(String(300))  # e.g. "email:x@y" or "ip:1.2.3.4"
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Queue(Base):
    """Where conversations wait for an agent, and how they are offered."""

    __tablename__ = "queues"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    name: Mapped[str] = mapped_column(String(100))
    # longest_idle | least_busy | round_robin
    routing_method: Mapped[str] = mapped_column(String(16), default="longest_idle")
    max_per_agent: Mapped[int] = mapped_column(Integer, default=3)
    offer_timeout_seconds: Mapped[int] = mapped_column(Integer, default=30)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # {"mon": [["09:00", "18:00"]], ...}; null = always open
    hours: Mapped[dict | None] = mapped_column(JSONType)
    holidays: Mapped[list | None] = mapped_column(JSONType)  # ["2026-12-31", ...]
    closed_message: Mapped[str | None] = mapped_column(Text)
    closed_target_queue_id: Mapped[int | None] = mapped_column(
        ForeignKey("queues.id", ondelete="SET NULL")
    )
    max_wait_seconds: Mapped[int | None] = mapped_column(Integer)
    overflow_queue_id: Mapped[int | None] = mapped_column(
        ForeignKey("queues.id", ondelete="SET NULL")
    )
    auto_close_after_seconds: Mapped[int | None] = mapped_column(Integer)
    # Service level: answered within this many seconds counts as "in target"; an abandon
    # sooner than the short-abandon threshold is left out (docs/metrics.md).
    service_level_seconds: Mapped[int] = mapped_column(Integer, default=60, server_default="60")
    short_abandon_seconds: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    # Customer satisfaction question at close (domain.csat.CsatSettings); null = off.
    csat: Mapped[dict | None] = mapped_column(JSONType)
    # Round robin: the member who got the last offer.
    last_offered_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class QueueMember(Base):
    __tablename__ = "queue_members"
    __table_args__ = (UniqueConstraint("queue_id", "user_id"),)

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Lower is offered first; ties are broken by the queue's routing method.
    priority: Mapped[int] = mapped_column(Integer, default=0)


class AgentPresence(Base):
    """An agent's availability; the routing engine's view of who can take work."""

    __tablename__ = "agent_presence"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[int] = _workspace_fk()
    status: Mapped[str] = mapped_column(String(16), default="offline")  # offline|available|away
    away_reason: Mapped[str | None] = mapped_column(String(100))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the agent last received work (longest idle routes to the oldest).
    last_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AgentPresenceLog(Base):
    """Every change of an agent's presence, in order (reporting's occupancy reads it):
    the status from ``at`` on, and why (``signed out`` when the last session ended)."""

    __tablename__ = "agent_presence_log"
    __table_args__ = (Index("ix_agent_presence_log_ws_at", "workspace_id", "at"),)

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    away_reason: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConversationEvent(Base):
    """One step of a conversation's life: who did what, when and why (reporting's raw data)."""

    __tablename__ = "conversation_events"
    __table_args__ = (
        Index("ix_conversation_events_conv_at", "conversation_id", "id"),
        # A workspace's steps of a time range (the occupancy of the hours in progress):
        # without it SQLite picks the workspace index and reads the workspace's whole log.
        Index("ix_conversation_events_ws_at", "workspace_id", "at"),
        Index(
            "ix_conversation_events_txid",
            "txid",
            "id",
            sqlite_where=text("txid IS NOT NULL"),
            postgresql_where=text("txid IS NOT NULL"),
        ),
    )

    id: Mapped[int] = _pk()
    # PostgreSQL: the inserting transaction's id (a database default; reporting's rollups
    # read in its order, see services/reporting/rollups.py). Null on SQLite.
    txid: Mapped[int | None] = mapped_column(
        BigInteger, nullable=True, server_default=FetchedValue()
    )
    workspace_id: Mapped[int] = _workspace_fk()
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict | None] = mapped_column(JSONType)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Note(Base):
    """An internal note on a conversation: never sent to the customer."""

    __tablename__ = "notes"

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConversationTag(Base):
    __tablename__ = "conversation_tags"
    __table_args__ = (UniqueConstraint("conversation_id", "tag"),)

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    tag: Mapped[str] = mapped_column(String(64))


class ConversationRead(Base):
    """How far one person has read one conversation, so unread counts survive a reload.

    ``last_read_message_id`` is a watermark (message ids grow with time in a conversation),
    not a foreign key: messages are never deleted on their own, and the watermark only
    ever moves forward.
    """

    __tablename__ = "conversation_reads"
    __table_args__ = (UniqueConstraint("user_id", "conversation_id"),)

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    last_read_message_id: Mapped[int] = mapped_column(IdType)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DispositionCode(Base):
    """A wrap-up outcome an agent picks for a conversation of a queue."""

    __tablename__ = "disposition_codes"
    __table_args__ = (UniqueConstraint("queue_id", "code"),)

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))


class Timer(Base):
    """Something that must happen at ``due_at`` even if the process restarts in between.

    ``kind`` names the handler (``offer_timeout``, ``max_wait``, ``auto_close``,
    ``flow_wait``…); ``ref_id`` is what it acts on (usually a conversation). A timer fires
    once: it is claimed (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and marked fired.
    """

    __tablename__ = "timers"
    __table_args__ = (
        Index("ix_timers_due", "state", "due_at"),
        Index("ix_timers_ref", "kind", "ref_id"),
    )

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    kind: Mapped[str] = mapped_column(String(32))
    ref_id: Mapped[int] = mapped_column(IdType)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending|fired|cancelled
    payload: Mapped[dict | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CsatResponse(Base):
    """One customer-satisfaction question and its answer: at most one per conversation.

    The row is written in the transaction that closes the conversation and queues the
    question, so the unique key on ``conversation_id`` is what makes "never ask twice"
    hold with any number of processes. ``score`` (1–5) and ``answered_at`` stay null until
    the customer answers; ``queue_id``/``agent_id`` are the queue and agent of the
    conversation when it closed (what the reports group by).
    """

    __tablename__ = "csat_responses"
    __table_args__ = (
        UniqueConstraint("conversation_id"),
        Index("ix_csat_responses_workspace_asked", "workspace_id", "asked_at"),
    )

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The question as sent (its wamid tells a tapped reply's context apart).
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))  # list | buttons
    language: Mapped[str] = mapped_column(String(8))
    score: Mapped[int | None] = mapped_column(Integer)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
