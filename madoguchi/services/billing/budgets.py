"""A workspace's monthly budget for WhatsApp charges: alerts at 80 % and 100 %, and, only
when the admin chooses a hard limit, templates refused once it is spent.

The month is the calendar month in UTC. Spending is what each message of the month cost
as far as we know: its settled amount, else its estimate. Alerts are rows (one per month
and threshold), so each is sent once however many processes check.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.events import BudgetAlert
from madoguchi.domain.pricing import from_micros
from madoguchi.services.billing.errors import BillingError
from madoguchi.services.billing.rate_cards import normal_currency
from madoguchi.store.db import Database
from madoguchi.store.models import Budget, BudgetAlertRecord, MessageCost

THRESHOLDS = (80, 100)


def month_bounds(at: datetime) -> tuple[datetime, datetime, str]:
    start = at.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end, start.strftime("%Y-%m")


def cost_expression():
    """What a message cost as far as we know: settled amount, else the estimate."""
    return func.coalesce(MessageCost.actual_micros, MessageCost.estimated_micros, 0)


async def month_spent(session: AsyncSession, workspace_id: int, currency: str, at: datetime) -> int:
    start, end, _ = month_bounds(at)
    return int(
        await session.scalar(
            select(func.coalesce(func.sum(cost_expression()), 0)).where(
                MessageCost.workspace_id == workspace_id,
                MessageCost.currency == currency,
                MessageCost.priced_at >= start,
                MessageCost.priced_at < end,
            )
        )
        or 0
    )


@dataclass(frozen=True, slots=True)
class BudgetState:
    monthly_micros: int
    currency: str
    hard_limit: bool
    month: str
    spent_micros: int
    alerts: list[int]

    @property
    def percent(self) -> float:
        return round(100 * self.spent_micros / self.monthly_micros, 1) if self.monthly_micros else 0

    def to_dict(self) -> dict:
        return {
            "monthly": str(from_micros(self.monthly_micros)),
            "currency": self.currency,
            "hard_limit": self.hard_limit,
            "month": self.month,
            "spent": str(from_micros(self.spent_micros)),
            "percent": self.percent,
            "alerts_sent": self.alerts,
        }


async def get_budget(session: AsyncSession, workspace_id: int) -> Budget | None:
    return await session.scalar(select(Budget).where(Budget.workspace_id == workspace_id))


async def budget_state(
    session: AsyncSession, workspace_id: int, at: datetime | None = None
) -> BudgetState | None:
    budget = await get_budget(session, workspace_id)
    if budget is None:
        return None
    at = at or datetime.now(UTC)
    _, _, month = month_bounds(at)
    alerts = list(
        await session.scalars(
            select(BudgetAlertRecord.threshold)
            .where(BudgetAlertRecord.workspace_id == workspace_id, BudgetAlertRecord.month == month)
            .order_by(BudgetAlertRecord.threshold)
        )
    )
    spent = await month_spent(session, workspace_id, budget.currency, at)
    return BudgetState(
        budget.monthly_micros, budget.currency, budget.hard_limit, month, spent, alerts
    )


async def set_budget(
    session: AsyncSession,
    workspace_id: int,
    *,
    monthly_micros: int,
    currency: str,
    hard_limit: bool,
) -> Budget:
    if monthly_micros <= 0:
        raise BillingError("invalid_budget", "a monthly budget must be more than zero")
    currency = normal_currency(currency)
    budget = await get_budget(session, workspace_id)
    if budget is None:
        budget = Budget(
            workspace_id=workspace_id,
            monthly_micros=monthly_micros,
            currency=currency,
            hard_limit=hard_limit,
        )
        session.add(budget)
    else:
        budget.monthly_micros, budget.currency, budget.hard_limit = (
            monthly_micros,
            currency,
            hard_limit,
        )
    await session.flush()
    return budget


async def delete_budget(session: AsyncSession, workspace_id: int) -> bool:
    budget = await get_budget(session, workspace_id)
    if budget is None:
        return False
    await session.delete(budget)
    return True


async def check_budgets(db: Database, at: datetime | None = None) -> list[BudgetAlert]:
    """Alerts due now (each threshold once a month), recorded; the caller publishes them."""
    at = at or datetime.now(UTC)
    _, _, month = month_bounds(at)
    async with db.read() as session:
        budgets = list(await session.scalars(select(Budget)))
    events = []
    for budget in budgets:
        async with db.read() as session:
            state = await budget_state(session, budget.workspace_id, at)
        if state is None:
            continue
        for threshold in THRESHOLDS:
            if threshold in state.alerts or state.percent < threshold:
                continue
            try:
                async with db.write() as session:
                    session.add(
                        BudgetAlertRecord(
                            workspace_id=budget.workspace_id,
                            month=month,
                            threshold=threshold,
                            spent_micros=state.spent_micros,
                            budget_micros=state.monthly_micros,
                        )
                    )
            except IntegrityError:  # another process sent it
                continue
            events.append(
                BudgetAlert(
                    workspace_id=budget.workspace_id,
                    month=month,
                    threshold=threshold,
                    spent=str(from_micros(state.spent_micros)),
                    budget=str(from_micros(state.monthly_micros)),
                    currency=state.currency,
                    hard_limit=state.hard_limit,
                )
            )
    return events


class _SpendingCache:
    """The month's spending per hard-limit budget, re-read every ``ttl`` seconds and
    counted forward locally: queueing must not sum the month per message. Keyed by the
    budget row as it is now (read each time: one indexed row), so a changed budget, or a
    fresh database, never meets an old sum."""

    def __init__(self, ttl: float = 10.0) -> None:
        self.ttl = ttl
        self.entries: dict[tuple, tuple[float, int]] = {}

    async def spent(self, session: AsyncSession, budget: Budget, at: datetime) -> int:
        key = (budget.workspace_id, budget.id, budget.updated_at, month_bounds(at)[2])
        entry = self.entries.get(key)
        if entry is None or time.monotonic() - entry[0] > self.ttl:
            if len(self.entries) > 1000:
                self.entries.clear()
            spent = await month_spent(session, budget.workspace_id, budget.currency, at)
            entry = self.entries[key] = (time.monotonic(), spent)
        return entry[1]

    def add(self, budget: Budget, at: datetime, micros: int) -> None:
        key = (budget.workspace_id, budget.id, budget.updated_at, month_bounds(at)[2])
        if key in self.entries:
            stamp, spent = self.entries[key]
            self.entries[key] = (stamp, spent + micros)


_spending = _SpendingCache()


async def enforce_hard_limit(
    session: AsyncSession,
    workspace_id: int,
    micros: int | None,
    currency: str | None,
    at: datetime,
) -> None:
    """Refuse a billable send that would go over a hard-limit budget."""
    if not micros:
        return
    budget = await get_budget(session, workspace_id)
    if budget is None or not budget.hard_limit or currency != budget.currency:
        return
    spent = await _spending.spent(session, budget, at)
    if spent + micros > budget.monthly_micros:
        raise BillingError(
            "budget_exhausted",
            f"this month's WhatsApp budget ({from_micros(budget.monthly_micros)} "
            f"{budget.currency}) is spent ({from_micros(spent)}); an admin can raise it or "
            "lift the hard limit",
            409,
        )
    _spending.add(budget, at, micros)
