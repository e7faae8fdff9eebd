"""Canned responses: an agent's quick replies, picked in the composer by ``/shortcut``.

The body may hold ``{{contact.name}}``, filled in by the composer when inserted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.store.models.core import Base, IdType, UTCDateTime, utcnow

__all__ = ["CannedResponse"]


class CannedResponse(Base):
    """One quick reply of a workspace, named by a shortcut unique in the workspace."""

    __tablename__ = "canned_responses"
    __table_args__ = (UniqueConstraint("workspace_id", "shortcut"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    shortcut: Mapped[str] = mapped_column(String(32))  # ^[a-z0-9_-]{1,32}$
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)  # at most 4096 characters (checked by the API)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
