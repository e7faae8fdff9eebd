"""``GET /api/v1/reports/{overview|queues|agents|flows|templates|csat|calls}``: historical
reports as JSON, or CSV (``format=csv`` or ``…/export.csv``), for supervisors and
admins. A supervisor listed on some queues sees only those queues' figures (like the
wallboard); agents get 403. Definitions: docs/metrics.md; guide: docs/reports.md.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response

from madoguchi.runtime import Runtime
from madoguchi.services.access.tokens import Principal
from madoguchi.services.access.visibility import supervised_queue_ids
from madoguchi.services.reporting import reports
from madoguchi.services.reporting.export import report_csv, tables
from madoguchi.web.deps import get_runtime, supervisor_or_admin

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

DESCRIPTIONS = {
    "overview": "Volumes, waits, answers and abandons, service level, first response, "
    "handle and resolution times, messages; trend, distributions of wait and first "
    "response, weekday × hour heatmap of arrivals.",
    "queues": "The overview's figures per queue (rows), with trend and distributions.",
    "agents": "Per agent: answers, handle and wrap-up time, first and agent response times, "
    "messages sent, transfers; occupancy (busy ÷ available: available_seconds, busy_seconds, "
    "away_busy_seconds, occupancy_percent) per agent, in totals and series — left empty with "
    "the number_id, tag, disposition and business_hours filters (occupancy.message says "
    "why).",
    "flows": "Conversations entering flows, resolved by the bot (ended in the flow, never "
    "queued), handed off to a queue; funnel per widget (entered, left there).",
    "templates": "Template sends by category over time; per template: sent, delivered, "
    "read, failed.",
    "csat": "Customer satisfaction: score (mean of 1–5), % satisfied (4–5), response rate.",
    "calls": "WhatsApp calls: offered, answered, missed, outbound (callbacks), talk time; "
    "per queue and agent.",
}


class ReportParams:
    """The period, grouping and filters every report takes, the same for JSON and CSV."""

    def __init__(
        self,
        period: Literal["today", "yesterday", "7d", "30d", "custom"] = Query(
            "7d", description="today, yesterday, the last 7 or 30 days (with today), or custom"
        ),
        group: Literal["hour", "day", "week", "month"] = Query(
            "day", description="series buckets, in the workspace's time zone"
        ),
        start: date | None = Query(None, alias="from", description="custom: first day"),
        end: date | None = Query(None, alias="to", description="custom: last day (included)"),
        queue_id: int | None = Query(None),
        agent_id: int | None = Query(None),
        number_id: int | None = Query(None, description="a connected number's id"),
        tag: str | None = Query(None, description="conversations with this tag (slower)"),
        disposition: str | None = Query(
            None, description="conversations closed with this disposition (slower)"
        ),
        business_hours: bool | None = Query(
            None, description="true: inside the queue's business hours only; false: outside"
        ),
    ) -> None:
        self.query = {
            "period": period,
            "group": group,
            "start": start,
            "end": end,
            "queue_id": queue_id,
            "agent_id": agent_id,
            "number_id": number_id,
            "tag": tag,
            "disposition": disposition,
            "business_hours": business_hours,
        }


async def _report(name: str, runtime: Runtime, principal: Principal, params: ReportParams) -> dict:
    async with runtime.db.read() as session:
        visible = await supervised_queue_ids(session, principal)
        try:
            query = await reports.make_query(
                session, principal.workspace_id, name, visible_queues=visible, **params.query
            )
        except reports.ReportError as exc:
            raise HTTPException(422, {"field": exc.field, "message": exc.message}) from exc
        return await reports.build(session, query)


TABLE = Query(
    None,
    description="CSV of another table of the report than its rows (e.g. `agents` of the "
    "csat and calls reports, `series`), without a total line.",
    max_length=40,
)


def _csv(name: str, body: dict, table: str | None) -> Response:
    if table is not None and table not in tables(body):
        raise HTTPException(
            422,
            {
                "field": "table",
                "message": f"The {name} report has no table {table!r}; "
                f"it has: {', '.join(tables(body))}.",
            },
        )
    suffix = f"-{table}" if table else ""
    filename = f"{name}{suffix}-{body['period']['from']}-{body['period']['to']}.csv"
    return Response(
        report_csv(body, table),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _register(name: str) -> None:
    async def report(
        params: ReportParams = Depends(),
        format: Literal["json", "csv"] = Query("json"),
        table: str | None = TABLE,
        principal: Principal = Depends(supervisor_or_admin),
        runtime: Runtime = Depends(get_runtime),
    ):
        body = await _report(name, runtime, principal, params)
        if format == "csv":
            return _csv(name, body, table)
        return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")

    async def export(
        params: ReportParams = Depends(),
        table: str | None = TABLE,
        principal: Principal = Depends(supervisor_or_admin),
        runtime: Runtime = Depends(get_runtime),
    ):
        return _csv(name, await _report(name, runtime, principal, params), table)

    router.add_api_route(
        f"/{name}",
        report,
        methods=["GET"],
        summary=f"Report: {name}",
        description=DESCRIPTIONS[name] + " JSON: {report, period, group, filters, scope, "
        "totals, series, rows, distributions, heatmap, funnel} as fits the report; "
        "format=csv: UTF-8 with BOM.",
        name=f"report_{name}",
    )
    router.add_api_route(
        f"/{name}/export.csv",
        export,
        methods=["GET"],
        summary=f"Report: {name} as CSV",
        description="UTF-8 with a byte-order mark (Excel reads Japanese correctly).",
        name=f"report_{name}_csv",
        response_class=Response,
    )


for _name in reports.REPORTS:
    _register(_name)
