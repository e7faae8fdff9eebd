"""Message templates of each WhatsApp account, and customers' marketing opt-out.

A template row mirrors one template (name + language) of a WABA at Meta: its components as
Meta holds them, its review status and quality kept current from the API (create, list)
and from the ``message_template_status_update`` / ``…_quality_update`` webhooks. A row in
status ``DRAFT`` is declared (``apply`` file) but not submitted yet.

The route-back fields of an outbound conversation and the template category of a sent
message live on ``conversations`` and ``messages`` (core); this module holds the rest.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.store.models.core import Base, IdType, JSONType, UTCDateTime, utcnow

__all__ = ["MarketingPreference", "MessageTemplate"]


def _pk() -> Mapped[int]:
    return mapped_column(IdType, primary_key=True, autoincrement=True)


def _workspace_fk() -> Mapped[int]:
    return mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)


class MessageTemplate(Base):
    """One template (one language) of a WhatsApp Business Account."""

    __tablename__ = "message_templates"
    __table_args__ = (UniqueConstraint("account_id", "name", "language"),)

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    account_id: Mapped[int] = mapped_column(
        ForeignKey("whatsapp_accounts.id", ondelete="CASCADE"), index=True
    )
    # Meta's template id (``hsm_id``); null while a declared template is not submitted.
    meta_template_id: Mapped[str | None] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(512))
    language: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32))  # MARKETING | UTILITY | AUTHENTICATION
    # DRAFT (not submitted) | PENDING | APPROVED | REJECTED | PAUSED | DISABLED | …
    status: Mapped[str] = mapped_column(String(32), default="DRAFT")
    quality_score: Mapped[str | None] = mapped_column(String(16))  # GREEN | YELLOW | RED
    rejected_reason: Mapped[str | None] = mapped_column(Text)
    components: Mapped[list] = mapped_column(JSONType, default=list)
    parameter_format: Mapped[str] = mapped_column(String(16), default="POSITIONAL")
    # api | apply | meta (found by a sync) | webhook (first heard of by a webhook)
    source: Mapped[str] = mapped_column(String(16), default="api")
    # The last submission error (the template stays a DRAFT until submitted).
    last_error: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class MarketingPreference(Base):
    """Whether a contact accepts marketing templates (no row: they never said otherwise)."""

    __tablename__ = "marketing_preferences"

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), unique=True
    )
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    # keyword | button | webhook | meta_error | agent
    source: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    # When the customer expressed it (their message or Meta's event), to ignore stale news.
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
