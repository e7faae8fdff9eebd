"""reporting: rollups per queue only, and the indexes the reports read by

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 10:25:00

``report_hourly_queue`` holds the counters per workspace × hour × queue × business
hours (what most reports sum), filled from the existing ``report_hourly``; an index to
read ``report_hourly`` by agent; the templates report's partial index on template
messages; the flow funnel's index on ``flow_steps`` by workspace and time.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import madoguchi.store.models.core

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = madoguchi.store.models.core.UTCDateTime(timezone=True)
COUNTERS = [
    "arrived",
    "answered",
    "answered_timed",
    "wait_sum",
    "answered_in_target",
    "abandoned",
    "short_abandoned",
    "transfers",
    "requeues",
    "handled",
    "handle_sum",
    "wrapped",
    "wrap_sum",
    "resolved",
    "resolution_sum",
    "closed_by_silence",
    "first_responses",
    "first_response_sum",
    "agent_responses",
    "agent_response_sum",
    "messages_in",
    "messages_out",
    "templates_marketing",
    "templates_utility",
    "templates_authentication",
    "flow_entered",
    "bot_resolved",
    "handoffs",
    "wait_b0",
    "wait_b1",
    "wait_b2",
    "wait_b3",
    "wait_b4",
    "wait_b5",
    "wait_b6",
    "wait_b7",
    "wait_b8",
    "frt_b0",
    "frt_b1",
    "frt_b2",
    "frt_b3",
    "frt_b4",
    "frt_b5",
    "frt_b6",
    "frt_b7",
    "frt_b8",
]


def upgrade() -> None:
    op.create_table(
        "report_hourly_queue",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("hour", WHEN, nullable=False),
        sa.Column("queue_id", ID, nullable=False),
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
        "ux_report_hourly_queue_key",
        "report_hourly_queue",
        ["workspace_id", "hour", "queue_id", "in_hours"],
        unique=True,
    )
    sums = ", ".join(f"SUM({c})" for c in COUNTERS)
    op.execute(
        f"INSERT INTO report_hourly_queue (workspace_id, hour, queue_id, in_hours, "
        f"{', '.join(COUNTERS)}) SELECT workspace_id, hour, queue_id, in_hours, {sums} "
        "FROM report_hourly GROUP BY workspace_id, hour, queue_id, in_hours"
    )
    op.create_index("ix_report_hourly_agent", "report_hourly", ["workspace_id", "agent_id", "hour"])
    op.create_index(
        "ix_messages_template_sends",
        "messages",
        ["workspace_id", "created_at"],
        sqlite_where=sa.text("type = 'template'"),
        postgresql_where=sa.text("type = 'template'"),
    )
    op.create_index("ix_flow_steps_workspace_at", "flow_steps", ["workspace_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_flow_steps_workspace_at", table_name="flow_steps")
    op.drop_index("ix_messages_template_sends", table_name="messages")
    op.drop_index("ix_report_hourly_agent", table_name="report_hourly")
    op.drop_index("ux_report_hourly_queue_key", table_name="report_hourly_queue")
    op.drop_table("report_hourly_queue")
