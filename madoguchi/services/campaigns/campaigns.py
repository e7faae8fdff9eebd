"""A campaign's life: create a draft, schedule it, pause, resume, stop.

draft → scheduled (at a time, in the workspace's zone, or now) → sending (the worker in
``sending`` takes it when due) ⇄ paused → finished (every recipient handed to the outbox)
or stopped (by a person: nothing more is sent). Scheduling checks what would otherwise
fail a hundred thousand times later: the template is approved, every parameter has a
value (from a column the audience has, a contact field or a literal), and there is
someone to send to.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.templates import (
    canonical_values,
    render_preview,
    resolve_values,
    template_parameters,
)
from madoguchi.services.access.tokens import Principal
from madoguchi.services.campaigns.sending import withdraw
from madoguchi.services.templates.catalog import SENDABLE
from madoguchi.store.models import (
    Campaign,
    CampaignRecipient,
    MessageTemplate,
    PhoneNumber,
    Queue,
    User,
    Workspace,
)

ACTIVE = ("scheduled", "sending", "paused")
FINAL = ("finished", "stopped")
VALUE_SOURCES = ("row.", "contact.")


class CampaignError(Exception):
    """A refused campaign change; ``code`` is stable for API clients."""

    def __init__(self, code: str, message: str, status: int = 422, field: str | None = None):
        super().__init__(message)
        self.code, self.message, self.status, self.field = code, message, status, field


@dataclass(frozen=True, slots=True)
class CampaignSpec:
    name: str
    phone_number_id: str  # Meta's id of the business number
    template_id: int
    values: Mapping[str, Any]
    queue_id: int | None = None
    agent_id: int | None = None
    route_back_hours: float = 72.0


async def get_campaign(session: AsyncSession, workspace_id: int, campaign_id: int) -> Campaign:
    campaign = await session.scalar(
        select(Campaign).where(Campaign.id == campaign_id, Campaign.workspace_id == workspace_id)
    )
    if campaign is None:
        raise CampaignError("not_found", f"campaign {campaign_id} not found", 404)
    return campaign


async def list_campaigns(session: AsyncSession, workspace_id: int) -> list[Campaign]:
    rows = await session.scalars(
        select(Campaign).where(Campaign.workspace_id == workspace_id).order_by(Campaign.id.desc())
    )
    return list(rows)


async def _resolve(session: AsyncSession, workspace_id: int, spec: CampaignSpec) -> dict:
    """The spec's references checked against the workspace; the columns to store."""
    name = spec.name.strip()
    if not name or len(name) > 200:
        raise CampaignError("invalid_name", "a name of 1 to 200 characters", field="name")
    number = await session.scalar(
        select(PhoneNumber).where(
            PhoneNumber.phone_number_id == spec.phone_number_id,
            PhoneNumber.workspace_id == workspace_id,
        )
    )
    if number is None:
        raise CampaignError(
            "not_found", f"phone number {spec.phone_number_id} not found", 404, "phone_number_id"
        )
    template = await session.scalar(
        select(MessageTemplate).where(
            MessageTemplate.id == spec.template_id, MessageTemplate.workspace_id == workspace_id
        )
    )
    if template is None or template.account_id != number.account_id:
        raise CampaignError(
            "not_found",
            f"template {spec.template_id} not found for the account of this number",
            404,
            "template_id",
        )
    if spec.queue_id is not None and not await session.scalar(
        select(Queue.id).where(Queue.id == spec.queue_id, Queue.workspace_id == workspace_id)
    ):
        raise CampaignError("not_found", f"queue {spec.queue_id} not found", 404, "queue_id")
    if spec.agent_id is not None:
        agent = await session.scalar(
            select(User).where(User.id == spec.agent_id, User.workspace_id == workspace_id)
        )
        if agent is None or agent.disabled:
            raise CampaignError("not_found", f"agent {spec.agent_id} not found", 404, "agent_id")
    if not 0 <= spec.route_back_hours <= 720:
        raise CampaignError(
            "invalid_route_back", "route_back_hours: 0 to 720", field="route_back_hours"
        )
    for key, value in spec.values.items():
        if isinstance(value, Mapping) and "from" in value:
            source = str(value["from"])
            if not source.startswith(VALUE_SOURCES):
                raise CampaignError(
                    "invalid_value",
                    f"values.{key}: 'from' reads row.<column> or contact.<field>, not {source!r}",
                    field=f"values.{key}",
                )
        elif isinstance(value, list) or (isinstance(value, float) and not math.isfinite(value)):
            # A list would be sent as its Python text, a NaN could not be shown again.
            raise CampaignError(
                "invalid_value",
                f"values.{key}: a text, a number, a media object or {{'from': …}}, not {value!r}",
                field=f"values.{key}",
            )
    return {
        "name": name,
        "phone_number_id": number.id,
        "template_id": template.id,
        "values": dict(spec.values),
        "queue_id": spec.queue_id,
        "agent_id": spec.agent_id,
        "route_back_hours": spec.route_back_hours,
    }


