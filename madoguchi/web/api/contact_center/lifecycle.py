"""``/api/v1/conversations/{id}/…`` lifecycle: queue, accept, decline, transfer, wrap-up,
close; the event log, notes, tags; and a contact's history. The router only translates
HTTP to the use cases in ``services.contact_center.assignment`` and back."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import delete, select

from madoguchi.domain.events import TagsChanged
from madoguchi.runtime import Runtime
from madoguchi.services.access.tokens import Principal
from madoguchi.services.contact_center import assignment
from madoguchi.services.contact_center import conversations as queries
from madoguchi.services.contact_center.assignment import RoutingError
from madoguchi.store.models import (
    ConversationEvent,
    ConversationTag,
    Note,
    User,
)
from madoguchi.web.api.contact_center.common import (
    http_error,
    owner_or_supervisor,
    refuse_if_closed,
    run_outcome,
    state_of,
    supervisor,
    user_id_of,
    visible_conversation,
)
from madoguchi.web.deps import any_role, get_runtime
from madoguchi.web.schemas import ConversationOut
from madoguchi.web.scope import visible_contact

router = APIRouter(prefix="/api/v1", tags=["contact center"])


class QueueIn(BaseModel):
    queue_id: int
    priority: int | None = Field(None, ge=0, le=100)


class TransferIn(BaseModel):
    queue_id: int | None = None
    agent_id: int | None = None
    note: str | None = Field(None, max_length=4000)


class CloseIn(BaseModel):
    disposition: str | None = None
    reason: str | None = Field(None, max_length=200)


@router.post("/conversations/{conversation_id}/queue", response_model=ConversationOut)
async def queue_conversation(
    conversation_id: int,
    body: QueueIn,
    principal: Principal = Depends(supervisor),
    runtime: Runtime = Depends(get_runtime),
):
    """Route a conversation that is not in a queue yet (new, or in a flow) to a queue."""
    refuse_if_closed(await visible_conversation(runtime, principal, conversation_id))
    try:
        outcome, landed = await assignment.enqueue(
            runtime.db,
            principal.workspace_id,
            conversation_id,
            body.queue_id,
            actor_id=principal.user_id,
            priority=body.priority,
        )
    except RoutingError as exc:
        raise http_error(exc) from exc
    await runtime.bus.publish(outcome.events)
    await runtime.routing.kick(landed.id)
    return await state_of(runtime, principal, conversation_id)


@router.post("/conversations/{conversation_id}/accept", response_model=ConversationOut)
async def accept_offer(
    conversation_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    await visible_conversation(runtime, principal, conversation_id)  # 404 when not offered
    await run_outcome(
        runtime,
        assignment.accept(
            runtime.db, principal.workspace_id, conversation_id, user_id_of(principal)
        ),
    )
    return await state_of(runtime, principal, conversation_id)


@router.post("/conversations/{conversation_id}/decline", response_model=ConversationOut)
async def decline_offer(
    conversation_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    await visible_conversation(runtime, principal, conversation_id)  # 404 when not offered
    await run_outcome(
        runtime,
        assignment.decline(
            runtime.db, principal.workspace_id, conversation_id, user_id_of(principal)
        ),
    )
    return await state_of(runtime, principal, conversation_id)


@router.post("/conversations/{conversation_id}/transfer", response_model=ConversationOut)
async def transfer(
    conversation_id: int,
    body: TransferIn,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    conversation = await visible_conversation(runtime, principal, conversation_id)
    refuse_if_closed(conversation)
    actor = owner_or_supervisor(principal, conversation)
    await run_outcome(
        runtime,
        assignment.transfer(
            runtime.db,
            principal.workspace_id,
            conversation_id,
            actor_id=actor,
            queue_id=body.queue_id,
            agent_id=body.agent_id,
            note=body.note,
        ),
    )
    return await state_of(runtime, principal, conversation_id)


@router.post("/conversations/{conversation_id}/wrap-up", response_model=ConversationOut)
async def wrap_up(
    conversation_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    conversation = await visible_conversation(runtime, principal, conversation_id)
    refuse_if_closed(conversation)
    actor = owner_or_supervisor(principal, conversation)
    await run_outcome(
        runtime, assignment.wrap_up(runtime.db, principal.workspace_id, conversation_id, actor)
    )
    return await state_of(runtime, principal, conversation_id)


@router.post("/conversations/{conversation_id}/close", response_model=ConversationOut)
async def close(
    conversation_id: int,
    body: CloseIn,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    conversation = await visible_conversation(runtime, principal, conversation_id)
    refuse_if_closed(conversation)
    actor = owner_or_supervisor(principal, conversation)
    await run_outcome(
        runtime,
        assignment.close(
            runtime.db,
            principal.workspace_id,
            conversation_id,
            actor_id=actor,
            disposition=body.disposition,
            reason=body.reason,
            require_disposition=True,
        ),
    )
    return await state_of(runtime, principal, conversation_id)


@router.get("/conversations/{conversation_id}/events")
async def conversation_events(
    conversation_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """Every lifecycle step, oldest first: the raw material of reporting."""
    await visible_conversation(runtime, principal, conversation_id)
    async with runtime.db.read() as session:
        rows = (
            await session.scalars(
                select(ConversationEvent)
                .where(
                    ConversationEvent.conversation_id == conversation_id,
                    ConversationEvent.workspace_id == principal.workspace_id,
                )
                .order_by(ConversationEvent.id)
            )
        ).all()
        return [
            {
                "id": e.id,
                "type": e.type,
                "from_status": e.from_status,
                "to_status": e.to_status,
                "actor_user_id": e.actor_user_id,
                "agent_id": e.agent_id,
                "queue_id": e.queue_id,
                "reason": e.reason,
                "data": e.data,
                "at": e.at,
            }
            for e in rows
        ]


class NoteIn(BaseModel):
    body: str = Field(min_length=1, max_length=4000)


class TagsIn(BaseModel):
    tags: list[str] = Field(max_length=50)


@router.get("/conversations/{conversation_id}/notes")
async def list_notes(
    conversation_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    await visible_conversation(runtime, principal, conversation_id)
    async with runtime.db.read() as session:
        rows = (
            await session.execute(
                select(Note, User.name)
                .outerjoin(User, User.id == Note.author_id)
                .where(
                    Note.conversation_id == conversation_id,
                    Note.workspace_id == principal.workspace_id,
                )
                .order_by(Note.id)
            )
        ).all()
        return [
            {
                "id": n.id,
                "author_id": n.author_id,
                "author_name": name,
                "body": n.body,
                "created_at": n.created_at,
            }
            for n, name in rows
        ]


@router.post("/conversations/{conversation_id}/notes", status_code=201)
async def add_note(
    conversation_id: int,
    body: NoteIn,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """An internal note: visible to the team, never sent to the customer."""
    from madoguchi.domain.events import NoteAdded

    await visible_conversation(runtime, principal, conversation_id)
    async with runtime.db.write() as session:
        note = Note(
            workspace_id=principal.workspace_id,
            conversation_id=conversation_id,
            author_id=principal.user_id,
            body=body.body,
        )
        session.add(note)
        await session.flush()
        author = await session.get(User, note.author_id) if note.author_id else None
        out = {
            "id": note.id,
            "author_id": note.author_id,
            "author_name": author.name if author else None,
            "body": note.body,
            "created_at": note.created_at,
        }
    await runtime.bus.publish(
        [
            NoteAdded(
                workspace_id=principal.workspace_id,
                conversation_id=conversation_id,
                note_id=out["id"],
                author_id=principal.user_id,
            )
        ]
    )
    return out


@router.put("/conversations/{conversation_id}/tags")
async def set_tags(
    conversation_id: int,
    body: TagsIn,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    await visible_conversation(runtime, principal, conversation_id)
    tags = sorted({t.strip().lower() for t in body.tags if t.strip()})
    if any(len(t) > 64 for t in tags):
        raise HTTPException(422, {"field": "tags", "message": "a tag has at most 64 characters"})
    async with runtime.db.write() as session:
        await session.execute(
            delete(ConversationTag).where(ConversationTag.conversation_id == conversation_id)
        )
        for tag in tags:
            session.add(
                ConversationTag(
                    workspace_id=principal.workspace_id, conversation_id=conversation_id, tag=tag
                )
            )
    await runtime.bus.publish(
        [
            TagsChanged(
                workspace_id=principal.workspace_id,
                conversation_id=conversation_id,
                tags=tuple(tags),
            )
        ]
    )
    return {"tags": tags}


@router.get("/conversations/{conversation_id}/tags")
async def get_tags(
    conversation_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    await visible_conversation(runtime, principal, conversation_id)
    async with runtime.db.read() as session:
        tags = (
            await session.scalars(
                select(ConversationTag.tag)
                .where(ConversationTag.conversation_id == conversation_id)
                .order_by(ConversationTag.tag)
            )
        ).all()
    return {"tags": list(tags)}


@router.get("/contacts/{contact_id}/conversations", response_model=list[ConversationOut])
async def contact_history(
    contact_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """The customer's conversations the caller may see, newest first (the history beside
    the chat)."""
    async with runtime.db.read() as session:
        await visible_contact(session, principal, contact_id)
        rows = await queries.list_conversations(
            session, principal.workspace_id, contact_id=contact_id, limit=200, principal=principal
        )
        return [ConversationOut.of(c) for c in rows]
