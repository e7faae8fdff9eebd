"""templates, marketing opt-out, outbound route-back and the window closed by Meta

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 11:56:16.040906

Adds ``message_templates`` and ``marketing_preferences``; on ``conversations`` the
columns of a business-initiated conversation (who started it, where a reply routes back
and until when) and ``window_closed_at`` (Meta answered 131047); on ``messages`` the
``template_category`` of a template send.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import madoguchi.store.models.core

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _refuse_sqlite_cascades() -> None:
    """SQLite adds a foreign key by copying the table; dropping the old copy with foreign
    keys enforced would cascade-delete every message. ``madoguchi migrate`` runs without
    them; refuse a connection that has them on rather than lose data."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("run this migration with PRAGMA foreign_keys=OFF (madoguchi migrate)")


def upgrade() -> None:
    _refuse_sqlite_cascades()
    op.create_table(
        "marketing_preferences",
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
            "contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column(
            "changed_at", madoguchi.store.models.core.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "opted_out_at", madoguchi.store.models.core.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "updated_at", madoguchi.store.models.core.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_marketing_preferences_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_marketing_preferences_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketing_preferences")),
        sa.UniqueConstraint("contact_id", name=op.f("uq_marketing_preferences_contact_id")),
    )
    with op.batch_alter_table("marketing_preferences", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_marketing_preferences_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "message_templates",
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
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("meta_template_id", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("quality_score", sa.String(length=16), nullable=True),
        sa.Column("rejected_reason", sa.Text(), nullable=True),
        sa.Column(
            "components",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("parameter_format", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "submitted_at", madoguchi.store.models.core.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "status_updated_at",
            madoguchi.store.models.core.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "synced_at", madoguchi.store.models.core.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "created_at", madoguchi.store.models.core.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", madoguchi.store.models.core.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["whatsapp_accounts.id"],
            name=op.f("fk_message_templates_account_id_whatsapp_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_message_templates_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_templates")),
        sa.UniqueConstraint(
            "account_id",
            "name",
            "language",
            name=op.f("uq_message_templates_account_id_name_language"),
        ),
    )
    with op.batch_alter_table("message_templates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_message_templates_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_message_templates_meta_template_id"), ["meta_template_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_message_templates_workspace_id"), ["workspace_id"], unique=False
        )

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "window_closed_at",
                madoguchi.store.models.core.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "started_by_user_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "outbound_started_at",
                madoguchi.store.models.core.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "route_back_agent_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "route_back_queue_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "route_back_until",
                madoguchi.store.models.core.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_conversations_route_back_agent_id_users"),
            "users",
            ["route_back_agent_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_conversations_route_back_queue_id_queues"),
            "queues",
            ["route_back_queue_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_conversations_started_by_user_id_users"),
            "users",
            ["started_by_user_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("template_category", sa.String(length=32), nullable=True))


def downgrade() -> None:
    _refuse_sqlite_cascades()
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("template_category")

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_conversations_started_by_user_id_users"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_conversations_route_back_queue_id_queues"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_conversations_route_back_agent_id_users"), type_="foreignkey"
        )
        batch_op.drop_column("route_back_until")
        batch_op.drop_column("route_back_queue_id")
        batch_op.drop_column("route_back_agent_id")
        batch_op.drop_column("outbound_started_at")
        batch_op.drop_column("started_by_user_id")
        batch_op.drop_column("window_closed_at")

    with op.batch_alter_table("message_templates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_templates_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_message_templates_meta_template_id"))
        batch_op.drop_index(batch_op.f("ix_message_templates_account_id"))

    op.drop_table("message_templates")
    with op.batch_alter_table("marketing_preferences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketing_preferences_workspace_id"))

    op.drop_table("marketing_preferences")
