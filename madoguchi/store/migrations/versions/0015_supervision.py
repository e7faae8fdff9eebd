"""supervision: queue service level settings and supervisors, monitor sessions, whispers,
the author of an outbound message

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 06:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import madoguchi.store.models.core

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
AT = madoguchi.store.models.core.UTCDateTime(timezone=True)


def _workspace_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["workspace_id"],
        ["workspaces.id"],
        name=op.f(f"fk_{table}_workspace_id_workspaces"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("service_level_seconds", sa.Integer(), server_default="60", nullable=False)
        )
        batch_op.add_column(
            sa.Column("short_abandon_seconds", sa.Integer(), server_default="10", nullable=False)
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("author_user_id", ID, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_messages_author_user_id_users"),
            "users",
            ["author_user_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(
            "ix_messages_author_at", ["author_user_id", "created_at"], unique=False
        )

    op.create_table(
        "queue_supervisors",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("queue_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_queue_supervisors_queue_id_queues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_queue_supervisors_user_id_users"),
            ondelete="CASCADE",
        ),
        _workspace_fk("queue_supervisors"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_supervisors")),
        sa.UniqueConstraint(
            "queue_id", "user_id", name=op.f("uq_queue_supervisors_queue_id_user_id")
        ),
    )
    op.create_index(
        op.f("ix_queue_supervisors_user_id"), "queue_supervisors", ["user_id"], unique=False
    )
    op.create_index(
        op.f("ix_queue_supervisors_workspace_id"),
        "queue_supervisors",
        ["workspace_id"],
        unique=False,
    )

    op.create_table(
        "monitor_sessions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("supervisor_id", ID, nullable=False),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("started_at", AT, nullable=False),
        sa.Column("ended_at", AT, nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_monitor_sessions_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["supervisor_id"],
            ["users.id"],
            name=op.f("fk_monitor_sessions_supervisor_id_users"),
            ondelete="CASCADE",
        ),
        _workspace_fk("monitor_sessions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_sessions")),
    )
    op.create_index(
        "ix_monitor_sessions_one_open",
        "monitor_sessions",
        ["supervisor_id"],
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.create_index(
        "ix_monitor_sessions_conversation",
        "monitor_sessions",
        ["conversation_id", "ended_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_monitor_sessions_workspace_id"), "monitor_sessions", ["workspace_id"], unique=False
    )

    op.create_table(
        "whispers",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("author_id", ID, nullable=True),
        sa.Column("agent_id", ID, nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["users.id"], name=op.f("fk_whispers_agent_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_whispers_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_whispers_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        _workspace_fk("whispers"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whispers")),
    )
    op.create_index(
        op.f("ix_whispers_conversation_id"), "whispers", ["conversation_id"], unique=False
    )
    op.create_index(op.f("ix_whispers_workspace_id"), "whispers", ["workspace_id"], unique=False)


def downgrade() -> None:
    op.drop_table("whispers")
    op.drop_table("monitor_sessions")
    op.drop_table("queue_supervisors")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_author_at")
        batch_op.drop_constraint(batch_op.f("fk_messages_author_user_id_users"), type_="foreignkey")
        batch_op.drop_column("author_user_id")
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.drop_column("short_abandon_seconds")
        batch_op.drop_column("service_level_seconds")
