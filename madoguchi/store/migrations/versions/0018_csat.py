"""customer satisfaction: a queue's CSAT setting and the questions asked

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 09:30:00

``queues.csat`` holds a queue's CSAT question settings (null = off); ``csat_responses``
one question per conversation (unique), with its answer when it comes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import madoguchi.store.models.core

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = madoguchi.store.models.core.UTCDateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.add_column(sa.Column("csat", JSON, nullable=True))
    op.create_table(
        "csat_responses",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("queue_id", ID, nullable=True),
        sa.Column("agent_id", ID, nullable=True),
        sa.Column("message_id", ID, nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("asked_at", WHEN, nullable=False),
        sa.Column("answered_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["users.id"],
            name=op.f("fk_csat_responses_agent_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_csat_responses_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_csat_responses_message_id_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_csat_responses_queue_id_queues"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_csat_responses_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_csat_responses")),
        sa.UniqueConstraint("conversation_id", name=op.f("uq_csat_responses_conversation_id")),
    )
    with op.batch_alter_table("csat_responses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_csat_responses_workspace_id"), ["workspace_id"], unique=False
        )
        batch_op.create_index(
            "ix_csat_responses_workspace_asked", ["workspace_id", "asked_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("csat_responses", schema=None) as batch_op:
        batch_op.drop_index("ix_csat_responses_workspace_asked")
        batch_op.drop_index(batch_op.f("ix_csat_responses_workspace_id"))
    op.drop_table("csat_responses")
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.drop_column("csat")
