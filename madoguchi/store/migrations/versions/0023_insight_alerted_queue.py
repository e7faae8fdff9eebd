"""insight alerted queue: the queue a negative conversation's alert was raised for

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03 12:40:00

``conversation_insights.alerted_queue_id`` is the watched queue that supervisors were
alerted for in the conversation's current negative spell (cleared when its trend leaves
negative). Two moments can raise the alert — the conversation turns negative while in a
watched queue, or a negative conversation is queued or moved into one — and each claims it
with a conditional update of this column, so the same queue is never alerted twice for one
spell. A plain id (no foreign key): SQLite adds it without rebuilding the table, and a
deleted queue's id only means no conversation is in it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversation_insights", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "alerted_queue_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("conversation_insights", schema=None) as batch_op:
        batch_op.drop_column("alerted_queue_id")
