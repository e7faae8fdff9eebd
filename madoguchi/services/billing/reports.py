"""Cost reports: what messages cost over a period, over time and by queue, agent,
template, category, market or number, estimated beside actual.

A message counts in the period it was sent (``priced_at``). Its cost is the settled
amount when Meta has reported it, else the estimate; ``difference`` compares the two on
settled messages only. Amounts are in one currency (the card's): messages priced in
another are left out and named in ``other_currencies``. The database sums by hour (or by
dimension); the hours are folded into days, weeks (from Monday) or months in the
workspace's time zone here, so the SQL stays the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.pricing import from_micros
from madoguchi.services.billing.budgets import cost_expression
from madoguchi.store.models import MessageCost, PhoneNumber, Queue, User
from madoguchi.store.models.core import as_utc

DIMENSIONS = ("queue", "agent", "template", "category", "market", "number")
GROUPINGS = ("day", "week", "month")


@dataclass(frozen=True, slots=True)
class ReportQuery:
    start: date  # first day, in the workspace's time zone
    end: date  # last day (inclusive)
    timezone: str = "UTC"
    group: str = "day"
    by: str = "category"
    currency: str | None = None  # default: the currency most messages were priced in
    queue_id: int | None = None
    agent_id: int | None = None
    phone_number_id: int | None = None
    category: str | None = None
    market: str | None = None
    template: str | None = None

    def bounds(self) -> tuple[datetime, datetime]:
        zone = ZoneInfo(self.timezone)
        start = datetime.combine(self.start, datetime.min.time(), zone).astimezone(UTC)
        end = datetime.combine(self.end + timedelta(days=1), datetime.min.time(), zone)
        return start, end.astimezone(UTC)


@dataclass(slots=True)
class Line:
    """Sums over a set of messages (micro-units)."""

    key: str | None
    label: str | None = None
    messages: int = 0
    billable: int = 0
    unsettled: int = 0
    unpriced: int = 0
    estimated: int = 0
    actual: int = 0
    settled_estimate: int = 0  # the estimates of the settled messages
    cost: int = 0

    def add(self, other: Line) -> None:
        for name in (
            "messages",
            "billable",
            "unsettled",
            "unpriced",
            "estimated",
            "actual",
            "settled_estimate",
            "cost",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_dict(self) -> dict:
        return {
            "key": self.key,
            "label": self.label,
            "messages": self.messages,
            "billable": self.billable,
            "free": self.messages - self.billable,
            "unsettled": self.unsettled,
            "unpriced": self.unpriced,
            "estimated": str(from_micros(self.estimated)),
            "actual": str(from_micros(self.actual)),
            "difference": str(from_micros(self.actual - self.settled_estimate)),
            "cost": str(from_micros(self.cost)),
        }


@dataclass(slots=True)
class CostReport:
    query: ReportQuery
    currency: str | None
    other_currencies: list[str]
    total: Line
    series: list[Line] = field(default_factory=list)
    breakdown: list[Line] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "from": self.query.start.isoformat(),
            "to": self.query.end.isoformat(),
            "timezone": self.query.timezone,
            "group": self.query.group,
            "by": self.query.by,
            "currency": self.currency,
            "other_currencies": self.other_currencies,
            "total": self.total.to_dict(),
            "series": [line.to_dict() for line in self.series],
            "breakdown": [line.to_dict() for line in self.breakdown],
        }


def _sums():
    category = func.coalesce(MessageCost.actual_category, MessageCost.estimated_category)
    billable = func.coalesce(MessageCost.actual_billable, MessageCost.estimated_billable)
    settled = MessageCost.settled_at.is_not(None)
    return (
        category,
        billable,
        [
            func.count(),
            func.sum(case((billable, 1), else_=0)),
            func.sum(case((settled, 0), else_=1)),
            func.sum(case((billable & cost_unknown(), 1), else_=0)),
            func.coalesce(func.sum(MessageCost.estimated_micros), 0),
            func.coalesce(func.sum(MessageCost.actual_micros), 0),
            func.coalesce(func.sum(case((settled, MessageCost.estimated_micros), else_=0)), 0),
            func.coalesce(func.sum(cost_expression()), 0),
        ],
    )


def cost_unknown():
    return func.coalesce(MessageCost.actual_micros, MessageCost.estimated_micros).is_(None)


def _line(key, label, values: Sequence) -> Line:
    ints = [int(v or 0) for v in values]
    return Line(key, label, *ints)


def _filters(workspace_id: int, q: ReportQuery, currency: str | None, category_col) -> list:
    start, end = q.bounds()
    where = [
        MessageCost.workspace_id == workspace_id,
        MessageCost.priced_at >= start,
        MessageCost.priced_at < end,
    ]
    if currency is not None:
        where.append(or_(MessageCost.currency == currency, MessageCost.currency.is_(None)))
    for column, value in (
        (MessageCost.queue_id, q.queue_id),
        (MessageCost.agent_id, q.agent_id),
        (MessageCost.phone_number_id, q.phone_number_id),
        (MessageCost.market, q.market),
        (MessageCost.template_name, q.template),
        (category_col, q.category),
    ):
        if value is not None:
            where.append(column == value)
    return where


def _hour_bucket(session: AsyncSession):
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H:00:00", MessageCost.priced_at)
    return func.date_trunc("hour", MessageCost.priced_at)


def period_start(moment: datetime, group: str, zone: ZoneInfo) -> date:
    day = moment.astimezone(zone).date()
    if group == "week":
        return day - timedelta(days=day.weekday())
    if group == "month":
        return day.replace(day=1)
    return day


def _periods(q: ReportQuery) -> list[date]:
    zone = ZoneInfo(q.timezone)
    first = period_start(datetime.combine(q.start, datetime.min.time(), zone), q.group, zone)
    periods, day = [], first
    while day <= q.end:
        periods.append(day)
        if q.group == "month":
            day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
        else:
            day += timedelta(days=7 if q.group == "week" else 1)
    return periods


async def _currency(session: AsyncSession, workspace_id: int, q: ReportQuery):
    start, end = q.bounds()
    rows = (
        await session.execute(
            select(MessageCost.currency, func.count())
            .where(
                MessageCost.workspace_id == workspace_id,
                MessageCost.priced_at >= start,
                MessageCost.priced_at < end,
                MessageCost.currency.is_not(None),
            )
            .group_by(MessageCost.currency)
            .order_by(func.count().desc())
        )
    ).all()
    found = [currency for currency, _ in rows]
    chosen = q.currency or (found[0] if found else None)
    return chosen, [c for c in found if c != chosen]


async def _labels(session: AsyncSession, by: str, keys: list) -> dict:
    ids = [k for k in keys if k is not None]
    if not ids:
        return {}
    if by == "queue":
        rows = await session.execute(select(Queue.id, Queue.name).where(Queue.id.in_(ids)))
    elif by == "agent":
        rows = await session.execute(select(User.id, User.name).where(User.id.in_(ids)))
    elif by == "number":
        rows = await session.execute(
            select(PhoneNumber.id, PhoneNumber.display_phone_number).where(PhoneNumber.id.in_(ids))
        )
    else:
        return {}
    return dict(rows.all())


def _dimension(by: str, category_col):
    return {
        "queue": MessageCost.queue_id,
        "agent": MessageCost.agent_id,
        "template": MessageCost.template_name,
        "category": category_col,
        "market": MessageCost.market,
        "number": MessageCost.phone_number_id,
    }[by]


async def cost_report(session: AsyncSession, workspace_id: int, q: ReportQuery) -> CostReport:
    if q.group not in GROUPINGS:
        raise ValueError(f"group must be one of {', '.join(GROUPINGS)}")
    if q.by not in DIMENSIONS:
        raise ValueError(f"by must be one of {', '.join(DIMENSIONS)}")
    currency, others = await _currency(session, workspace_id, q)
    category, _, sums = _sums()
    where = _filters(workspace_id, q, currency, category)
    zone = ZoneInfo(q.timezone)

    hour = _hour_bucket(session).label("hour")
    series = {day: Line(day.isoformat()) for day in _periods(q)}
    for bucket, *values in (
        await session.execute(select(hour, *sums).where(*where).group_by(hour))
    ).all():
        moment = as_utc(bucket)
        key = period_start(moment, q.group, zone)
        series.setdefault(key, Line(key.isoformat())).add(_line(None, None, values))

    dimension = _dimension(q.by, category).label("dimension")
    rows = (await session.execute(select(dimension, *sums).where(*where).group_by(dimension))).all()
    labels = await _labels(session, q.by, [row[0] for row in rows])
    breakdown = [
        _line(None if key is None else str(key), labels.get(key, key), values)
        for key, *values in rows
    ]
    breakdown.sort(key=lambda line: (-line.cost, -line.messages, line.key or ""))
    total = Line("total")
    for line in breakdown:
        total.add(line)
    return CostReport(q, currency, others, total, [series[k] for k in sorted(series)], breakdown)


CSV_COLUMNS = (
    "messages",
    "billable",
    "free",
    "unsettled",
    "unpriced",
    "estimated",
    "actual",
    "difference",
    "cost",
)


def report_csv(report: CostReport, rows: str = "breakdown") -> str:
    """The report as CSV (the caller adds the BOM): one line per group (``rows`` =
    breakdown) or per period (``series``), then the total."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    first = report.query.by if rows == "breakdown" else "period"
    writer.writerow([first, "label", *CSV_COLUMNS, "currency"])
    lines = report.breakdown if rows == "breakdown" else report.series
    for line in [*lines, report.total]:
        data = line.to_dict()
        writer.writerow(
            [
                data["key"] if data["key"] is not None else "",
                data["label"] if data["label"] is not None else "",
                *(data[c] for c in CSV_COLUMNS),
                report.currency or "",
            ]
        )
    return out.getvalue()
