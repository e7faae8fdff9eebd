"""Supervision: who supervises which queue, monitoring sessions and whispers.

A supervisor listed on some queues sees only those queues' conversations (admins, and
supervisors listed on none, see the whole workspace). A monitoring session is a row so
the agent's indicator survives a reload and "one at a time" holds across processes (a
partial unique index on the open session of each supervisor). A whisper is its own
table, never a message: nothing in it can reach the outbox or WhatsApp.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.store.models.core import Base, IdType, UTCDateTime, utcnow

__all__ = ["MonitorSession", "QueueSupervisor", "Whisper"]


def _pk() -> Mapped[int]:
    return mapped_column(IdType, primary_key=True, autoincrement=True)


def _workspace_fk() -> Mapped[int]:
    return mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)


class QueueSupervisor(Base):
    """A supervisor of one queue (a queue setting: its supervisors)."""

    __tablename__ = "queue_supervisors"
    __table_args__ = (UniqueConstraint("queue_id", "user_id"),)

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)


class MonitorSession(Base):
    """A supervisor following one conversation live, read-only; ``ended_at`` null = now."""

    __tablename__ = "monitor_sessions"
    __table_args__ = (
        # One monitoring session at a time per supervisor, on both databases.
        Index(
            "ix_monitor_sessions_one_open",
            "supervisor_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
        Index("ix_monitor_sessions_conversation", "conversation_id", "ended_at"),
    )

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    supervisor_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Whisper(Base):
    """A supervisor's private word to the agent inside a conversation."""

    __tablename__ = "whispers"

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The agent who had the conversation when it was written (who was coached).
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
