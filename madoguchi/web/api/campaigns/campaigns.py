"""``/api/v1/campaigns``: create, fill, preview, schedule, watch, stop and export campaigns.

Supervisors and admins manage campaigns (they reach many customers at once); every
campaign is scoped to the caller's workspace.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from madoguchi.runtime import Runtime
from madoguchi.services.access.tokens import Principal
from madoguchi.services.audit.record import Target, record
from madoguchi.services.campaigns import audience, cost, limits, progress
from madoguchi.services.campaigns import campaigns as service
from madoguchi.services.campaigns.audience_csv import AudienceFileError, parse_audience_csv
from madoguchi.store.models import MessageTemplate, PhoneNumber
from madoguchi.web.deps import get_runtime, supervisor_or_admin
from madoguchi.web.limits import AUDIENCE_CSV_BYTES

router = APIRouter(prefix="/api/v1/campaigns", tags=["campaigns"])

MAX_UPLOAD = AUDIENCE_CSV_BYTES


class CampaignIn(BaseModel):
    name: str = Field(max_length=200)
    phone_number_id: str = Field(description="The business number (Meta's phone number id)")
    template_id: int = Field(description="Our template id (approved before scheduling)")
    values: dict[str, Any] = Field(
        default_factory=dict,
        description='Parameter key → literal, or {"from": "row.<column>"} / '
        '{"from": "contact.name", "default": "…"}',
    )
    queue_id: int | None = Field(None, description="Replies go to this queue")
    agent_id: int | None = Field(None, description="…offered to this agent first")
    route_back_hours: float = Field(72.0, ge=0, le=720)


class TagsIn(BaseModel):
    tags: list[str] = Field(min_length=1, max_length=20)


class ScheduleIn(BaseModel):
    at: datetime | None = Field(
        None, description="When to start; without an offset, in the workspace's zone; null: now"
    )


def _error(exc: service.CampaignError) -> HTTPException:
    detail = {"code": exc.code, "message": exc.message}
    if exc.field:
        detail["field"] = exc.field
    return HTTPException(exc.status, detail)


def _spec(body: CampaignIn) -> service.CampaignSpec:
    return service.CampaignSpec(
        name=body.name,
        phone_number_id=body.phone_number_id,
        template_id=body.template_id,
        values=body.values,
        queue_id=body.queue_id,
        agent_id=body.agent_id,
        route_back_hours=body.route_back_hours,
    )


def _audited(campaign) -> dict:
    """What the audit log keeps of a campaign (a number and template by our ids)."""
    return {
        "name": campaign.name,
        "status": campaign.status,
        "phone_number": campaign.phone_number_id,
        "template_id": campaign.template_id,
        "values": campaign.values or {},
        "queue_id": campaign.queue_id,
        "agent_id": campaign.agent_id,
        "route_back_hours": campaign.route_back_hours,
        "scheduled_at": campaign.scheduled_at.isoformat() if campaign.scheduled_at else None,
    }


async def _record(session, principal: Principal, action: str, campaign, before, after) -> None:
    target = Target("campaign", campaign.id, campaign.name)
    await record(session, principal, f"campaign.{action}", target, before, after)


def _summary(campaign, number: PhoneNumber | None, template: MessageTemplate | None) -> dict:
    return {
        "id": campaign.id,
        "name": campaign.name,
        "status": campaign.status,
        "status_reason": campaign.status_reason,
        "phone_number_id": number.phone_number_id if number else None,
        "display_phone_number": number.display_phone_number if number else None,
        "template": None
        if template is None
        else {
            "id": template.id,
            "name": template.name,
            "language": template.language,
            "category": template.category,
            "status": template.status,
        },
        "values": campaign.values or {},
        "queue_id": campaign.queue_id,
        "agent_id": campaign.agent_id,
        "route_back_hours": campaign.route_back_hours,
        "scheduled_at": campaign.scheduled_at,
        "started_at": campaign.started_at,
        "finished_at": campaign.finished_at,
        "columns": campaign.columns or [],
        "audience_report": campaign.audience_report,
        "created_at": campaign.created_at,
    }


async def _detail(runtime: Runtime, principal: Principal, campaign_id: int) -> dict:
    async with runtime.db.read() as session:
        try:
            campaign = await service.get_campaign(session, principal.workspace_id, campaign_id)
        except service.CampaignError as exc:
            raise _error(exc) from exc
        number = await session.get(PhoneNumber, campaign.phone_number_id)
        template = (
            await session.get(MessageTemplate, campaign.template_id)
            if campaign.template_id
            else None
        )
        out = _summary(campaign, number, template)
        out["progress"] = await progress.totals(session, campaign.id)
        try:
            limit = await limits.limit_status(
                session,
                campaign.phone_number_id,
                datetime.now(UTC),
                runtime.settings.campaign_messaging_limit,
            )
            out["messaging_limit"] = limit.as_dict()
        except ValueError as exc:
            out["messaging_limit"] = {"error": str(exc)}
        out["cost_estimate"] = campaign.cost_estimate
        out["cost_actual"] = await cost.actual(session, campaign.id)
    return out


@router.get("")
async def list_campaigns(
    principal: Principal = Depends(supervisor_or_admin), runtime: Runtime = Depends(get_runtime)
):
    async with runtime.db.read() as session:
        rows = await service.list_campaigns(session, principal.workspace_id)
        out = []
        for campaign in rows:
            number = await session.get(PhoneNumber, campaign.phone_number_id)
            template = (
                await session.get(MessageTemplate, campaign.template_id)
                if campaign.template_id
                else None
            )
            item = _summary(campaign, number, template)
            item["progress"] = await progress.totals(session, campaign.id)
            out.append(item)
    return {"campaigns": out}


@router.post("", status_code=201)
async def create_campaign(
    body: CampaignIn,
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    """Create a draft: what to send, from which number, where the replies go."""
    try:
        async with runtime.db.write() as session:
            campaign = await service.create_campaign(session, principal, _spec(body))
            campaign_id = campaign.id
            await _record(session, principal, "create", campaign, None, _audited(campaign))
    except service.CampaignError as exc:
        raise _error(exc) from exc
    return await _detail(runtime, principal, campaign_id)


@router.get("/{campaign_id}")
async def get_campaign(
    campaign_id: int,
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    """The campaign with its live totals, today's messaging limit and its cost."""
    return await _detail(runtime, principal, campaign_id)


