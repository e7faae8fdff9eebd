"""billing: rate cards (versioned prices), per-message costs, monthly budgets and alerts

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 06:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import madoguchi.store.models.core

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_DT = madoguchi.store.models.core.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rate_cards",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("effective_from", UTC_DT, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC_DT, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_rate_cards_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_cards")),
    )
    op.create_index(op.f("ix_rate_cards_workspace_id"), "rate_cards", ["workspace_id"])
    op.create_index("ix_rate_cards_in_force", "rate_cards", ["workspace_id", "effective_from"])
    op.create_table(
        "rate_card_rates",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("rate_card_id", ID, nullable=False),
        sa.Column("market", sa.String(length=8), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("tier_from", sa.Integer(), nullable=False),
        sa.Column("micros", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rate_card_id"],
            ["rate_cards.id"],
            name=op.f("fk_rate_card_rates_rate_card_id_rate_cards"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_card_rates")),
        sa.UniqueConstraint(
            "rate_card_id",
            "market",
            "category",
            "tier_from",
            name=op.f("uq_rate_card_rates_rate_card_id_market_category_tier_from"),
        ),
    )
    op.create_index(op.f("ix_rate_card_rates_rate_card_id"), "rate_card_rates", ["rate_card_id"])
    op.create_table(
        "message_costs",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("message_id", ID, nullable=False),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("phone_number_id", ID, nullable=False),
        sa.Column("queue_id", ID, nullable=True),
        sa.Column("agent_id", ID, nullable=True),
        sa.Column("template_name", sa.String(length=512), nullable=True),
        sa.Column("market", sa.String(length=8), nullable=True),
        sa.Column("rate_card_id", ID, nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("priced_at", UTC_DT, nullable=False),
        sa.Column("estimated_category", sa.String(length=32), nullable=False),
        sa.Column("estimated_billable", sa.Boolean(), nullable=False),
        sa.Column("estimated_type", sa.String(length=32), nullable=False),
        sa.Column("estimated_model", sa.String(length=8), nullable=False),
        sa.Column("estimated_micros", sa.BigInteger(), nullable=True),
        sa.Column("actual_category", sa.String(length=32), nullable=True),
        sa.Column("actual_billable", sa.Boolean(), nullable=True),
        sa.Column("actual_type", sa.String(length=32), nullable=True),
        sa.Column("actual_model", sa.String(length=8), nullable=True),
        sa.Column("actual_micros", sa.BigInteger(), nullable=True),
        sa.Column("settlement", sa.String(length=16), nullable=True),
        sa.Column("settled_at", UTC_DT, nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_message_costs_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_costs_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_message_costs_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["phone_number_id"],
            ["phone_numbers.id"],
            name=op.f("fk_message_costs_phone_number_id_phone_numbers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_message_costs_queue_id_queues"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["users.id"],
            name=op.f("fk_message_costs_agent_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["rate_card_id"],
            ["rate_cards.id"],
            name=op.f("fk_message_costs_rate_card_id_rate_cards"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_costs")),
        sa.UniqueConstraint("message_id", name=op.f("uq_message_costs_message_id")),
    )
    op.create_index(op.f("ix_message_costs_workspace_id"), "message_costs", ["workspace_id"])
    op.create_index("ix_message_costs_period", "message_costs", ["workspace_id", "priced_at"])
    op.create_index("ix_message_costs_unsettled", "message_costs", ["workspace_id", "settled_at"])
    op.create_table(
        "budgets",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("monthly_micros", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("hard_limit", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTC_DT, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_budgets_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budgets")),
        sa.UniqueConstraint("workspace_id", name=op.f("uq_budgets_workspace_id")),
    )
    op.create_table(
        "budget_alerts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("spent_micros", sa.BigInteger(), nullable=False),
        sa.Column("budget_micros", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_DT, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_budget_alerts_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budget_alerts")),
        sa.UniqueConstraint(
            "workspace_id",
            "month",
            "threshold",
            name=op.f("uq_budget_alerts_workspace_id_month_threshold"),
        ),
    )
    op.create_index(op.f("ix_budget_alerts_workspace_id"), "budget_alerts", ["workspace_id"])


def downgrade() -> None:
    op.drop_table("budget_alerts")
    op.drop_table("budgets")
    op.drop_table("message_costs")
    op.drop_table("rate_card_rates")
    op.drop_table("rate_cards")
