"""``/api/v1/flows``: drafts, validation, publishing, versions, export/import, and the
run log of a conversation. Reading is for supervisors and admins (a flow may hold an
API's credentials in its HTTP headers); changing flows is for admins. Every query is
scoped to the caller's workspace; the rules live in ``services.flows``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.runtime import Runtime
from madoguchi.services.access.tokens import Principal
from madoguchi.services.audit.record import Target, record
from madoguchi.services.flows import definitions, secret_headers
from madoguchi.services.flows.definitions import FlowDocument, FlowError
from madoguchi.store.models import Flow
from madoguchi.web.deps import any_role, get_runtime, require_role
from madoguchi.web.scope import visible_conversation

router = APIRouter(prefix="/api/v1", tags=["flows"])
admin = require_role()
supervisor = require_role("supervisor")


class FlowIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(None, max_length=2000)
    definition: dict[str, Any] = Field(
        default_factory=lambda: {"nodes": [], "edges": []},
        description="The flow document: variables, nodes (widgets), edges (exit → widget)",
    )


class FlowUpdate(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=2000)
    definition: dict[str, Any] | None = None


class DefinitionIn(BaseModel):
    definition: dict[str, Any]
    name: str | None = Field(None, description="The flow's name (a flow cannot route to itself)")


def _http(exc: FlowError) -> HTTPException:
    return HTTPException(exc.status, exc.detail())


@asynccontextmanager
async def _flow(
    runtime: Runtime, principal: Principal, flow_id: int, *, write: bool = False
) -> AsyncIterator[tuple[AsyncSession, Flow]]:
    """The caller's flow ``flow_id`` in a read (or write) transaction; a ``FlowError``
    (here or in the block: a missing flow, a refused change) is answered as HTTP."""
    try:
        async with runtime.db.write() if write else runtime.db.read() as session:
            yield session, await definitions.get_flow(session, principal.workspace_id, flow_id)
    except FlowError as exc:
        raise _http(exc) from exc


async def _detail(session, flow: Flow) -> dict[str, Any]:
    out = await definitions.flow_summary(session, flow)
    out["draft"] = secret_headers.masked(flow.draft)  # secret values: {"set": true|false}
    try:
        definition = definitions.read_definition(flow.draft)
        problems = await definitions.check(session, flow.workspace_id, flow, definition)
    except FlowError as exc:
        problems = exc.problems
    out["problems"] = [p.to_dict() for p in problems]
    return out


def _target(flow: Flow) -> Target:
    return Target("flow", flow.id, flow.name)


def _summary(flow: Flow) -> dict:
    """What an audit entry keeps of a flow: names and a fingerprint of the draft, never
    the draft itself (it may hold an HTTP widget's API key)."""
    draft = json.dumps(flow.draft, sort_keys=True, default=str).encode()
    return {
        "name": flow.name,
        "description": flow.description,
        "published_version": flow.published_version,
        "draft_nodes": len((flow.draft or {}).get("nodes") or []),
        "draft_sha256": hashlib.sha256(draft).hexdigest()[:16],
    }


@router.get("/flows")
async def list_flows(
    principal: Principal = Depends(supervisor), runtime: Runtime = Depends(get_runtime)
):
    async with runtime.db.read() as session:
        rows = (
            await session.scalars(
                select(Flow).where(Flow.workspace_id == principal.workspace_id).order_by(Flow.name)
            )
        ).all()
        return [await definitions.flow_summary(session, flow) for flow in rows]


@router.post("/flows", status_code=201)
async def create_flow(
    body: FlowIn, principal: Principal = Depends(admin), runtime: Runtime = Depends(get_runtime)
):
    try:
        async with runtime.db.write() as session:
            flow = await definitions.create_flow(
                session,
                principal.workspace_id,
                body.name,
                body.definition,
                body.description,
                secrets=runtime.secrets,
            )
            await record(session, principal, "flow.create", _target(flow), None, _summary(flow))
            return await _detail(session, flow)
    except FlowError as exc:
        raise _http(exc) from exc


@router.post("/flows/validate")
async def validate_definition(
    body: DefinitionIn,
    principal: Principal = Depends(supervisor),
    runtime: Runtime = Depends(get_runtime),
):
    """Check a document without saving it (the editor's live check)."""
    try:
        definition = definitions.read_definition(body.definition)
    except FlowError as exc:
        return {"valid": False, "problems": [p.to_dict() for p in exc.problems]}
    async with runtime.db.read() as session:
        context = await definitions.validation_context(session, principal.workspace_id, body.name)
    problems = definitions.all_problems(definition, context)
    return {"valid": not problems, "problems": [p.to_dict() for p in problems]}


@router.post("/flows/import", status_code=201)
async def import_flow(
    document: FlowDocument,
    replace: bool = Query(False, description="Replace the draft of the flow of that name"),
    name: str | None = Query(None, description="Import under another name"),
    principal: Principal = Depends(admin),
    runtime: Runtime = Depends(get_runtime),
):
    try:
        async with runtime.db.write() as session:
            flow, created = await definitions.import_document(
                session,
                principal.workspace_id,
                document,
                name=name,
                replace=replace,
                secrets=runtime.secrets,
            )
            action = "flow.import" if created else "flow.import_replace"
            await record(session, principal, action, _target(flow), None, _summary(flow))
            out = await _detail(session, flow)
            out["created"] = created
            return out
    except FlowError as exc:
        raise _http(exc) from exc


@router.get("/flows/{flow_id}")
async def get_flow(
    flow_id: int,
    principal: Principal = Depends(supervisor),
    runtime: Runtime = Depends(get_runtime),
):
    async with _flow(runtime, principal, flow_id) as (session, flow):
        return await _detail(session, flow)


@router.put("/flows/{flow_id}")
async def update_flow(
    flow_id: int,
    body: FlowUpdate,
    principal: Principal = Depends(admin),
    runtime: Runtime = Depends(get_runtime),
):
    """Save the draft (published versions never change)."""
    async with _flow(runtime, principal, flow_id, write=True) as (session, flow):
        before = _summary(flow)
        await definitions.update_draft(
            session,
            flow,
            name=body.name,
            description=body.description,
            definition=body.definition,
            secrets=runtime.secrets,
        )
        after = _summary(flow)
        await record(session, principal, "flow.save", _target(flow), before, after)
        return await _detail(session, flow)


@router.delete("/flows/{flow_id}", status_code=204)
async def delete_flow(
    flow_id: int, principal: Principal = Depends(admin), runtime: Runtime = Depends(get_runtime)
):
    async with _flow(runtime, principal, flow_id, write=True) as (session, flow):
        await record(session, principal, "flow.delete", _target(flow), _summary(flow), None)
        await definitions.delete_flow(session, flow)
    return Response(status_code=204)


@router.post("/flows/{flow_id}/validate")
async def validate_draft(
    flow_id: int,
    principal: Principal = Depends(supervisor),
    runtime: Runtime = Depends(get_runtime),
):
    try:
        async with runtime.db.read() as session:
            flow = await definitions.get_flow(session, principal.workspace_id, flow_id)
            definition = definitions.read_definition(flow.draft)
            problems = await definitions.check(session, principal.workspace_id, flow, definition)
    except FlowError as exc:
        if exc.status == 404:
            raise _http(exc) from exc
        problems = exc.problems
    return {"valid": not problems, "problems": [p.to_dict() for p in problems]}


@router.post("/flows/{flow_id}/publish", status_code=201)
async def publish_flow(
    flow_id: int, principal: Principal = Depends(admin), runtime: Runtime = Depends(get_runtime)
):
    """Validate the draft and publish it as the next version. New conversations start on
    it; conversations already in the flow finish on the version they started with."""
    async with _flow(runtime, principal, flow_id, write=True) as (session, flow):
        before = _summary(flow)
        version = await definitions.publish(session, flow, user_id=principal.user_id)
        after = _summary(flow)
        await record(session, principal, "flow.publish", _target(flow), before, after)
        out = definitions.version_out(version)
        out["numbers"] = await definitions.bound_numbers(session, flow)
        return out


@router.post("/flows/{flow_id}/unbind")
async def unbind_flow(
    flow_id: int, principal: Principal = Depends(admin), runtime: Runtime = Depends(get_runtime)
):
    """New conversations on its numbers stop starting this flow (until the next publish)."""
    async with _flow(runtime, principal, flow_id, write=True) as (session, flow):
        await definitions.unbind(session, flow)
        await record(session, principal, "flow.unbind", _target(flow), None, _summary(flow))
        return await definitions.flow_summary(session, flow)


@router.get("/flows/{flow_id}/versions")
async def list_versions(
    flow_id: int,
    principal: Principal = Depends(supervisor),
    runtime: Runtime = Depends(get_runtime),
):
    """Published versions, newest first: when, by whom, and which one is live."""
    async with _flow(runtime, principal, flow_id) as (session, flow):
        return await definitions.published_versions(session, flow)


@router.get("/flows/{flow_id}/versions/{number}")
async def get_version(
    flow_id: int,
    number: int,
    principal: Principal = Depends(supervisor),
    runtime: Runtime = Depends(get_runtime),
):
    async with _flow(runtime, principal, flow_id) as (session, flow):
        return definitions.version_out(await definitions.get_version(session, flow, number))


class RestoreIn(BaseModel):
    expected_updated_at: str | None = Field(
        None,
        description="The flow's updated_at as you last read it: 409 if it changed since",
    )


@router.post("/flows/{flow_id}/versions/{number}/restore")
async def restore_version(
    flow_id: int,
    number: int,
    body: RestoreIn | None = None,
    principal: Principal = Depends(admin),
    runtime: Runtime = Depends(get_runtime),
):
    """Copy a published version into the draft (nothing is published); answers the flow
    with its new draft and the draft's problems."""
    async with _flow(runtime, principal, flow_id, write=True) as (session, flow):
        before = _summary(flow)
        await definitions.restore_version(
            session,
            flow,
            number,
            expected_updated_at=body.expected_updated_at if body else None,
        )
        after = {**_summary(flow), "restored_version": number}
        await record(session, principal, "flow.restore", _target(flow), before, after)
        return await _detail(session, flow)


@router.get("/flows/{flow_id}/export")
async def export_flow(
    flow_id: int,
    version: int | None = Query(None, description="A published version (default: the draft)"),
    principal: Principal = Depends(supervisor),
    runtime: Runtime = Depends(get_runtime),
):
    async with _flow(runtime, principal, flow_id) as (session, flow):
        definition = flow.draft
        if version is not None:
            row = await definitions.get_version(session, flow, version)
            definition = row.definition
        document = definitions.export_document(flow, definition, version)
    filename = f"{flow.name}{f'-v{version}' if version else ''}.json".replace('"', "")
    return Response(
        content=_json(document),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _json(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=2).encode()


@router.get("/flows/{flow_id}/funnel")
async def flow_funnel(
    flow_id: int,
    principal: Principal = Depends(supervisor),
    runtime: Runtime = Depends(get_runtime),
):
    """How many runs are at (or stopped at) each widget, by version and status: where
    customers leave the flow."""
    async with _flow(runtime, principal, flow_id) as (session, flow):
        return await definitions.funnel(session, flow)


@router.get("/conversations/{conversation_id}/flow")
async def conversation_flow_log(
    conversation_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """The flow runs of a conversation and every step they took (oldest first)."""
    async with runtime.db.read() as session:
        conversation = await visible_conversation(session, principal, conversation_id)
        return await definitions.run_log(session, conversation.id)
