"""``/api/v1/templates``: list, create, submit, sync, delete and preview message templates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response
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
from madoguchi.services.access.tokens import Principal
from madoguchi.services.audit.record import Target, record
from madoguchi.services.channel.outbox import OutboundRefused
from madoguchi.services.templates.catalog import (
    TemplateService,
    TemplateServiceError,
    build_template_message,
    flow_variables,
    get_template,
    list_templates,
    resolve_account,
    value_context,
)
from madoguchi.store.models import (
    MessageTemplate,
    WhatsAppAccount,
)
from madoguchi.web.deps import any_role, get_runtime, require_role
from madoguchi.web.scope import visible_contact, visible_conversation

router = APIRouter(prefix="/api/v1", tags=["templates"])


managers = require_role("supervisor")


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


def template_error(exc: TemplateServiceError | OutboundRefused) -> HTTPException:
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
                raise template_error(exc) from exc
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
        raise template_error(exc) from exc
    out = await _template_out(runtime, principal, row.id)
    after = out.model_dump(mode="json", include={"name", "language", "category", "components"})
    await _audit(runtime, principal, "template.create", out, None, after)
    return out


async def _audit(runtime: Runtime, principal: Principal, action: str, out, before, after):
    """The template service commits on its own (Meta is asked in between): the entry
    follows in its own write."""
    async with runtime.db.write() as session:
        target = Target("template", out.id, f"{out.name} ({out.language})")
        await record(session, principal, action, target, before, after)


@router.delete("/templates/{template_id}", status_code=204)
async def delete(
    template_id: int,
    principal: Principal = Depends(managers),
    runtime: Runtime = Depends(get_runtime),
):
    """Delete this language of the template at Meta, then here."""
    before = await _template_out(runtime, principal, template_id)
    try:
        await _service(runtime).delete(principal.workspace_id, template_id)
    except TemplateServiceError as exc:
        raise template_error(exc) from exc
    fields = before.model_dump(mode="json", include={"name", "language", "category", "status"})
    await _audit(runtime, principal, "template.delete", before, fields, None)
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
        raise template_error(exc) from exc
    accounts = [r.as_dict() for r in reports]
    async with runtime.db.write() as session:
        target = Target("templates", None, "sync with Meta")
        await record(session, principal, "template.sync", target, None, {"accounts": accounts})
    return {"accounts": accounts}


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
            conversation = await visible_conversation(session, principal, request.conversation_id)
            contact = conversation.contact
        if request.contact_id is not None:
            contact = await visible_contact(session, principal, request.contact_id)
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
