"""Campaigns: one template sent to many customers, and the numbers' messaging limits.

A campaign row holds what to send (template, parameter values), from which number, when,
and where the replies go. Each customer of its audience is a ``campaign_recipients`` row:
who (contact, phone or BSUID, name), the values of their CSV columns, and what happened
(pending → queued with its message, or skipped as opted out / stopped). Delivery states
after ``queued`` are the message's own (``messages.status``), read by a join, so a status
webhook never has to touch a second table.

``messaging_limits`` keeps each number's Meta messaging limit tier (unique customers a
number may start business-initiated conversations with in a rolling 24 h).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, column_property, mapped_column

from madoguchi.store.models.core import (
    Base,
    Conversation,
    IdType,
    JSONType,
    UTCDateTime,
    utcnow,
)

__all__ = ["Campaign", "CampaignRecipient", "MessagingLimit"]


def _pk() -> Mapped[int]:
    return mapped_column(IdType, primary_key=True, autoincrement=True)


def _workspace_fk() -> Mapped[int]:
    return mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)


class Campaign(Base):
    """A template broadcast: draft → scheduled → sending (⇄ paused) → finished | stopped."""

    __tablename__ = "campaigns"

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    name: Mapped[str] = mapped_column(String(200))
    phone_number_id: Mapped[int] = mapped_column(
        ForeignKey("phone_numbers.id", ondelete="CASCADE"), index=True
    )
    template_id: Mapped[int | None] = mapped_column(
        ForeignKey("message_templates.id", ondelete="SET NULL")
    )
    # Parameter key (``body.1``) → a literal, or ``{"from": "row.column"}`` /
    # ``{"from": "contact.name"}`` (``default`` allowed), as outbound sends take them.
    values: Mapped[dict] = mapped_column(JSONType, default=dict)
    # Replies within ``route_back_hours`` go to this queue (and to this agent first).
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    route_back_hours: Mapped[float] = mapped_column(default=72.0)
    # draft | scheduled | sending | paused | finished | stopped
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why the campaign is waiting or stopped (limit reached, template paused…).
    status_reason: Mapped[str | None] = mapped_column(Text)
    # The CSV columns its audience brought (parameters may be mapped from them).
    columns: Mapped[list] = mapped_column(JSONType, default=list)
    # The last audience import's report (counts, invalid rows by line).
    audience_report: Mapped[dict | None] = mapped_column(JSONType)
    # The estimate taken when it was scheduled (money when a rate card exists).
    cost_estimate: Mapped[dict | None] = mapped_column(JSONType)
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CampaignRecipient(Base):
    """One customer of a campaign's audience and what became of their message."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id"),
        # The sender side takes a campaign's pending recipients in id order.
        Index("ix_campaign_recipients_state", "campaign_id", "state", "id"),
        # The messaging limit counts a number's recipients queued in the last 24 h.
        Index("ix_campaign_recipients_queued", "phone_number_id", "queued_at"),
    )

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    phone_number_id: Mapped[int] = mapped_column(ForeignKey("phone_numbers.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    wa_id: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(160))
    name: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(2))
    # The CSV row's other columns (template values may come from them).
    variables: Mapped[dict] = mapped_column(JSONType, default=dict)
    # csv:<line> | tag:<tag> | contacts
    source: Mapped[str | None] = mapped_column(String(80))
    # pending → queued (message_id set) | opted_out | stopped | skipped (reason in error)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL")
    )
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), index=True
    )
    error: Mapped[str | None] = mapped_column(Text)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MessagingLimit(Base):
    """A number's messaging limit tier as Meta last reported it (or as set by an admin)."""

    __tablename__ = "messaging_limits"

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    phone_number_id: Mapped[int] = mapped_column(
        ForeignKey("phone_numbers.id", ondelete="CASCADE"), unique=True
    )
    tier: Mapped[str] = mapped_column(String(32))  # TIER_250 | TIER_1K | … | TIER_UNLIMITED
    # Unique customers per rolling 24 h; null: unlimited.
    per_day: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16), default="meta")  # meta | setting
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


# A conversation names the campaign that reached the customer (the agent sees why they
# wrote). A scalar subquery, not a relationship: conversations are read ``FOR UPDATE``
# by the routing engine, and PostgreSQL refuses that on an outer join.
Conversation.campaign_name = column_property(
    select(Campaign.name).where(Campaign.id == Conversation.campaign_id).scalar_subquery()
)
