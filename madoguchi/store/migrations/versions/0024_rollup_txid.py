"""reporting: rows carry their transaction id on PostgreSQL, for a rollup cursor that
misses no late commit

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03 13:10:00

``conversation_events.txid`` and ``messages.txid``: on PostgreSQL the inserting
transaction's id (``pg_current_xact_id()``, a column default); rows already there read
0 (a constant default: no table rewrite), those before the cursor's ``last_id`` are
counted already. Indexed on (txid, id) where not null (SQLite leaves it null: the
partial index stays empty). ``report_cursors.last_txid``: where the cursor stands.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

TABLES = ("conversation_events", "messages")


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in TABLES:
        if postgresql:
            # Existing rows take the constant 0 without a rewrite; new rows their
            # transaction's id.
            op.add_column(
                table, sa.Column("txid", sa.BigInteger(), nullable=True, server_default="0")
            )
            op.execute(
                f"ALTER TABLE {table} ALTER COLUMN txid "
                "SET DEFAULT (pg_current_xact_id()::text::bigint)"
            )
        else:
            op.add_column(table, sa.Column("txid", sa.BigInteger(), nullable=True))
        op.create_index(
            f"ix_{table}_txid",
            table,
            ["txid", "id"],
            sqlite_where=sa.text("txid IS NOT NULL"),
            postgresql_where=sa.text("txid IS NOT NULL"),
        )
    op.add_column(
        "report_cursors",
        sa.Column("last_txid", sa.BigInteger(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_column("report_cursors", "last_txid")
    for table in TABLES:
        op.drop_index(f"ix_{table}_txid", table_name=table)
        op.drop_column(table, "txid")
