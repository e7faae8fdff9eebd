"""``/api/v1`` templates, the service window, outbound contact and marketing opt-out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from madoguchi.domain.templates import (
    TemplateInvalid,
    TemplateParameter,
    render_preview,
    resolve_values,
    template_parameters,
)
from madoguchi.runtime import Runtime
from madoguchi.services import conversations as queries
from madoguchi.services import optout
from madoguchi.services.outbound import OutboundRefused
from madoguchi.services.outbound_contact import start_outbound
from madoguchi.services.templates import (
    TemplateService,
    TemplateServiceError,
    build_template_message,
    flow_variables,
    get_template,
    list_templates,
    resolve_account,
    value_context,
)
from madoguchi.services.tokens import Principal
from madoguchi.services.window import conversation_window, window_facts
from madoguchi.store.models import (
    Contact,
    Conversation,
    MessageTemplate,
    PhoneNumber,
    WhatsAppAccount,
)
from madoguchi.web.deps import any_role, get_runtime, require_role
from madoguchi.web.schemas import ConversationOut, MessageOut

router = APIRouter(prefix="/api/v1", tags=["templates"])
managers = require_role("supervisor")


# ----------------------------------------------------------------------------- shapes


class TemplateParameterOut(BaseModel):
    key: str = Field(description="body.1 | body.first_name | header.1 | header | button.0")
    component: str
    kind: str = Field(description="text | image | video | document | location | url | …")
    example: str | None
    required: bool

    @classmethod
    def of(cls, p: TemplateParameter) -> TemplateParameterOut:
        return cls(
            key=p.key, component=p.component, kind=p.kind, example=p.example, required=p.required
        )


class TemplateOut(BaseModel):
    id: int
    account_id: int
    waba_id: str
    meta_template_id: str | None
    name: str
    language: str
    category: str = Field(description="MARKETING | UTILITY | AUTHENTICATION")
    status: str = Field(description="DRAFT | PENDING | APPROVED | REJECTED | PAUSED | DISABLED…")
    quality_score: str | None = Field(description="GREEN | YELLOW | RED")
    rejected_reason: str | None
    parameter_format: str
    components: list[dict[str, Any]]
    parameters: list[TemplateParameterOut]
    source: str = Field(description="api | apply | meta | webhook")
    last_error: str | None
    submitted_at: datetime | None
    status_updated_at: datetime | None
    synced_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, t: MessageTemplate, waba_id: str) -> TemplateOut:
        return cls(
            id=t.id,
            account_id=t.account_id,
            waba_id=waba_id,
            meta_template_id=t.meta_template_id,
            name=t.name,
            language=t.language,
            category=t.category,
            status=t.status,
            quality_score=t.quality_score,
            rejected_reason=t.rejected_reason,
            parameter_format=t.parameter_format,
            components=t.components or [],
            parameters=[
                TemplateParameterOut.of(p)
                for p in template_parameters(t.components or [], t.category)
            ],
            source=t.source,
            last_error=t.last_error,
            submitted_at=t.submitted_at,
            status_updated_at=t.status_updated_at,
            synced_at=t.synced_at,
            created_at=t.created_at,
            updated_at=t.updated_at,
        )


class TemplateIn(BaseModel):
    waba_id: str | None = Field(None, description="The account (needed with several accounts)")
    account_id: int | None = None
    name: str = Field(description="Lowercase letters, digits and underscores")
    language: str = Field(description="en_US, ja, pt_BR…")
    category: str = Field(description="MARKETING | UTILITY | AUTHENTICATION")
    parameter_format: str | None = Field(None, description="POSITIONAL | NAMED (inferred)")
    components: list[dict[str, Any]] = Field(
        description="Meta's components: HEADER, BODY (with example), FOOTER, BUTTONS"
    )


class SyncIn(BaseModel):
    waba_id: str | None = Field(None, description="One account; every account when omitted")
    account_id: int | None = None


class PreviewIn(BaseModel):
    values: dict[str, Any] = Field(
        default_factory=dict,
        description='Values by key, literal or {"from": "contact.name", "default": "…"}',
    )
    conversation_id: int | None = Field(None, description="Context for references")
    contact_id: int | None = Field(None, description="Context for references")
    use_examples: bool = Field(False, description="Fill missing values with sample values")


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


class PreferenceIn(BaseModel):
    opted_out: bool = Field(description="True: no marketing templates to this customer")


# ----------------------------------------------------------------------------- helpers


def _error(exc: TemplateServiceError | OutboundRefused) -> HTTPException:
    if isinstance(exc, TemplateServiceError):
        return HTTPException(exc.status, exc.detail())
    return HTTPException(exc.status, {"code": exc.code, "message": exc.message})


def _service(runtime: Runtime) -> TemplateService:
    return TemplateService(runtime.db, runtime.graph, runtime.secrets)


async def _waba_ids(session, workspace_id: int) -> dict[int, str]:
    rows = await session.execute(
        select(WhatsAppAccount.id, WhatsAppAccount.waba_id).where(
            WhatsAppAccount.workspace_id == workspace_id
        )
    )
    return {account_id: waba_id for account_id, waba_id in rows}


async def _template_out(runtime: Runtime, principal: Principal, template_id: int) -> TemplateOut:
    async with runtime.db.read() as session:
        row = await get_template(session, principal.workspace_id, template_id)
        if row is None:
            raise HTTPException(404, f"template {template_id} not found")
        wabas = await _waba_ids(session, principal.workspace_id)
        return TemplateOut.of(row, wabas[row.account_id])


async def _contact(session, principal: Principal, contact_id: int) -> Contact:
    contact = await session.scalar(
        select(Contact).where(
            Contact.id == contact_id, Contact.workspace_id == principal.workspace_id
        )
    )
    if contact is None:
        raise HTTPException(404, f"contact {contact_id} not found")
    return contact


async def _conversation(session, principal: Principal, conversation_id: int) -> Conversation:
    conversation = await queries.get_conversation(session, principal.workspace_id, conversation_id)
    if conversation is None or not await queries.visible_to(session, principal, conversation):
        raise HTTPException(404, f"conversation {conversation_id} not found")
    return conversation


# ----------------------------------------------------------------------------- templates


@router.get("/templates", response_model=list[TemplateOut])
async def list_all(
    waba_id: str | None = None,
    status: str | None = Query(None, description="APPROVED, PENDING, REJECTED…"),
    category: str | None = None,
    name: str | None = Query(None, description="Names containing this"),
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """The workspace's templates as last known (sync to refresh from Meta)."""
    async with runtime.db.read() as session:
        account_id = None
        if waba_id:
            try:
                account_id = (
                    await resolve_account(session, principal.workspace_id, waba_id=waba_id)
                ).id
            except TemplateServiceError as exc:
                raise _error(exc) from exc
        rows = await list_templates(
            session,
            principal.workspace_id,
            account_id=account_id,
            status=status,
            category=category,
            name=name,
        )
        wabas = await _waba_ids(session, principal.workspace_id)
        return [TemplateOut.of(r, wabas[r.account_id]) for r in rows]


