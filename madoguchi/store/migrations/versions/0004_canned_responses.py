"""canned responses: quick replies an agent inserts in the composer by ``/shortcut``

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 13:15:13.018819
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import madoguchi.store.models.core

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "canned_responses",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("shortcut", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "created_at", madoguchi.store.models.core.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", madoguchi.store.models.core.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_canned_responses_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_responses")),
        sa.UniqueConstraint(
            "workspace_id", "shortcut", name=op.f("uq_canned_responses_workspace_id_shortcut")
        ),
    )
    with op.batch_alter_table("canned_responses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_canned_responses_workspace_id"), ["workspace_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("canned_responses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_canned_responses_workspace_id"))

    op.drop_table("canned_responses")
