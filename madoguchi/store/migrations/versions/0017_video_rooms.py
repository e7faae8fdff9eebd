"""video rooms: one-time video links sent to customers

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 07:15:00

``video_rooms`` holds each video link an agent sent (only its token's hash), its expiry
and when the session started and ended.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import madoguchi.store.models.core

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = madoguchi.store.models.core.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "video_rooms",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("agent_id", ID, nullable=False),
        sa.Column("message_id", ID, nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("started_at", WHEN, nullable=True),
        sa.Column("ended_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["users.id"],
            name=op.f("fk_video_rooms_agent_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_video_rooms_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_video_rooms_message_id_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_video_rooms_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_video_rooms")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_video_rooms_token_hash")),
    )
    with op.batch_alter_table("video_rooms", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_video_rooms_workspace_id"), ["workspace_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("video_rooms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_video_rooms_workspace_id"))
    op.drop_table("video_rooms")
