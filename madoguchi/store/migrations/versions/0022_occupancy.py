"""reporting: occupancy — the presence log, hourly occupancy rollups, open parts

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 12:40:00

``agent_presence_log`` records every presence change (and signing out) from now on;
``report_occupancy`` holds per workspace × hour × agent the seconds available, busy and
busy while away (docs/metrics.md, occupancy); ``report_open_parts`` the conversations
agents were handling where those rollups stopped. Occupancy before this migration is
unknown (presence had no history): ``madoguchi reports rebuild`` starts it at the first
logged change.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import madoguchi.store.models.core

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = madoguchi.store.models.core.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agent_presence_log",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("away_reason", sa.String(length=100), nullable=True),
        sa.Column("reason", sa.String(length=100), nullable=True),
        sa.Column("at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_agent_presence_log_ws_at", "agent_presence_log", ["workspace_id", "at"])
    op.create_table(
        "report_occupancy",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("hour", WHEN, nullable=False),
        sa.Column("agent_id", ID, nullable=False),
        sa.Column("available_seconds", sa.Float(), nullable=False),
        sa.Column("busy_seconds", sa.Float(), nullable=False),
        sa.Column("away_busy_seconds", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ux_report_occupancy_key",
        "report_occupancy",
        ["workspace_id", "hour", "agent_id"],
        unique=True,
    )
    op.create_table(
        "report_open_parts",
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("agent_id", ID, nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("conversation_id"),
    )


def downgrade() -> None:
    op.drop_table("report_open_parts")
    op.drop_index("ux_report_occupancy_key", table_name="report_occupancy")
    op.drop_table("report_occupancy")
    op.drop_index("ix_agent_presence_log_ws_at", table_name="agent_presence_log")
    op.drop_table("agent_presence_log")