async def create_campaign(session: AsyncSession, principal: Principal, spec: CampaignSpec):
    columns = await _resolve(session, principal.workspace_id, spec)
    campaign = Campaign(
        workspace_id=principal.workspace_id,
        created_by_user_id=principal.user_id,
        status="draft",
        columns=[],
        **columns,
    )
    session.add(campaign)
    await session.flush()
    return campaign


async def update_campaign(
    session: AsyncSession, workspace_id: int, campaign_id: int, spec: CampaignSpec
) -> Campaign:
    campaign = await get_campaign(session, workspace_id, campaign_id)
    if campaign.status != "draft":
        raise CampaignError(
            "not_draft", f"campaign is {campaign.status}: only a draft can be changed", 409
        )
    for key, value in (await _resolve(session, workspace_id, spec)).items():
        setattr(campaign, key, value)
    return campaign


def value_problems(template: MessageTemplate, values: Mapping[str, Any], columns: list[str]):
    """``(field, message)`` for every parameter without a usable value."""
    params = template_parameters(template.components or [], template.category)
    given = canonical_values(params, values)
    problems: list[tuple[str, str]] = []
    for param in params:
        if not param.required:
            continue
        value = given.get(param.key)
        if value is None:
            problems.append((f"values.{param.key}", f"no value for {param.key}"))
            continue
        if isinstance(value, Mapping) and str(value.get("from", "")).startswith("row."):
            column = str(value["from"])[4:]
            if column not in columns and value.get("default") in (None, ""):
                problems.append(
                    (
                        f"values.{param.key}",
                        f"{param.key} reads column {column!r}, which the audience does not have"
                        + (f" (it has {', '.join(columns)})" if columns else ""),
                    )
                )
    return problems