@router.put("/{campaign_id}")
async def update_campaign(
    campaign_id: int,
    body: CampaignIn,
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    try:
        async with runtime.db.write() as session:
            campaign = await service.get_campaign(session, principal.workspace_id, campaign_id)
            before = _audited(campaign)
            await service.update_campaign(session, principal.workspace_id, campaign_id, _spec(body))
            campaign = await service.get_campaign(session, principal.workspace_id, campaign_id)
            await _record(session, principal, "update", campaign, before, _audited(campaign))
    except service.CampaignError as exc:
        raise _error(exc) from exc
    return await _detail(runtime, principal, campaign_id)


async def _draft(runtime: Runtime, principal: Principal, campaign_id: int):
    async with runtime.db.read() as session:
        try:
            campaign = await service.get_campaign(session, principal.workspace_id, campaign_id)
        except service.CampaignError as exc:
            raise _error(exc) from exc
        category = (
            await session.get(MessageTemplate, campaign.template_id)
            if campaign.template_id
            else None
        )
    if campaign.status != "draft":
        raise HTTPException(
            409,
            {
                "code": "not_draft",
                "message": f"campaign is {campaign.status}: the audience of a draft only",
            },
        )
    return campaign, bool(category and category.category == "MARKETING")


async def _keep_report(
    runtime: Runtime,
    principal: Principal,
    campaign_id: int,
    report: dict,
    columns=None,
    source: str = "csv",
) -> None:
    """Keep the import's report and a fresh cost estimate on the campaign (the estimate
    is read first: it must not hold the single writer of an embedded database)."""
    async with runtime.db.read() as session:
        campaign = await service.get_campaign(session, principal.workspace_id, campaign_id)
        estimate = await cost.estimate(session, campaign)
    async with runtime.db.write() as session:
        campaign = await service.get_campaign(session, principal.workspace_id, campaign_id)
        campaign.audience_report = report
        campaign.cost_estimate = estimate
        if columns is not None:
            known = list(campaign.columns or [])
            campaign.columns = known + [c for c in columns if c not in known]
        counts = {k: v for k, v in report.items() if isinstance(v, int | float | str)}
        await _record(
            session, principal, "audience_add", campaign, None, {"source": source, **counts}
        )


@router.post("/{campaign_id}/audience")
async def upload_audience(
    campaign_id: int,
    file: UploadFile = File(description="CSV, UTF-8 (with or without BOM), with a header row"),
    default_country: str | None = Form(
        None, description="ISO country of numbers typed without a country code (JP)"
    ),
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    """Add customers from a CSV: invalid rows are reported by line, duplicates merged,
    marketing opt-outs kept out (and counted)."""
    campaign, marketing = await _draft(runtime, principal, campaign_id)
    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise HTTPException(
            413, {"code": "too_large", "message": "a CSV of at most 32 MB; split the file"}
        )
    region = default_country.strip().upper() if default_country else None
    if region is not None and (len(region) != 2 or not region.isalpha()):
        raise HTTPException(
            422,
            {
                "code": "invalid_country",
                "field": "default_country",
                "message": "a two-letter country code such as JP",
            },
        )
    try:
        parsed = parse_audience_csv(data, default_region=region)
    except AudienceFileError as exc:
        raise HTTPException(
            422, {"code": exc.code, "field": "file", "message": exc.message}
        ) from exc
    report = await audience.import_csv(runtime.db, campaign, parsed, marketing=marketing)
    out = report.as_dict()
    await _keep_report(runtime, principal, campaign_id, out, parsed.columns)
    return {**out, "columns": parsed.columns}


@router.post("/{campaign_id}/audience/tags")
async def add_tagged_contacts(
    campaign_id: int,
    body: TagsIn,
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    """Add the contacts whose conversations carry any of these tags."""
    tags = [t.strip() for t in body.tags if t.strip()]
    if not tags:
        raise HTTPException(
            422, {"code": "invalid_tags", "field": "tags", "message": "name at least one tag"}
        )
    campaign, marketing = await _draft(runtime, principal, campaign_id)
    report = await audience.import_tags(runtime.db, campaign, tags, marketing=marketing)
    out = report.as_dict()
    await _keep_report(runtime, principal, campaign_id, out, source="tags: " + ", ".join(tags))
    return out


@router.get("/{campaign_id}/preview")
async def preview_campaign(
    campaign_id: int,
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    """The message as the first customer will see it, the cost estimate, today's limit."""
    try:
        async with runtime.db.read() as session:
            campaign = await service.get_campaign(session, principal.workspace_id, campaign_id)
            out = await service.preview(session, campaign)
            out["cost_estimate"] = await cost.estimate(session, campaign)
    except service.CampaignError as exc:
        raise _error(exc) from exc
    return out


async def _refresh_tier(runtime: Runtime, number_pk: int) -> None:
    await limits.refresh_tier(runtime.db, runtime.graph, runtime.secrets, number_pk)


@router.post("/{campaign_id}/schedule")
async def schedule_campaign(
    campaign_id: int,
    body: ScheduleIn,
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    """Schedule a draft (now, or at a time) and keep its cost estimate (the one taken when
    the audience last changed, if within the hour: 100,000 recipients take seconds)."""
    now = datetime.now(UTC)
    try:
        async with runtime.db.read() as session:
            campaign = await service.get_campaign(session, principal.workspace_id, campaign_id)
            estimate = campaign.cost_estimate
            if not cost.is_fresh(estimate, now):
                estimate = await cost.estimate(session, campaign)
        async with runtime.db.write() as session:
            before = _audited(
                await service.get_campaign(session, principal.workspace_id, campaign_id)
            )
            campaign = await service.schedule_campaign(
                session, principal.workspace_id, campaign_id, body.at, now
            )
            campaign.cost_estimate = estimate
            await _record(session, principal, "schedule", campaign, before, _audited(campaign))
            number_pk = campaign.phone_number_id
    except service.CampaignError as exc:
        raise _error(exc) from exc
    await _refresh_tier(runtime, number_pk)
    runtime.campaigns.wake()
    return await _detail(runtime, principal, campaign_id)


async def _transition(
    runtime: Runtime, principal: Principal, campaign_id: int, action, name: str
) -> dict:
    try:
        async with runtime.db.write() as session:
            campaign = await service.get_campaign(session, principal.workspace_id, campaign_id)
            before = {"status": campaign.status}
            await action(session, principal.workspace_id, campaign_id)
            campaign = await service.get_campaign(session, principal.workspace_id, campaign_id)
            await _record(session, principal, name, campaign, before, {"status": campaign.status})
    except service.CampaignError as exc:
        raise _error(exc) from exc
    runtime.campaigns.wake()
    return await _detail(runtime, principal, campaign_id)


@router.post("/{campaign_id}/pause")
async def pause_campaign(
    campaign_id: int,
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    """Pause: sends not yet handed to WhatsApp are taken back until resumed."""
    return await _transition(runtime, principal, campaign_id, service.pause_campaign, "pause")


@router.post("/{campaign_id}/resume")
async def resume_campaign(
    campaign_id: int,
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    async def resume(session, workspace_id, cid):
        return await service.resume_campaign(session, workspace_id, cid, datetime.now(UTC))

    return await _transition(runtime, principal, campaign_id, resume, "resume")


@router.post("/{campaign_id}/stop")
async def stop_campaign(
    campaign_id: int,
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    """Stop for good: nothing more is sent (sends already with WhatsApp go on)."""

    async def stop(session, workspace_id, cid):
        return await service.stop_campaign(session, workspace_id, cid, datetime.now(UTC))

    return await _transition(runtime, principal, campaign_id, stop, "stop")


@router.get("/{campaign_id}/recipients")
async def list_recipients(
    campaign_id: int,
    status: str | None = Query(None, description="One of " + ", ".join(progress.STATUSES)),
    after_id: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=1000),
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    if status is not None and status not in progress.STATUSES:
        raise HTTPException(
            422,
            {
                "code": "invalid_status",
                "field": "status",
                "message": "one of " + ", ".join(progress.STATUSES),
            },
        )
    async with runtime.db.read() as session:
        try:
            await service.get_campaign(session, principal.workspace_id, campaign_id)
        except service.CampaignError as exc:
            raise _error(exc) from exc
        rows = await progress.list_recipients(
            session, campaign_id, status=status, after_id=after_id, limit=limit
        )
    return {"recipients": rows, "next_after_id": rows[-1]["id"] if len(rows) == limit else None}


@router.get("/{campaign_id}/export.csv", response_class=StreamingResponse)
async def export_recipients(
    campaign_id: int,
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    """Every recipient with their status, as CSV (opens in Excel, Japanese included)."""
    async with runtime.db.read() as session:
        try:
            campaign = await service.get_campaign(session, principal.workspace_id, campaign_id)
        except service.CampaignError as exc:
            raise _error(exc) from exc
    return StreamingResponse(
        progress.export_csv(runtime.db, campaign),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="campaign-{campaign_id}.csv"'},
    )