@router.get("/templates/{template_id}", response_model=TemplateOut)
async def get_one(
    template_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    return await _template_out(runtime, principal, template_id)


@router.post("/templates", response_model=TemplateOut, status_code=201)
async def create(
    request: TemplateIn,
    principal: Principal = Depends(managers),
    runtime: Runtime = Depends(get_runtime),
):
    """Validate (every problem named by field), submit to Meta; PENDING until reviewed."""
    try:
        row = await _service(runtime).create(
            principal.workspace_id,
            request.model_dump(exclude={"waba_id", "account_id"}),
            account_id=request.account_id,
            waba_id=request.waba_id,
        )
    except TemplateServiceError as exc:
        raise _error(exc) from exc
    return await _template_out(runtime, principal, row.id)


@router.delete("/templates/{template_id}", status_code=204)
async def delete(
    template_id: int,
    principal: Principal = Depends(managers),
    runtime: Runtime = Depends(get_runtime),
):
    """Delete this language of the template at Meta, then here."""
    try:
        await _service(runtime).delete(principal.workspace_id, template_id)
    except TemplateServiceError as exc:
        raise _error(exc) from exc
    return Response(status_code=204)


@router.post("/templates/sync")
async def sync(
    request: SyncIn | None = None,
    principal: Principal = Depends(managers),
    runtime: Runtime = Depends(get_runtime),
):
    """Bring templates, statuses and quality in from Meta, and submit declared drafts."""
    service = _service(runtime)
    try:
        if request is not None and (request.waba_id or request.account_id):
            reports = [
                await service.sync(
                    principal.workspace_id, waba_id=request.waba_id, account_id=request.account_id
                )
            ]
        else:
            reports = await service.sync_workspace(principal.workspace_id)
    except TemplateServiceError as exc:
        raise _error(exc) from exc
    return {"accounts": [r.as_dict() for r in reports]}


@router.post("/templates/{template_id}/preview")
async def preview(
    template_id: int,
    request: PreviewIn | None = None,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """The message as the customer would see it, with values filled from the request and
    (for ``{"from": …}`` references) the contact and conversation."""
    request = request or PreviewIn()
    async with runtime.db.read() as session:
        row = await get_template(session, principal.workspace_id, template_id)
        if row is None:
            raise HTTPException(404, f"template {template_id} not found")
        conversation = contact = None
        if request.conversation_id is not None:
            conversation = await _conversation(session, principal, request.conversation_id)
            contact = conversation.contact
        if request.contact_id is not None:
            contact = await _contact(session, principal, request.contact_id)
        variables = await flow_variables(session, conversation.id) if conversation else {}
        context = value_context(contact, conversation, variables)
    resolved, unresolved = resolve_values(request.values, context)
    shown = render_preview(
        row.components or [], resolved, category=row.category, use_examples=request.use_examples
    )
    message = None
    if not shown.missing:
        try:
            message = build_template_message(row, request.values, context).model_dump(
                mode="json", exclude_none=True
            )
        except (TemplateServiceError, TemplateInvalid) as exc:
            detail = exc.detail() if isinstance(exc, TemplateServiceError) else str(exc)
            raise HTTPException(422, detail) from exc
    return {
        "template_id": row.id,
        "status": row.status,
        "category": row.category,
        "preview": shown.to_dict(),
        "unresolved": unresolved,
        "parameters": [
            TemplateParameterOut.of(p).model_dump()
            for p in template_parameters(row.components or [], row.category)
        ],
        "message": message,
    }


# ----------------------------------------------------------------------------- window


@router.get("/conversations/{conversation_id}/window")
async def conversation_service_window(
    conversation_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """WhatsApp's customer service window for this conversation's customer and number."""
    async with runtime.db.read() as session:
        conversation = await _conversation(session, principal, conversation_id)
        facts = await conversation_window(session, conversation)
        return {
            "conversation_id": conversation.id,
            "contact_id": conversation.contact_id,
            "phone_number_id": conversation.phone_number.phone_number_id,
            **facts.describe(datetime.now(UTC)),
        }


@router.get("/contacts/{contact_id}/window")
async def contact_service_window(
    contact_id: int,
    phone_number_id: str | None = Query(None, description="One business number (Meta's id)"),
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """The window with each business number of the workspace (or the one named)."""
    now = datetime.now(UTC)
    async with runtime.db.read() as session:
        contact = await _contact(session, principal, contact_id)
        query = select(PhoneNumber).where(PhoneNumber.workspace_id == principal.workspace_id)
        if phone_number_id:
            query = query.where(PhoneNumber.phone_number_id == phone_number_id)
        numbers = list((await session.scalars(query.order_by(PhoneNumber.id))).all())
        if phone_number_id and not numbers:
            raise HTTPException(404, f"phone number {phone_number_id} not found")
        windows = []
        for number in numbers:
            facts = await window_facts(session, contact.id, number.id)
            windows.append({"phone_number_id": number.phone_number_id, **facts.describe(now)})
    return {"contact_id": contact.id, "windows": windows}


# ----------------------------------------------------------------------------- opt-out


def _preference_out(contact_id: int, preference) -> dict[str, Any]:
    return {
        "contact_id": contact_id,
        "opted_out": bool(preference and preference.opted_out),
        "source": preference.source if preference else None,
        "detail": preference.detail if preference else None,
        "changed_at": preference.changed_at if preference else None,
        "opted_out_at": preference.opted_out_at if preference else None,
    }


@router.get("/contacts/{contact_id}/marketing")
async def marketing_preference(
    contact_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """Whether marketing templates may be sent to this customer, and why not."""
    async with runtime.db.read() as session:
        contact = await _contact(session, principal, contact_id)
        return _preference_out(contact.id, await optout.preference_of(session, contact.id))


@router.put("/contacts/{contact_id}/marketing")
async def set_marketing_preference(
    contact_id: int,
    request: PreferenceIn,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """Record an opt-out (or opt-in) the customer told an agent."""
    async with runtime.db.write() as session:
        contact = await _contact(session, principal, contact_id)
        await optout.set_preference(
            session,
            contact,
            opted_out=request.opted_out,
            source="agent",
            detail=f"set by user {principal.user_id}" if principal.user_id else "set by API",
        )
        return _preference_out(contact.id, await optout.preference_of(session, contact.id))


# ----------------------------------------------------------------------------- outbound


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
        raise _error(exc) from exc
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
