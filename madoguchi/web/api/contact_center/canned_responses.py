"""``/api/v1`` canned responses: quick replies an agent picks by ``/shortcut``.

Every query is scoped by the caller's workspace; a row of another workspace is a 404.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from madoguchi.runtime import Runtime
from madoguchi.services.access.tokens import Principal
from madoguchi.services.audit.record import Target, record
from madoguchi.store.models import CannedResponse
from madoguchi.web.deps import admin_only, any_role, get_runtime

router = APIRouter(prefix="/api/v1", tags=["canned responses"])

SHORTCUT_PATTERN = r"^[a-z0-9_-]{1,32}$"
BODY_MAX = 4096


class CannedIn(BaseModel):
    shortcut: str = Field(
        pattern=SHORTCUT_PATTERN,
        description="what the agent types after `/`: 1–32 of a-z, 0-9, `_`, `-`",
    )
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(
        min_length=1,
        max_length=BODY_MAX,
        description="the text inserted; `{{contact.name}}` becomes the customer's name",
    )


class CannedOut(BaseModel):
    id: int
    shortcut: str
    title: str
    body: str
    created_at: datetime
    updated_at: datetime


def _out(row: CannedResponse) -> CannedOut:
    return CannedOut(
        id=row.id,
        shortcut=row.shortcut,
        title=row.title,
        body=row.body,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _field_error(status: int, field: str, message: str) -> HTTPException:
    return HTTPException(status, {"field": field, "message": message})


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def _own(session, principal: Principal, canned_id: int) -> CannedResponse:
    row = await session.scalar(
        select(CannedResponse).where(
            CannedResponse.id == canned_id,
            CannedResponse.workspace_id == principal.workspace_id,
        )
    )
    if row is None:
        raise HTTPException(404, f"canned response {canned_id} not found")
    return row


async def _shortcut_taken(
    session, principal: Principal, shortcut: str, except_id: int | None = None
) -> bool:
    query = select(CannedResponse.id).where(
        CannedResponse.workspace_id == principal.workspace_id,
        CannedResponse.shortcut == shortcut,
    )
    if except_id is not None:
        query = query.where(CannedResponse.id != except_id)
    return (await session.scalar(query)) is not None


def _taken(shortcut: str) -> HTTPException:
    return _field_error(409, "shortcut", f"the shortcut /{shortcut} is already in use")


@router.get("/canned-responses", response_model=list[CannedOut])
async def list_canned_responses(
    q: str | None = Query(None, max_length=200, description="shortcut or title prefix"),
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    query = select(CannedResponse).where(CannedResponse.workspace_id == principal.workspace_id)
    prefix = (q or "").strip().lstrip("/")
    if prefix:
        pattern = _escape_like(prefix.lower()) + "%"
        query = query.where(
            or_(
                CannedResponse.shortcut.like(pattern, escape="\\"),
                CannedResponse.title.ilike(_escape_like(prefix) + "%", escape="\\"),
            )
        )
    async with runtime.db.read() as session:
        rows = (await session.scalars(query.order_by(CannedResponse.shortcut))).all()
        return [_out(row) for row in rows]


@router.post("/canned-responses", status_code=201, response_model=CannedOut)
async def create_canned_response(
    spec: CannedIn,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    try:
        async with runtime.db.write() as session:
            if await _shortcut_taken(session, principal, spec.shortcut):
                raise _taken(spec.shortcut)
            row = CannedResponse(
                workspace_id=principal.workspace_id,
                shortcut=spec.shortcut,
                title=spec.title,
                body=spec.body,
            )
            session.add(row)
            await session.flush()
            await session.refresh(row)
            out = _out(row)
            await record(session, principal, "canned.create", _target(row), None, _fields(out))
            return out
    except IntegrityError as exc:  # a concurrent create won the race
        raise _taken(spec.shortcut) from exc


@router.put("/canned-responses/{canned_id}", response_model=CannedOut)
async def update_canned_response(
    canned_id: int,
    spec: CannedIn,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    try:
        async with runtime.db.write() as session:
            row = await _own(session, principal, canned_id)
            before = _fields(_out(row))
            if await _shortcut_taken(session, principal, spec.shortcut, except_id=row.id):
                raise _taken(spec.shortcut)
            row.shortcut = spec.shortcut
            row.title = spec.title
            row.body = spec.body
            await session.flush()
            await session.refresh(row)
            out = _out(row)
            await record(session, principal, "canned.update", _target(row), before, _fields(out))
            return out
    except IntegrityError as exc:
        raise _taken(spec.shortcut) from exc


@router.delete("/canned-responses/{canned_id}", status_code=204)
async def delete_canned_response(
    canned_id: int,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    async with runtime.db.write() as session:
        row = await _own(session, principal, canned_id)
        await record(session, principal, "canned.delete", _target(row), _fields(_out(row)), None)
        await session.delete(row)
    return Response(status_code=204)


def _target(row: CannedResponse) -> Target:
    return Target("canned_response", row.id, row.shortcut)


def _fields(out: CannedOut) -> dict:
    return out.model_dump(mode="json", include={"shortcut", "title", "body"})
