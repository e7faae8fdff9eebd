"""campaigns: template broadcasts, their recipients, numbers' messaging limits

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 06:12:45.928756

Adds ``campaigns``, ``campaign_recipients`` and ``messaging_limits``; names the campaign
on a conversation it started (``conversations.campaign_id``); and gives outbox rows a
``priority`` (agents' sends 0, campaigns' more) that the sender claims by, so the claim
index becomes (state, phone_number_id, priority, id).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text  # noqa: F401  (autogenerate renders JSONB as JSONB(astext_type=Text()))
from sqlalchemy.dialects import postgresql

import madoguchi.store.models.core

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _refuse_sqlite_cascades() -> None:
    """SQLite adds a foreign key by copying the table; dropping the old copy with foreign
    keys enforced would cascade-delete rows that point at it. ``madoguchi migrate`` runs
    without them; refuse a connection that has them on rather than lose data."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("run this migration with PRAGMA foreign_keys=OFF (madoguchi migrate)")


def upgrade() -> None:
    _refuse_sqlite_cascades()
    op.create_table(
        "campaigns",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "phone_number_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "template_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "values",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("queue_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("agent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("route_back_hours", sa.Double(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "scheduled_at", madoguchi.store.models.core.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "started_at", madoguchi.store.models.core.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "finished_at", madoguchi.store.models.core.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column(
            "columns",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "audience_report",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "cost_estimate",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "created_by_user_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column(
            "created_at", madoguchi.store.models.core.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", madoguchi.store.models.core.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["users.id"],
            name=op.f("fk_campaigns_agent_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_campaigns_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["phone_number_id"],
            ["phone_numbers.id"],
            name=op.f("fk_campaigns_phone_number_id_phone_numbers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_campaigns_queue_id_queues"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["message_templates.id"],
            name=op.f("fk_campaigns_template_id_message_templates"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_campaigns_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campaigns_phone_number_id"), ["phone_number_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_campaigns_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_campaigns_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "messaging_limits",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "phone_number_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("tier", sa.String(length=32), nullable=False),
        sa.Column("per_day", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column(
            "updated_at", madoguchi.store.models.core.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["phone_number_id"],
            ["phone_numbers.id"],
            name=op.f("fk_messaging_limits_phone_number_id_phone_numbers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_messaging_limits_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messaging_limits")),
        sa.UniqueConstraint("phone_number_id", name=op.f("uq_messaging_limits_phone_number_id")),
    )
    with op.batch_alter_table("messaging_limits", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_messaging_limits_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "campaign_recipients",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "phone_number_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("wa_id", sa.String(length=32), nullable=True),
        sa.Column("user_id", sa.String(length=160), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column(
            "variables",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=80), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column(
            "conversation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "queued_at", madoguchi.store.models.core.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "replied_at", madoguchi.store.models.core.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "created_at", madoguchi.store.models.core.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_recipients_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_campaign_recipients_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_campaign_recipients_conversation_id_conversations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_campaign_recipients_message_id_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["phone_number_id"],
            ["phone_numbers.id"],
            name=op.f("fk_campaign_recipients_phone_number_id_phone_numbers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_campaign_recipients_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_recipients")),
        sa.UniqueConstraint(
            "campaign_id", "contact_id", name=op.f("uq_campaign_recipients_campaign_id_contact_id")
        ),
    )
    with op.batch_alter_table("campaign_recipients", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campaign_recipients_message_id"), ["message_id"], unique=False
        )
        batch_op.create_index(
            "ix_campaign_recipients_queued", ["phone_number_id", "queued_at"], unique=False
        )
        batch_op.create_index(
            "ix_campaign_recipients_state", ["campaign_id", "state", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_campaign_recipients_workspace_id"), ["workspace_id"], unique=False
        )

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_conversations_campaign_id_campaigns"),
            "campaigns",
            ["campaign_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.Integer(), server_default="0", nullable=False))
        batch_op.drop_index(batch_op.f("ix_outbox_state_number"))
        batch_op.create_index(
            "ix_outbox_state_number", ["state", "phone_number_id", "priority", "id"], unique=False
        )


def downgrade() -> None:
    _refuse_sqlite_cascades()
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_state_number")
        batch_op.create_index(
            batch_op.f("ix_outbox_state_number"), ["state", "phone_number_id", "id"], unique=False
        )
        batch_op.drop_column("priority")

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_conversations_campaign_id_campaigns"), type_="foreignkey"
        )
        batch_op.drop_column("campaign_id")

    with op.batch_alter_table("campaign_recipients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_recipients_workspace_id"))
        batch_op.drop_index("ix_campaign_recipients_state")
        batch_op.drop_index("ix_campaign_recipients_queued")
        batch_op.drop_index(batch_op.f("ix_campaign_recipients_message_id"))

    op.drop_table("campaign_recipients")
    with op.batch_alter_table("messaging_limits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messaging_limits_workspace_id"))

    op.drop_table("messaging_limits")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaigns_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_campaigns_status"))
        batch_op.drop_index(batch_op.f("ix_campaigns_phone_number_id"))

    op.drop_table("campaigns")
