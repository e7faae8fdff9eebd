"""Reporting: hourly rollups of the lifecycle log and the messages, and how far the
rollups have read each source.

A rollup row holds the counters of one hour of the workspace's clock (the UTC hour for
zones a whole number of hours from UTC; starting at :30 or :15 UTC for India, Nepal…)
for one workspace × queue × agent × number × inside/outside business hours (0 stands
for "none" in the dimension columns, so the unique key works on both databases). The
counters are named in ``domain.report_metrics.COUNTERS``; reports sum them over any
period and grouping.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.domain.report_metrics import COUNTERS, FLOAT_COUNTERS, OCCUPANCY_COUNTERS
from madoguchi.store.models.core import Base, IdType, UTCDateTime

__all__ = [
    "ReportCursor",
    "ReportDailyAgent",
    "ReportHourly",
    "ReportHourlyQueue",
    "ReportOccupancy",
    "ReportOpenPart",
]


class ReportHourly(Base):
    __tablename__ = "report_hourly"
    __table_args__ = (
        Index(
            "ux_report_hourly_key",
            "workspace_id",
            "hour",
            "queue_id",
            "agent_id",
            "number_id",
            "in_hours",
            unique=True,
        ),
        # Per-agent reads go down the agents in order, not through a sort of every row.
        Index("ix_report_hourly_agent", "workspace_id", "agent_id", "hour"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    hour: Mapped[datetime] = mapped_column(UTCDateTime)
    queue_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    agent_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    number_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    in_hours: Mapped[bool] = mapped_column(Boolean)
    # One column per counter: integers, sums of seconds as floats.
    for _name in COUNTERS:
        locals()[_name] = mapped_column(
            Float if _name in FLOAT_COUNTERS else Integer, nullable=False, default=0
        )
    del _name


class ReportHourlyQueue(Base):
    """The same counters per workspace × hour × queue × business hours only (no agent,
    no number): what most reports read, a few hundred times smaller than
    ``report_hourly``."""

    __tablename__ = "report_hourly_queue"
    __table_args__ = (
        Index(
            "ux_report_hourly_queue_key",
            "workspace_id",
            "hour",
            "queue_id",
            "in_hours",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    hour: Mapped[datetime] = mapped_column(UTCDateTime)
    queue_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    in_hours: Mapped[bool] = mapped_column(Boolean)
    for _name in COUNTERS:
        locals()[_name] = mapped_column(
            Float if _name in FLOAT_COUNTERS else Integer, nullable=False, default=0
        )
    del _name


class ReportDailyAgent(Base):
    """The counters that name an agent per workspace × day × queue × agent × business
    hours (no number): what the agents report sums per agent. ``day`` is the UTC instant
    of the workspace's local midnight that starts the day (as a report's period starts),
    taken with the workspace's zone when a row is counted. A month of a large contact
    center is a tenth of ``report_hourly``'s rows here (an agent's day, not each hour)."""

    __tablename__ = "report_daily_agent"
    __table_args__ = (
        Index(
            "ux_report_daily_agent_key",
            "workspace_id",
            "day",
            "queue_id",
            "agent_id",
            "in_hours",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    day: Mapped[datetime] = mapped_column(UTCDateTime)
    queue_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    agent_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    in_hours: Mapped[bool] = mapped_column(Boolean)
    for _name in COUNTERS:
        locals()[_name] = mapped_column(
            Float if _name in FLOAT_COUNTERS else Integer, nullable=False, default=0
        )
    del _name


class ReportCursor(Base):
    """The last id of a source (``events``, ``messages``) already in the rollups."""

    __tablename__ = "report_cursors"

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    # PostgreSQL: every transaction below this id has ended and its rows are counted
    # (the rows of ``last_txid`` itself up to ``last_id``).
    last_txid: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class ReportOccupancy(Base):
    """Seconds an agent was available and busy in one hour of the workspace's clock
    (docs/metrics.md, occupancy). Written once per hour after it ended (the
    ``occupancy`` cursor holds the first hour not yet written, as epoch seconds),
    rebuilt from the presence log and the lifecycle log."""

    __tablename__ = "report_occupancy"
    __table_args__ = (
        Index("ux_report_occupancy_key", "workspace_id", "hour", "agent_id", unique=True),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    hour: Mapped[datetime] = mapped_column(UTCDateTime)
    agent_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    for _name in OCCUPANCY_COUNTERS:
        locals()[_name] = mapped_column(Float, nullable=False, default=0)
    del _name


class ReportOpenPart(Base):
    """Conversations an agent was handling when the occupancy rollups stopped (at the
    ``occupancy`` cursor): where the next hour starts from."""

    __tablename__ = "report_open_parts"

    conversation_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    agent_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
