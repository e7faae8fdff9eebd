"""``/api/v1/costs``: cost reports (JSON and CSV), per-message costs, the monthly budget."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import or_, select

from madoguchi.domain.pricing import from_micros, to_micros
from madoguchi.runtime import Runtime
from madoguchi.services.access.tokens import Principal
from madoguchi.services.audit.record import Target, record
from madoguchi.services.billing import budgets
from madoguchi.services.billing.errors import BillingError
from madoguchi.services.billing.rate_cards import normal_currency
from madoguchi.services.billing.reports import ReportQuery, cost_report, report_csv
from madoguchi.services.billing.settlement import settle_costs
from madoguchi.store.models import MessageCost, Workspace
from madoguchi.web.deps import admin_only, get_runtime, supervisor_or_admin

router = APIRouter(prefix="/api/v1", tags=["billing"])

MAX_DAYS = 731


def _problem(code: str, message: str, status: int = 422, field: str | None = None) -> HTTPException:
    detail = {"code": code, "message": message}
    if field:
        detail["field"] = field
    return HTTPException(status, detail)


class ReportParams(BaseModel):
    start: date | None = Field(None, alias="from")
    end: date | None = Field(None, alias="to")
    group: Literal["day", "week", "month"] = "day"
    by: Literal["queue", "agent", "template", "category", "market", "number"] = "category"
    currency: str | None = None
    queue_id: int | None = None
    agent_id: int | None = None
    phone_number_id: int | None = None
    category: str | None = None
    market: str | None = None
    template: str | None = None


def report_params(
    start: date | None = Query(
        None,
        alias="from",
        description="First day (default: 29 days before `to`), in the workspace's time zone",
    ),
    end: date | None = Query(None, alias="to", description="Last day, inclusive (default today)"),
    group: Literal["day", "week", "month"] = Query("day", description="Series grouping"),
    by: Literal["queue", "agent", "template", "category", "market", "number"] = Query(
        "category", description="Breakdown dimension"
    ),
    currency: str | None = Query(None, description="Default: the period's main currency"),
    queue_id: int | None = None,
    agent_id: int | None = None,
    phone_number_id: int | None = Query(None, description="Our number id"),
    category: str | None = Query(None, description="marketing, utility, authentication…"),
    market: str | None = Query(None, description="ISO country code, e.g. JP"),
    template: str | None = Query(None, description="Template name"),
) -> ReportParams:
    if currency is not None:
        try:
            currency = normal_currency(currency)
        except BillingError as exc:
            raise _problem(exc.code, exc.message, field="currency") from exc
    return ReportParams.model_validate(
        {
            "from": start,
            "to": end,
            "group": group,
            "by": by,
            "currency": currency,
            "queue_id": queue_id,
            "agent_id": agent_id,
            "phone_number_id": phone_number_id,
            "category": category,
            "market": market,
            "template": template,
        }
    )


async def _report(runtime: Runtime, principal: Principal, p: ReportParams):
    ws = principal.workspace_id
    async with runtime.db.write() as session:  # bring actual costs up to date first
        await settle_costs(session, ws)
    async with runtime.db.read() as session:
        timezone = await session.scalar(select(Workspace.timezone).where(Workspace.id == ws))
        timezone = timezone or "UTC"
        today = datetime.now(ZoneInfo(timezone)).date()
        end = p.end or today
        start = p.start or end - timedelta(days=29)
        if start > end:
            raise _problem("invalid_period", "`from` is after `to`", field="from")
        if (end - start).days >= MAX_DAYS:
            raise _problem(
                "invalid_period", f"a report covers at most {MAX_DAYS} days", field="from"
            )
        query = ReportQuery(
            start=start,
            end=end,
            timezone=timezone,
            group=p.group,
            by=p.by,
            currency=p.currency.upper() if p.currency else None,
            queue_id=p.queue_id,
            agent_id=p.agent_id,
            phone_number_id=p.phone_number_id,
            category=p.category.lower() if p.category else None,
            market=p.market.upper() if p.market else None,
            template=p.template,
        )
        return await cost_report(session, ws, query)


@router.get("/costs/report")
async def report(
    params: ReportParams = Depends(report_params),
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    """What messages cost over a period: totals, a series by day/week/month and a
    breakdown by queue, agent, template, category, market or number; estimated beside
    actual (settled from Meta's pricing), ``cost`` = actual when known, else estimated.
    Amounts are decimal strings in ``currency``."""
    return (await _report(runtime, principal, params)).to_dict()


@router.get("/costs/report.csv")
async def report_as_csv(
    rows: Literal["breakdown", "series"] = Query("breakdown"),
    params: ReportParams = Depends(report_params),
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    """The report as CSV (UTF-8 with a BOM, so spreadsheet apps read Japanese correctly):
    one line per group or per period, then the total."""
    result = await _report(runtime, principal, params)
    name = (
        f"costs-{rows if rows == 'series' else result.query.by}-{result.query.start}-"
        f"{result.query.end}.csv"
    )
    return Response(
        "\ufeff" + report_csv(result, rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


class MessageCostOut(BaseModel):
    message_id: int
    conversation_id: int
    template_name: str | None
    market: str | None
    currency: str | None
    priced_at: datetime
    estimated_category: str
    estimated_billable: bool
    estimated: str | None
    actual_category: str | None
    actual_billable: bool | None
    actual_model: str | None
    actual_type: str | None
    actual: str | None
    settlement: str | None
    differs: bool = Field(description="Meta's verdict differs from the estimate")

    @classmethod
    def of(cls, c: MessageCost) -> MessageCostOut:
        def amount(micros):
            return None if micros is None else str(from_micros(micros))

        settled = c.settled_at is not None
        return cls(
            message_id=c.message_id,
            conversation_id=c.conversation_id,
            template_name=c.template_name,
            market=c.market,
            currency=c.currency,
            priced_at=c.priced_at,
            estimated_category=c.estimated_category,
            estimated_billable=c.estimated_billable,
            estimated=amount(c.estimated_micros),
            actual_category=c.actual_category,
            actual_billable=c.actual_billable,
            actual_model=c.actual_model,
            actual_type=c.actual_type,
            actual=amount(c.actual_micros),
            settlement=c.settlement,
            differs=settled
            and (
                c.actual_micros != c.estimated_micros or c.actual_category != c.estimated_category
            ),
        )


@router.get("/costs/messages", response_model=list[MessageCostOut])
async def message_costs(
    differences: bool = Query(False, description="Only messages whose actual cost differs"),
    conversation_id: int | None = None,
    limit: int = Query(100, ge=1, le=1000),
    before_id: int | None = Query(None, description="Page: messages before this message id"),
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    """Each message's estimate beside its actual cost, newest first."""
    query = (
        select(MessageCost)
        .where(MessageCost.workspace_id == principal.workspace_id)
        .order_by(MessageCost.message_id.desc())
        .limit(limit)
    )
    if conversation_id is not None:
        query = query.where(MessageCost.conversation_id == conversation_id)
    if before_id is not None:
        query = query.where(MessageCost.message_id < before_id)
    if differences:
        query = query.where(
            MessageCost.settled_at.is_not(None),
            or_(
                MessageCost.actual_micros != MessageCost.estimated_micros,
                MessageCost.actual_micros.is_(None) != MessageCost.estimated_micros.is_(None),
                MessageCost.actual_category != MessageCost.estimated_category,
            ),
        )
    async with runtime.db.read() as session:
        return [MessageCostOut.of(c) for c in await session.scalars(query)]


class BudgetIn(BaseModel):
    monthly: str = Field(description='Per calendar month (UTC), e.g. "500.00"')
    currency: str = Field(description="The rate card's currency, e.g. USD")
    hard_limit: bool = Field(False, description="Refuse templates once the budget is spent")


def _budget_fields(budget) -> dict | None:
    if budget is None:
        return None
    return {
        "monthly": str(from_micros(budget.monthly_micros)),
        "currency": budget.currency,
        "hard_limit": budget.hard_limit,
    }


@router.get("/costs/budget")
async def get_budget(
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    """The monthly budget and this month's spending (null when there is no budget)."""
    async with runtime.db.read() as session:
        state = await budgets.budget_state(session, principal.workspace_id)
    return None if state is None else state.to_dict()


@router.put("/costs/budget")
async def put_budget(
    body: BudgetIn,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    """Set the monthly budget: admins are alerted at 80 % and 100 %; with ``hard_limit``
    templates that would go over it are refused."""
    try:
        monthly = to_micros(Decimal(body.monthly))
    except (InvalidOperation, ValueError, OverflowError):  # OverflowError: "Infinity"
        monthly = None
    if monthly is None or monthly.bit_length() > 63:  # a BIGINT of micro-units
        raise _problem(
            "invalid_budget", f"{body.monthly!r} is not an amount", field="monthly"
        ) from None
    try:
        async with runtime.db.write() as session:
            before = _budget_fields(await budgets.get_budget(session, principal.workspace_id))
            budget = await budgets.set_budget(
                session,
                principal.workspace_id,
                monthly_micros=monthly,
                currency=body.currency,
                hard_limit=body.hard_limit,
            )
            await record(
                session,
                principal,
                "budget.update",
                Target("budget", principal.workspace_id, "monthly budget"),
                before,
                _budget_fields(budget),
            )
    except BillingError as exc:
        field = {"invalid_budget": "monthly", "invalid_currency": "currency"}.get(exc.code)
        raise _problem(exc.code, exc.message, exc.status, field) from exc
    async with runtime.db.read() as session:
        return (await budgets.budget_state(session, principal.workspace_id)).to_dict()


@router.delete("/costs/budget", status_code=204)
async def delete_budget(
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    async with runtime.db.write() as session:
        before = _budget_fields(await budgets.get_budget(session, principal.workspace_id))
        if not await budgets.delete_budget(session, principal.workspace_id):
            raise _problem("not_found", "there is no budget", 404)
        await record(
            session,
            principal,
            "budget.delete",
            Target("budget", principal.workspace_id, "monthly budget"),
            before,
            None,
        )
    return Response(status_code=204)
