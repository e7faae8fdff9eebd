"""``/api/v1`` queues, presence and the conversation lifecycle (offers, transfers,
wrap-up, notes, tags, history). The router only translates HTTP to the use cases in
``services.routing`` / ``services.agents`` / ``services.queues`` and back."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import BaseModel, Field
from sqlalchemy import delete, func, select

from madoguchi.runtime import Runtime
from madoguchi.services import agents, routing
from madoguchi.services import conversations as queries
from madoguchi.services.queues import QueueError, QueueSpec, queue_spec_of, upsert_queue
from madoguchi.services.routing import Outcome, RoutingError
from madoguchi.services.tokens import Principal
from madoguchi.store.models import (
    AgentPresence,
    Conversation,
    ConversationEvent,
    ConversationTag,
    Note,
    Queue,
    User,
)
from madoguchi.web.deps import any_role, get_runtime, require_role
from madoguchi.web.schemas import ConversationOut

router = APIRouter(prefix="/api/v1", tags=["contact center"])
admin = require_role()
supervisor = require_role("supervisor")


def _http(exc: RoutingError | QueueError) -> HTTPException:
    if isinstance(exc, QueueError):
        return HTTPException(exc.status, {"field": exc.field, "message": exc.message})
    return HTTPException(exc.status, exc.message)


async def _run(runtime: Runtime, coro) -> Outcome:
    try:
        outcome = await coro
    except (RoutingError, QueueError) as exc:
        raise _http(exc) from exc
    await runtime.bus.publish(outcome.events)
    return outcome


def _user_id(principal: Principal) -> int:
    if principal.user_id is None:
        raise HTTPException(
            403,
            "this needs a signed-in user (or an API token created for a user), not a "
            "workspace token",
        )
    return principal.user_id


async def _visible_conversation(
    runtime: Runtime, principal: Principal, conversation_id: int
) -> Conversation:
    async with runtime.db.read() as session:
        conversation = await queries.get_conversation(
            session, principal.workspace_id, conversation_id
        )
        if conversation is None or not await queries.visible_to(session, principal, conversation):
            raise HTTPException(404, f"conversation {conversation_id} not found")
        return conversation


def _owner_or_supervisor(principal: Principal, conversation: Conversation) -> int | None:
    """Agents act on their own conversations; supervisors and admins on any."""
    if principal.role in ("admin", "supervisor"):
        return principal.user_id
    user_id = _user_id(principal)
    if conversation.assigned_agent_id != user_id:
        raise HTTPException(403, "this conversation is not assigned to you")
    return user_id


# ---------------------------------------------------------------------------- queues


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
            doc["waiting"] = await routing.waiting_count(session, queue.id)
            out.append(doc)
        return out


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
        doc["waiting"] = await routing.waiting_count(session, queue.id)
        return doc


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
            return await queue_spec_of(session, queue)
    except QueueError as exc:
        raise _http(exc) from exc


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
            queue, _ = await upsert_queue(session, principal.workspace_id, spec, queue)
            return await queue_spec_of(session, queue)
    except QueueError as exc:
        raise _http(exc) from exc


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
                Conversation.status.not_in(queries.CLOSED_STATUSES),
            )
        )
        if open_count:
            raise HTTPException(
                409, f"queue {queue.name} still has {open_count} open conversations"
            )
        await session.delete(queue)
    return Response(status_code=204)


# ---------------------------------------------------------------------------- agents


class PresenceIn(BaseModel):
    status: str = Field(description="offline | available | away")
    away_reason: str | None = Field(None, max_length=100)


@router.get("/agents")
async def list_agents(
    principal: Principal = Depends(supervisor), runtime: Runtime = Depends(get_runtime)
):
    """Agents with presence and the work they hold (for supervisors)."""
    async with runtime.db.read() as session:
        users = (
            await session.scalars(
                select(User)
                .where(User.workspace_id == principal.workspace_id, User.disabled.is_(False))
                .order_by(User.name)
            )
        ).all()
        presence = {
            p.user_id: p
            for p in await session.scalars(
                select(AgentPresence).where(AgentPresence.workspace_id == principal.workspace_id)
            )
        }
        loads = dict(
            (
                await session.execute(
                    select(Conversation.assigned_agent_id, func.count())
                    .where(
                        Conversation.workspace_id == principal.workspace_id,
                        Conversation.status.in_(("active", "wrap_up")),
                    )
                    .group_by(Conversation.assigned_agent_id)
                )
            ).all()
        )
        return [
            {
                "user_id": u.id,
                "name": u.name,
                "email": u.email,
                "role": u.role,
                "presence": presence[u.id].status if u.id in presence else "offline",
                "away_reason": presence[u.id].away_reason if u.id in presence else None,
                "open_conversations": loads.get(u.id, 0),
            }
            for u in users
        ]


class DirectoryOut(BaseModel):
    user_id: int
    name: str
    role: str
    presence: str = Field(description="offline | available | away")
    open_conversations: int = Field(description="Offered, active or in wrap-up with them")
    capacity: int = Field(description="How many they may hold at once")
    has_capacity: bool = Field(description="open_conversations < capacity")


@router.get("/agents/directory", response_model=list[DirectoryOut])
async def agents_directory(
    queue_id: int | None = None,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """Colleagues anyone signed in may see, to transfer to a named person: name, role,
    presence, load and whether they have room (against ``queue_id``'s capacity when given;
    pass the conversation's queue). No e-mail addresses."""
    try:
        async with runtime.db.read() as session:
            entries = await agents.directory(session, principal.workspace_id, queue_id=queue_id)
    except RoutingError as exc:
        raise _http(exc) from exc
    return [DirectoryOut(**asdict(entry)) for entry in entries]


@router.put("/agents/me/presence")
async def set_my_presence(
    body: PresenceIn,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    await _run(
        runtime,
        agents.set_presence(
            runtime.db, principal.workspace_id, _user_id(principal), body.status, body.away_reason
        ),
    )
    return {"user_id": principal.user_id, "status": body.status, "away_reason": body.away_reason}


@router.put("/agents/{user_id}/presence")
async def set_agent_presence(
    user_id: int,
    body: PresenceIn,
    principal: Principal = Depends(supervisor),
    runtime: Runtime = Depends(get_runtime),
):
    await _run(
        runtime,
        agents.set_presence(
            runtime.db, principal.workspace_id, user_id, body.status, body.away_reason
        ),
    )
    return {"user_id": user_id, "status": body.status, "away_reason": body.away_reason}


# ---------------------------------------------------------------------------- lifecycle


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


async def _state(runtime: Runtime, principal: Principal, conversation_id: int) -> ConversationOut:
    async with runtime.db.read() as session:
        conversation = await queries.get_conversation(
            session, principal.workspace_id, conversation_id
        )
        return ConversationOut.of(conversation)


@router.post("/conversations/{conversation_id}/queue", response_model=ConversationOut)
async def queue_conversation(
    conversation_id: int,
    body: QueueIn,
    principal: Principal = Depends(supervisor),
    runtime: Runtime = Depends(get_runtime),
):
    """Route a conversation that is not in a queue yet (new, or in a flow) to a queue."""
    try:
        outcome, landed = await routing.enqueue(
            runtime.db,
            principal.workspace_id,
            conversation_id,
            body.queue_id,
            actor_id=principal.user_id,
            priority=body.priority,
        )
    except RoutingError as exc:
        raise _http(exc) from exc
    await runtime.bus.publish(outcome.events)
    await runtime.routing.kick(landed.id)
    return await _state(runtime, principal, conversation_id)


@router.post("/conversations/{conversation_id}/accept", response_model=ConversationOut)
async def accept_offer(
    conversation_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    await _run(
        runtime,
        routing.accept(runtime.db, principal.workspace_id, conversation_id, _user_id(principal)),
    )
    return await _state(runtime, principal, conversation_id)


@router.post("/conversations/{conversation_id}/decline", response_model=ConversationOut)
async def decline_offer(
    conversation_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    await _run(
        runtime,
        routing.decline(runtime.db, principal.workspace_id, conversation_id, _user_id(principal)),
    )
    return await _state(runtime, principal, conversation_id)


@router.post("/conversations/{conversation_id}/transfer", response_model=ConversationOut)
async def transfer(
    conversation_id: int,
    body: TransferIn,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    conversation = await _visible_conversation(runtime, principal, conversation_id)
    actor = _owner_or_supervisor(principal, conversation)
    await _run(
        runtime,
        routing.transfer(
            runtime.db,
            principal.workspace_id,
            conversation_id,
            actor_id=actor,
            queue_id=body.queue_id,
            agent_id=body.agent_id,
            note=body.note,
        ),
    )
    return await _state(runtime, principal, conversation_id)


@router.post("/conversations/{conversation_id}/wrap-up", response_model=ConversationOut)
async def wrap_up(
    conversation_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    conversation = await _visible_conversation(runtime, principal, conversation_id)
    actor = _owner_or_supervisor(principal, conversation)
    await _run(runtime, routing.wrap_up(runtime.db, principal.workspace_id, conversation_id, actor))
    return await _state(runtime, principal, conversation_id)


@router.post("/conversations/{conversation_id}/close", response_model=ConversationOut)
async def close(
    conversation_id: int,
    body: CloseIn,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    conversation = await _visible_conversation(runtime, principal, conversation_id)
    actor = _owner_or_supervisor(principal, conversation)
    await _run(
        runtime,
        routing.close(
            runtime.db,
            principal.workspace_id,
            conversation_id,
            actor_id=actor,
            disposition=body.disposition,
            reason=body.reason,
            require_disposition=True,
        ),
    )
    return await _state(runtime, principal, conversation_id)


@router.get("/conversations/{conversation_id}/events")
async def conversation_events(
    conversation_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """Every lifecycle step, oldest first: the raw material of reporting."""
    await _visible_conversation(runtime, principal, conversation_id)
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


# ---------------------------------------------------------------------------- notes, tags, history


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
    await _visible_conversation(runtime, principal, conversation_id)
    async with runtime.db.read() as session:
        rows = (
            await session.scalars(
                select(Note)
                .where(
                    Note.conversation_id == conversation_id,
                    Note.workspace_id == principal.workspace_id,
                )
                .order_by(Note.id)
            )
        ).all()
        return [
            {"id": n.id, "author_id": n.author_id, "body": n.body, "created_at": n.created_at}
            for n in rows
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

    await _visible_conversation(runtime, principal, conversation_id)
    async with runtime.db.write() as session:
        note = Note(
            workspace_id=principal.workspace_id,
            conversation_id=conversation_id,
            author_id=principal.user_id,
            body=body.body,
        )
        session.add(note)
        await session.flush()
        out = {
            "id": note.id,
            "author_id": note.author_id,
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
    await _visible_conversation(runtime, principal, conversation_id)
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
    return {"tags": tags}


@router.get("/conversations/{conversation_id}/tags")
async def get_tags(
    conversation_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    await _visible_conversation(runtime, principal, conversation_id)
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
    """The customer's conversations, newest first (the history beside the chat)."""
    async with runtime.db.read() as session:
        rows = await queries.list_conversations(
            session, principal.workspace_id, contact_id=contact_id, limit=200
        )
        if not rows:
            from madoguchi.store.models import Contact

            exists = await session.scalar(
                select(Contact.id).where(
                    Contact.id == contact_id, Contact.workspace_id == principal.workspace_id
                )
            )
            if exists is None:
                raise HTTPException(404, f"contact {contact_id} not found")
        return [ConversationOut.of(c) for c in rows]
