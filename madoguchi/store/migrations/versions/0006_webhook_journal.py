"""webhook journal: a delivery is committed before the 200 and processed after it

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 14:30:00

Deliveries stored before this revision were processed in the commit that stored them,
so they start as ``done``; new rows start ``pending`` (the model's default).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import madoguchi.store.models.core

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("state", sa.String(length=16), nullable=False, server_default="done")
        )
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "next_attempt_at",
                madoguchi.store.models.core.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "processed_at",
                madoguchi.store.models.core.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("messages_stored", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("duplicates", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.create_index("ix_webhook_deliveries_pending", ["state", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_pending")
        for column in (
            "duplicates",
            "messages_stored",
            "processed_at",
            "next_attempt_at",
            "last_error",
            "attempts",
            "state",
        ):
            batch_op.drop_column(column)
