"""``/api/v1/outbound``: start a conversation with a customer by sending a template."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends
from pydantic import BaseModel, Field

from madoguchi.runtime import Runtime
from madoguchi.services.access.tokens import Principal
from madoguchi.services.channel.outbox import OutboundRefused
from madoguchi.services.contact_center import conversations as queries
from madoguchi.services.contact_center.outreach import start_outbound
from madoguchi.services.templates.catalog import (
    TemplateServiceError,
)
from madoguchi.web.api.templates.catalog import template_error
from madoguchi.web.deps import any_role, get_runtime
from madoguchi.web.schemas import ConversationOut, MessageOut

router = APIRouter(prefix="/api/v1", tags=["templates"])


class RecipientIn(BaseModel):
    wa_id: str | None = Field(None, description="Phone with country code (new or known)")
    user_id: str | None = Field(None, description="BSUID, e.g. JP.70211330012345")
    contact_id: int | None = Field(None, description="A known contact")
    name: str | None = Field(None, description="Name for a new contact")


class OutboundTemplateIn(BaseModel):
    id: int | None = Field(None, description="Our template id")
    name: str | None = None
    language: str | None = None
    values: dict[str, Any] | None = Field(None, description="Parameter values (see preview)")
    components: list[dict[str, Any]] | None = Field(
        None, description="Or Meta's send components, as is"
    )


class OutboundIn(BaseModel):
    phone_number_id: str = Field(description="The business number (Meta's phone number id)")
    to: RecipientIn
    template: OutboundTemplateIn
    agent_id: int | None = Field(None, description="The reply goes back to this agent")
    queue_id: int | None = Field(None, description="…or to this queue")
    route_back_hours: float | None = Field(
        None, ge=0, le=720, description="Default MADOGUCHI_OUTBOUND_ROUTE_BACK_HOURS"
    )


@router.post("/outbound", status_code=202)
async def outbound(
    request: OutboundIn,
    background: BackgroundTasks,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """Start a conversation with a customer, new or known, by sending a template.

    Their reply within ``route_back_hours`` goes back to ``agent_id`` (default: the
    signed-in user) or ``queue_id`` rather than through the number's flow.
    """
    hours = request.route_back_hours
    try:
        result = await start_outbound(
            runtime.db,
            principal,
            phone_number_id=request.phone_number_id,
            to=request.to.model_dump(),
            template=request.template.model_dump(),
            agent_id=request.agent_id,
            queue_id=request.queue_id,
            route_back_hours=runtime.settings.outbound_route_back_hours if hours is None else hours,
        )
    except (OutboundRefused, TemplateServiceError) as exc:
        raise template_error(exc) from exc
    background.add_task(runtime.bus.publish, [result.event])
    async with runtime.db.read() as session:
        conversation = await queries.get_conversation(
            session, principal.workspace_id, result.conversation_id
        )
        out = ConversationOut.of(conversation)
    return {
        "conversation": out.model_dump(mode="json"),
        "message": MessageOut.of(result.message).model_dump(mode="json"),
        "contact_created": result.contact_created,
        "conversation_created": result.conversation_created,
    }
