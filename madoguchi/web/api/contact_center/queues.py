"""``/api/v1/queues``: queue settings and members (admins), waiting counts (everyone)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Response
from sqlalchemy import func, select

from madoguchi.domain.events import QueueSettingsChanged
from madoguchi.runtime import Runtime
from madoguchi.services.access.tokens import Principal
from madoguchi.services.audit.record import Target, record
from madoguchi.services.channel.conversation_threads import CLOSED_STATUSES
from madoguchi.services.contact_center import assignment
from madoguchi.services.contact_center.queues import (
    QueueError,
    QueueSpec,
    queue_spec_of,
    upsert_queue,
)
from madoguchi.store.models import (
    Conversation,
    Queue,
)
from madoguchi.web.api.contact_center.common import (
    admin,
    http_error,
)
from madoguchi.web.deps import any_role, get_runtime

router = APIRouter(prefix="/api/v1", tags=["contact center"])


@router.get("/queues")
async def list_queues(
    principal: Principal = Depends(any_role), runtime: Runtime = Depends(get_runtime)
):
    async with runtime.db.read() as session:
        rows = (
            await session.scalars(
                select(Queue)
                .where(Queue.workspace_id == principal.workspace_id)
                .order_by(Queue.name)
            )
        ).all()
        out = []
        for queue in rows:
            doc = await queue_spec_of(session, queue)
            doc["waiting"] = await assignment.waiting_count(session, queue.id)
            out.append(_for(principal, doc))
        return out


def _for(principal: Principal, doc: dict) -> dict:
    """Members' e-mail addresses are for admins and supervisors; the directory promises
    agents names only."""
    if principal.role == "agent":
        doc["members"] = [
            {k: v for k, v in m.items() if k != "email"} for m in doc.get("members", [])
        ]
    return doc


@router.get("/queues/{queue_id}")
async def get_queue(
    queue_id: int, principal: Principal = Depends(any_role), runtime: Runtime = Depends(get_runtime)
):
    async with runtime.db.read() as session:
        queue = await session.scalar(
            select(Queue).where(Queue.id == queue_id, Queue.workspace_id == principal.workspace_id)
        )
        if queue is None:
            raise HTTPException(404, f"queue {queue_id} not found")
        doc = await queue_spec_of(session, queue)
        doc["waiting"] = await assignment.waiting_count(session, queue.id)
        return _for(principal, doc)


@router.post("/queues", status_code=201)
async def create_queue(
    spec: QueueSpec, principal: Principal = Depends(admin), runtime: Runtime = Depends(get_runtime)
):
    try:
        async with runtime.db.write() as session:
            exists = await session.scalar(
                select(Queue.id).where(
                    Queue.workspace_id == principal.workspace_id, Queue.name == spec.name
                )
            )
            if exists:
                raise QueueError("name", f"a queue named {spec.name!r} exists", 409)
            queue, _ = await upsert_queue(session, principal.workspace_id, spec)
            doc = await queue_spec_of(session, queue)
            await record(session, principal, "queue.create", _target(queue), None, doc)
            created = queue.id
    except QueueError as exc:
        raise http_error(exc) from exc
    await _announce(runtime, principal, created)
    return doc


@router.put("/queues/{queue_id}")
async def update_queue(
    queue_id: int,
    spec: QueueSpec,
    principal: Principal = Depends(admin),
    runtime: Runtime = Depends(get_runtime),
):
    try:
        async with runtime.db.write() as session:
            queue = await session.scalar(
                select(Queue).where(
                    Queue.id == queue_id, Queue.workspace_id == principal.workspace_id
                )
            )
            if queue is None:
                raise QueueError("queue_id", f"queue {queue_id} not found", 404)
            before = await queue_spec_of(session, queue)
            queue, _ = await upsert_queue(session, principal.workspace_id, spec, queue)
            doc = await queue_spec_of(session, queue)
            await record(session, principal, "queue.update", _target(queue), before, doc)
    except QueueError as exc:
        raise http_error(exc) from exc
    await _announce(runtime, principal, queue_id)
    return doc


@router.delete("/queues/{queue_id}", status_code=204)
async def delete_queue(
    queue_id: int, principal: Principal = Depends(admin), runtime: Runtime = Depends(get_runtime)
):
    async with runtime.db.write() as session:
        queue = await session.scalar(
            select(Queue).where(Queue.id == queue_id, Queue.workspace_id == principal.workspace_id)
        )
        if queue is None:
            raise HTTPException(404, f"queue {queue_id} not found")
        open_count = await session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(
                Conversation.queue_id == queue_id,
                Conversation.status.not_in(CLOSED_STATUSES),
            )
        )
        if open_count:
            raise HTTPException(
                409, f"queue {queue.name} still has {open_count} open conversations"
            )
        before = await queue_spec_of(session, queue)
        await record(session, principal, "queue.delete", _target(queue), before, None)
        await session.delete(queue)
    await _announce(runtime, principal, queue_id)
    return Response(status_code=204)


async def _announce(runtime: Runtime, principal: Principal, queue_id: int) -> None:
    """Tell every process (live sockets' scopes, wallboards) that a queue changed."""
    await runtime.bus.publish([QueueSettingsChanged(principal.workspace_id, queue_id=queue_id)])


def _target(queue: Queue) -> Target:
    return Target("queue", queue.id, queue.name)
