"""journal customer key: whose delivery a webhook journal row is

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 09:20:00

``webhook_deliveries.customer_key`` names the customer a delivery is about (BSUID, else
phone), set when the delivery is appended. In the scaled mode several processes take
journal rows; they claim by this key so that one customer's rows are processed in order
and never by two processes at once (``services.channel.journal_claim``). The partial
index finds a customer's pending rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("customer_key", sa.String(length=160), nullable=True))
        batch_op.create_index(
            "ix_webhook_deliveries_customer_pending",
            ["customer_key", "id"],
            unique=False,
            postgresql_where=sa.text("state = 'pending'"),
            sqlite_where=sa.text("state = 'pending'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_customer_pending")
        batch_op.drop_column("customer_key")
