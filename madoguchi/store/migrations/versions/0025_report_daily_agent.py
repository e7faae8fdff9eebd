"""reporting: the agents' counters per day, and a workspace's steps by time

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03 16:05:00

``report_daily_agent`` holds the counters that name an agent per workspace × local day ×
queue × agent × business hours (what the agents report sums per agent; a month of it is
a tenth of ``report_hourly``'s rows at 400 agents), filled from the existing
``report_hourly`` with each workspace's zone. Its counter columns are those of
``report_hourly`` as the database has them. ``ix_conversation_events_ws_at``: a
workspace's lifecycle steps of a time range (the occupancy of the hours in progress).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from alembic import op

import madoguchi.store.models.core

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = madoguchi.store.models.core.UTCDateTime(timezone=True)
KEY = ("workspace_id", "hour", "queue_id", "agent_id", "number_id", "in_hours")


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _table(name: str, when: str, counters: list[str]) -> sa.TableClause:
    return sa.table(
        name,
        sa.column("workspace_id"),
        sa.column(when, WHEN),
        sa.column("queue_id"),
        sa.column("agent_id"),
        sa.column("in_hours", sa.Boolean()),
        *[sa.column(counter) for counter in counters],
    )


def upgrade() -> None:
    bind = op.get_bind()
    hourly_columns = [
        c for c in sa.inspect(bind).get_columns("report_hourly") if c["name"] not in (*KEY, "id")
    ]
    counters = [c["name"] for c in hourly_columns]
    op.create_table(
        "report_daily_agent",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("day", WHEN, nullable=False),
        sa.Column("queue_id", ID, nullable=False),
        sa.Column("agent_id", ID, nullable=False),
        sa.Column("in_hours", sa.Boolean(), nullable=False),
        *[sa.Column(c["name"], c["type"], nullable=False) for c in hourly_columns],
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ux_report_daily_agent_key",
        "report_daily_agent",
        ["workspace_id", "day", "queue_id", "agent_id", "in_hours"],
        unique=True,
    )
    op.create_index("ix_conversation_events_ws_at", "conversation_events", ["workspace_id", "at"])
    zones = {
        workspace_id: _zone(name)
        for workspace_id, name in bind.execute(sa.text("SELECT id, timezone FROM workspaces"))
    }
    hourly = _table("report_hourly", "hour", counters)
    days: dict[tuple, list] = defaultdict(lambda: [0] * len(counters))
    starts: dict[tuple, datetime] = {}
    rows = bind.execute(
        sa.select(
            hourly.c.workspace_id,
            hourly.c.hour,
            hourly.c.queue_id,
            hourly.c.agent_id,
            hourly.c.in_hours,
            *[hourly.c[name] for name in counters],
        ).where(hourly.c.agent_id > 0)
    )
    for row in rows:
        workspace_id, hour = row[0], row[1]
        if hour.tzinfo is None:
            hour = hour.replace(tzinfo=UTC)
        zone = zones.get(workspace_id, ZoneInfo("UTC"))
        local = hour.astimezone(zone).date()
        day = starts.get((workspace_id, local))
        if day is None:
            day = starts[(workspace_id, local)] = datetime.combine(
                local, time(0), tzinfo=zone
            ).astimezone(UTC)
        sums = days[(workspace_id, day, row[2], row[3], bool(row[4]))]
        for i, value in enumerate(row[5:]):
            sums[i] += value or 0
    daily = _table("report_daily_agent", "day", counters)
    values = [
        {
            "workspace_id": key[0],
            "day": key[1],
            "queue_id": key[2],
            "agent_id": key[3],
            "in_hours": key[4],
            **dict(zip(counters, sums, strict=True)),
        }
        for key, sums in days.items()
    ]
    for start in range(0, len(values), 5_000):
        bind.execute(daily.insert(), values[start : start + 5_000])


def downgrade() -> None:
    op.drop_index("ix_conversation_events_ws_at", table_name="conversation_events")
    op.drop_index("ux_report_daily_agent_key", table_name="report_daily_agent")
    op.drop_table("report_daily_agent")
