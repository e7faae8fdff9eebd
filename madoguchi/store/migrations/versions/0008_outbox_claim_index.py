"""outbox: claim one number's pending rows in id order from an index

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 19:50:00

The sender claims a number's oldest due rows a batch at a time. With the index on
(state, next_attempt_at) each claim read and sorted every pending row (milliseconds of
the event loop at a 10,000-row backlog), and SQLite's planner chose that index over any
better one, so it is replaced by (state, phone_number_id, id).
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.create_index(
        "ix_outbox_state_number", "outbox", ["state", "phone_number_id", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_state_number", table_name="outbox")
    op.create_index("ix_outbox_due", "outbox", ["state", "next_attempt_at"], unique=False)
