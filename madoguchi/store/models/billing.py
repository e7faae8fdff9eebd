"""Pricing and cost: rate cards, what each outbound message cost, monthly budgets.

A rate card is one version of the prices (per market × category, with volume tiers), in
force from ``effective_from`` until the next card of the workspace takes over; a message
is priced by the card in force when it was sent, so a new card never reprices the past.
Amounts are integer micro-units of the card's currency (see ``domain.pricing``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from madoguchi.store.models.core import Base, UTCDateTime, _pk, _workspace_fk, utcnow

__all__ = ["Budget", "BudgetAlertRecord", "MessageCost", "RateCard", "RateCardRate"]


class RateCard(Base):
    """One version of a workspace's prices."""

    __tablename__ = "rate_cards"
    __table_args__ = (Index("ix_rate_cards_in_force", "workspace_id", "effective_from"),)

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))  # ISO 4217
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(16), default="manual")  # manual | csv
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    rates: Mapped[list[RateCardRate]] = relationship(
        back_populates="card", cascade="all, delete-orphan", order_by="RateCardRate.id"
    )


class RateCardRate(Base):
    """The price of one message of ``category`` to ``market`` (ISO code or ``*``), from
    the month's ``tier_from``-th billable message on."""

    __tablename__ = "rate_card_rates"
    __table_args__ = (UniqueConstraint("rate_card_id", "market", "category", "tier_from"),)

    id: Mapped[int] = _pk()
    rate_card_id: Mapped[int] = mapped_column(
        ForeignKey("rate_cards.id", ondelete="CASCADE"), index=True
    )
    market: Mapped[str] = mapped_column(String(8))
    category: Mapped[str] = mapped_column(String(32))
    tier_from: Mapped[int] = mapped_column(Integer, default=0)
    micros: Mapped[int] = mapped_column(BigInteger)

    card: Mapped[RateCard] = relationship(back_populates="rates")


class MessageCost(Base):
    """The estimate of one outbound message (when queued) and its actual cost (from
    Meta's status webhooks), side by side so differences show."""

    __tablename__ = "message_costs"
    __table_args__ = (
        Index("ix_message_costs_period", "workspace_id", "priced_at"),
        Index("ix_message_costs_unsettled", "workspace_id", "settled_at"),
    )

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), unique=True
    )
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    phone_number_id: Mapped[int] = mapped_column(ForeignKey("phone_numbers.id", ondelete="CASCADE"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    template_name: Mapped[str | None] = mapped_column(String(512))
    market: Mapped[str | None] = mapped_column(String(8))
    rate_card_id: Mapped[int | None] = mapped_column(
        ForeignKey("rate_cards.id", ondelete="SET NULL")
    )
    currency: Mapped[str | None] = mapped_column(String(3))
    # When the message was queued, then when Meta accepted it: the card in force then.
    priced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    estimated_category: Mapped[str] = mapped_column(String(32))
    estimated_billable: Mapped[bool] = mapped_column(Boolean)
    estimated_type: Mapped[str] = mapped_column(String(32))
    estimated_model: Mapped[str] = mapped_column(String(8))
    estimated_micros: Mapped[int | None] = mapped_column(BigInteger)
    actual_category: Mapped[str | None] = mapped_column(String(32))
    actual_billable: Mapped[bool | None] = mapped_column(Boolean)
    actual_type: Mapped[str | None] = mapped_column(String(32))
    actual_model: Mapped[str | None] = mapped_column(String(8))
    actual_micros: Mapped[int | None] = mapped_column(BigInteger)
    # delivered (Meta's pricing) | failed (not charged) | None (waiting for Meta)
    settlement: Mapped[str | None] = mapped_column(String(16))
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Budget(Base):
    """A workspace's monthly budget; alerts at 80 % and 100 %, and with ``hard_limit``
    templates are refused once the month's spending reaches it."""

    __tablename__ = "budgets"

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), unique=True
    )
    monthly_micros: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    hard_limit: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class BudgetAlertRecord(Base):
    """An alert sent for a month and threshold: each is sent once."""

    __tablename__ = "budget_alerts"
    __table_args__ = (UniqueConstraint("workspace_id", "month", "threshold"),)

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    threshold: Mapped[int] = mapped_column(Integer)  # 80 | 100
    spent_micros: Mapped[int] = mapped_column(BigInteger)
    budget_micros: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
