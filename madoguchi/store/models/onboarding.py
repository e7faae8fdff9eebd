"""Onboarding: Embedded Signups in progress or done, and each number's last health check.

A signup is a row because it has several steps at Meta (code exchange, webhook
subscription, registration, details) and one may fail after others succeeded: the row
keeps the business token (encrypted) and which steps are done, so the admin retries the
failed step instead of starting over, and nothing is left half-connected unnoticed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.store.models.core import Base, IdType, JSONType, UTCDateTime, utcnow

__all__ = ["NumberHealth", "Signup"]


class Signup(Base):
    """One run of Embedded Signup for one WABA and phone number."""

    __tablename__ = "onboarding_signups"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    waba_id: Mapped[str] = mapped_column(String(64))
    phone_number_id: Mapped[str] = mapped_column(String(64))
    # in_progress | failed | completed
    state: Mapped[str] = mapped_column(String(16), default="in_progress")
    # step name -> {"state": done|failed|skipped, "message": ..., "meta_code": ..., "at": ...}
    steps: Mapped[dict] = mapped_column(JSONType, default=dict)
    # What the admin chose (account name, default queue): used when the number is saved.
    options: Mapped[dict] = mapped_column(JSONType, default=dict)
    access_token_encrypted: Mapped[str | None] = mapped_column(Text)
    number_id: Mapped[int | None] = mapped_column(
        ForeignKey("phone_numbers.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class NumberHealth(Base):
    """What Meta said of a number at its last check (token, subscription, quality…)."""

    __tablename__ = "number_health"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    number_id: Mapped[int] = mapped_column(
        ForeignKey("phone_numbers.id", ondelete="CASCADE"), unique=True
    )
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # False when Meta could not be asked at all (the report then says why).
    reached: Mapped[bool] = mapped_column(Boolean, default=True)
    report: Mapped[dict] = mapped_column(JSONType, default=dict)
