"""onboarding: Embedded Signup runs and the numbers' last health check

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 06:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import madoguchi.store.models.core

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _when(name: str) -> sa.Column:
    return sa.Column(name, madoguchi.store.models.core.UTCDateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "onboarding_signups",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("waba_id", sa.String(length=64), nullable=False),
        sa.Column("phone_number_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("steps", JSON, nullable=False),
        sa.Column("options", JSON, nullable=False),
        sa.Column("access_token_encrypted", sa.Text(), nullable=True),
        sa.Column("number_id", ID, nullable=True),
        _when("created_at"),
        _when("updated_at"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["number_id"], ["phone_numbers.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_onboarding_signups_workspace_id", "onboarding_signups", ["workspace_id"], unique=False
    )
    op.create_table(
        "number_health",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("number_id", ID, nullable=False),
        _when("checked_at"),
        sa.Column("reached", sa.Boolean(), nullable=False),
        sa.Column("report", JSON, nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["number_id"], ["phone_numbers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number_id"),
    )
    op.create_index(
        "ix_number_health_workspace_id", "number_health", ["workspace_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_number_health_workspace_id", table_name="number_health")
    op.drop_table("number_health")
    op.drop_index("ix_onboarding_signups_workspace_id", table_name="onboarding_signups")
    op.drop_table("onboarding_signups")