def local_time(at: datetime, zone: str) -> datetime:
    """A time typed without an offset is in the workspace's zone."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo(zone))
    return at.astimezone(UTC)


async def schedule_campaign(
    session: AsyncSession,
    workspace_id: int,
    campaign_id: int,
    at: datetime | None,
    now: datetime,
) -> Campaign:
    campaign = await get_campaign(session, workspace_id, campaign_id)
    if campaign.status not in ("draft", "scheduled"):
        raise CampaignError(
            "not_draft", f"campaign is {campaign.status}: only a draft can be scheduled", 409
        )
    template = (
        await session.get(MessageTemplate, campaign.template_id) if campaign.template_id else None
    )
    if template is None:
        raise CampaignError("template_gone", "the campaign's template was deleted", 409)
    if template.status not in SENDABLE:
        raise CampaignError(
            "template_not_approved",
            f"template {template.name} ({template.language}) is {template.status}; only "
            "approved templates can be sent",
            409,
        )
    problems = value_problems(template, campaign.values or {}, list(campaign.columns or []))
    if problems:
        field, message = problems[0]
        raise CampaignError("missing_values", "; ".join(m for _, m in problems), field=field)
    pending = await session.scalar(
        select(func.count()).where(
            CampaignRecipient.campaign_id == campaign.id, CampaignRecipient.state == "pending"
        )
    )
    if not pending:
        raise CampaignError("empty_audience", "the audience has no one to send to", 409)
    zone = await session.scalar(select(Workspace.timezone).where(Workspace.id == workspace_id))
    when = local_time(at, zone or "UTC") if at is not None else now
    if when < now:
        when = now  # a time already past means "now", not an error of a few seconds
    campaign.status, campaign.scheduled_at, campaign.status_reason = "scheduled", when, None
    return campaign


def _require(campaign: Campaign, allowed: tuple[str, ...], action: str) -> None:
    if campaign.status not in allowed:
        raise CampaignError(
            "wrong_state", f"campaign is {campaign.status}: it cannot be {action}", 409
        )


async def pause_campaign(session: AsyncSession, workspace_id: int, campaign_id: int) -> Campaign:
    campaign = await get_campaign(session, workspace_id, campaign_id)
    _require(campaign, ("scheduled", "sending"), "paused")
    campaign.status, campaign.status_reason = "paused", "paused by a person"
    await withdraw(session, campaign, final=False)
    return campaign


async def resume_campaign(
    session: AsyncSession, workspace_id: int, campaign_id: int, now: datetime
) -> Campaign:
    campaign = await get_campaign(session, workspace_id, campaign_id)
    _require(campaign, ("paused",), "resumed")
    due = campaign.scheduled_at is None or campaign.scheduled_at <= now
    campaign.status = "sending" if due and campaign.started_at else "scheduled"
    campaign.status_reason = None
    return campaign


async def stop_campaign(
    session: AsyncSession, workspace_id: int, campaign_id: int, now: datetime
) -> Campaign:
    campaign = await get_campaign(session, workspace_id, campaign_id)
    _require(campaign, ("draft", *ACTIVE), "stopped")
    campaign.status, campaign.finished_at = "stopped", now
    campaign.status_reason = "stopped by a person"
    await withdraw(session, campaign, final=True)
    return campaign


async def preview(session: AsyncSession, campaign: Campaign) -> dict[str, Any]:
    """The message as the audience's first customer will see it, and what is missing."""
    template = (
        await session.get(MessageTemplate, campaign.template_id) if campaign.template_id else None
    )
    if template is None:
        raise CampaignError("template_gone", "the campaign's template was deleted", 409)
    recipient = await session.scalar(
        select(CampaignRecipient)
        .where(
            CampaignRecipient.campaign_id == campaign.id,
            CampaignRecipient.state.in_(("pending", "queued")),
        )
        .order_by(CampaignRecipient.id)
        .limit(1)
    )
    context: dict[str, Any] = {"row": {}, "contact": {}}
    if recipient is not None:
        context = {
            "row": dict(recipient.variables or {}),
            "contact": {
                "name": recipient.name,
                "profile_name": recipient.name,
                "wa_id": recipient.wa_id,
                "phone": f"+{recipient.wa_id}" if recipient.wa_id else None,
                "user_id": recipient.user_id,
            },
        }
    resolved, _ = resolve_values(campaign.values or {}, context)
    params = template_parameters(template.components or [], template.category)
    rendered = render_preview(
        template.components or [],
        canonical_values(params, resolved),
        category=template.category,
    )
    return {
        "template": {
            "id": template.id,
            "name": template.name,
            "language": template.language,
            "category": template.category,
            "status": template.status,
        },
        "recipient": None
        if recipient is None
        else {"name": recipient.name, "wa_id": recipient.wa_id, "user_id": recipient.user_id},
        "message": rendered.to_dict(),
        "parameters": [p.key for p in params],
        "problems": [
            {"field": f, "message": m}
            for f, m in value_problems(
                template, campaign.values or {}, list(campaign.columns or [])
            )
        ],
    }
