"""reporting: hourly rollups and their cursors

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 09:30:00

``report_hourly`` holds the counters of one hour per workspace × queue × agent × number ×
business hours (docs/metrics.md); ``report_cursors`` how far they have read the
lifecycle log and the messages. ``madoguchi reports rebuild`` fills them from the raw log.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import madoguchi.store.models.core

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = madoguchi.store.models.core.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "report_hourly",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("hour", WHEN, nullable=False),
        sa.Column("queue_id", ID, nullable=False),
        sa.Column("agent_id", ID, nullable=False),
        sa.Column("number_id", ID, nullable=False),
        sa.Column("in_hours", sa.Boolean(), nullable=False),
        sa.Column("arrived", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("answered_timed", sa.Integer(), nullable=False),
        sa.Column("wait_sum", sa.Float(), nullable=False),
        sa.Column("answered_in_target", sa.Integer(), nullable=False),
        sa.Column("abandoned", sa.Integer(), nullable=False),
        sa.Column("short_abandoned", sa.Integer(), nullable=False),
        sa.Column("transfers", sa.Integer(), nullable=False),
        sa.Column("requeues", sa.Integer(), nullable=False),
        sa.Column("handled", sa.Integer(), nullable=False),
        sa.Column("handle_sum", sa.Float(), nullable=False),
        sa.Column("wrapped", sa.Integer(), nullable=False),
        sa.Column("wrap_sum", sa.Float(), nullable=False),
        sa.Column("resolved", sa.Integer(), nullable=False),
        sa.Column("resolution_sum", sa.Float(), nullable=False),
        sa.Column("closed_by_silence", sa.Integer(), nullable=False),
        sa.Column("first_responses", sa.Integer(), nullable=False),
        sa.Column("first_response_sum", sa.Float(), nullable=False),
        sa.Column("agent_responses", sa.Integer(), nullable=False),
        sa.Column("agent_response_sum", sa.Float(), nullable=False),
        sa.Column("messages_in", sa.Integer(), nullable=False),
        sa.Column("messages_out", sa.Integer(), nullable=False),
        sa.Column("templates_marketing", sa.Integer(), nullable=False),
        sa.Column("templates_utility", sa.Integer(), nullable=False),
        sa.Column("templates_authentication", sa.Integer(), nullable=False),
        sa.Column("flow_entered", sa.Integer(), nullable=False),
        sa.Column("bot_resolved", sa.Integer(), nullable=False),
        sa.Column("handoffs", sa.Integer(), nullable=False),
        sa.Column("wait_b0", sa.Integer(), nullable=False),
        sa.Column("wait_b1", sa.Integer(), nullable=False),
        sa.Column("wait_b2", sa.Integer(), nullable=False),
        sa.Column("wait_b3", sa.Integer(), nullable=False),
        sa.Column("wait_b4", sa.Integer(), nullable=False),
        sa.Column("wait_b5", sa.Integer(), nullable=False),
        sa.Column("wait_b6", sa.Integer(), nullable=False),
        sa.Column("wait_b7", sa.Integer(), nullable=False),
        sa.Column("wait_b8", sa.Integer(), nullable=False),
        sa.Column("frt_b0", sa.Integer(), nullable=False),
        sa.Column("frt_b1", sa.Integer(), nullable=False),
        sa.Column("frt_b2", sa.Integer(), nullable=False),
        sa.Column("frt_b3", sa.Integer(), nullable=False),
        sa.Column("frt_b4", sa.Integer(), nullable=False),
        sa.Column("frt_b5", sa.Integer(), nullable=False),
        sa.Column("frt_b6", sa.Integer(), nullable=False),
        sa.Column("frt_b7", sa.Integer(), nullable=False),
        sa.Column("frt_b8", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ux_report_hourly_key",
        "report_hourly",
        ["workspace_id", "hour", "queue_id", "agent_id", "number_id", "in_hours"],
        unique=True,
    )
    op.create_table(
        "report_cursors",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("last_id", ID, nullable=False),
        sa.PrimaryKeyConstraint("source"),
    )


def downgrade() -> None:
    op.drop_table("report_cursors")
    op.drop_index("ux_report_hourly_key", table_name="report_hourly")
    op.drop_table("report_hourly")
