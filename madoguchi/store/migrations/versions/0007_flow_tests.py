"""flow tests: test a draft from the editor without publishing it

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 19:27:57.630348

Adds ``flow_versions.test`` (a snapshot of a draft taken for a test: numbered -1, -2…,
never listed as a version, never live) and ``flow_tests`` (a short-lived binding: that
customer's next new conversation on that number starts the snapshot).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import madoguchi.store.models.core

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flow_tests",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("flow_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "version_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "phone_number_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("customer_wa_id", sa.String(length=32), nullable=True),
        sa.Column("customer_user_id", sa.String(length=160), nullable=True),
        sa.Column(
            "created_by_user_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column(
            "created_at", madoguchi.store.models.core.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "expires_at", madoguchi.store.models.core.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "conversation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "started_at", madoguchi.store.models.core.UTCDateTime(timezone=True), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_flow_tests_conversation_id_conversations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_flow_tests_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["flow_id"], ["flows.id"], name=op.f("fk_flow_tests_flow_id_flows"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["phone_number_id"],
            ["phone_numbers.id"],
            name=op.f("fk_flow_tests_phone_number_id_phone_numbers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["flow_versions.id"],
            name=op.f("fk_flow_tests_version_id_flow_versions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_flow_tests_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_tests")),
    )
    with op.batch_alter_table("flow_tests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flow_tests_flow_id"), ["flow_id"], unique=False)
        batch_op.create_index(
            "ix_flow_tests_pending", ["phone_number_id", "expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_flow_tests_workspace_id"), ["workspace_id"], unique=False
        )

    with op.batch_alter_table("flow_versions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("test", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("flow_versions", schema=None) as batch_op:
        batch_op.drop_column("test")

    with op.batch_alter_table("flow_tests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flow_tests_workspace_id"))
        batch_op.drop_index("ix_flow_tests_pending")
        batch_op.drop_index(batch_op.f("ix_flow_tests_flow_id"))

    op.drop_table("flow_tests")
