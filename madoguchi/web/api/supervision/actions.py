"""Supervisors' actions over HTTP: monitor, whisper, barge in, take over a conversation;
set an agent's presence, release their offers, sign them out of a queue.

Roles first (an agent gets 403), then the one visibility rule (a conversation or agent
outside a limited supervisor's queues is 404, like a wrong id), then the state rules of
``services/supervision``. Events are published after each commit.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from madoguchi.runtime import Runtime
from madoguchi.services.access.tokens import Principal
from madoguchi.services.supervision import actions, steering
from madoguchi.services.supervision.actions import Done, SupervisionError
from madoguchi.web.api.contact_center.common import state_of, visible_conversation
from madoguchi.web.api.contact_center.presence import PresenceIn
from madoguchi.web.coded_errors import CodedErrors
from madoguchi.web.deps import any_role, get_runtime, supervisor_or_admin
from madoguchi.web.schemas import ConversationOut, MessageOut
from madoguchi.whatsapp.outbound import OutboundValidationError, validate_outbound

router = APIRouter(prefix="/api/v1", tags=["supervision"], route_class=CodedErrors)


class WhisperIn(BaseModel):
    body: str = Field(min_length=1, max_length=4000, description="Seen by the agent only")


class BargeIn(BaseModel):
    message: dict[str, Any] = Field(
        description='A Cloud API message object, e.g. {"type": "text", "text": {"body": "Hi"}}'
    )


async def _run(runtime: Runtime, coro) -> Done:
    try:
        done = await coro
    except SupervisionError as exc:
        raise HTTPException(exc.status, {"code": exc.code, "message": exc.message}) from exc
    await runtime.bus.publish(done.events)
    return done


async def _on_conversation(
    runtime: Runtime, principal: Principal, conversation_id: int, action, *args
) -> Done:
    """The one visibility rule first (a conversation outside the caller's view is 404),
    then ``action(db, principal, conversation_id, *args)``, its events published."""
    await visible_conversation(runtime, principal, conversation_id)
    return await _run(runtime, action(runtime.db, principal, conversation_id, *args))


@router.post("/conversations/{conversation_id}/monitor")
async def start_monitoring(
    conversation_id: int,
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    """Follow the conversation live, read-only (ends your other monitoring session)."""
    done = await _on_conversation(runtime, principal, conversation_id, actions.start_monitoring)
    return done.result


@router.delete("/conversations/{conversation_id}/monitor")
async def stop_monitoring(
    conversation_id: int,
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    done = await _on_conversation(runtime, principal, conversation_id, actions.stop_monitoring)
    return done.result


@router.get("/conversations/{conversation_id}/monitors")
async def list_monitors(
    conversation_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """Who is monitoring the conversation now (the agent's indicator)."""
    await visible_conversation(runtime, principal, conversation_id)
    async with runtime.db.read() as session:
        return await actions.monitors_of(session, principal.workspace_id, conversation_id)


@router.post("/conversations/{conversation_id}/whispers", status_code=201)
async def whisper(
    conversation_id: int,
    body: WhisperIn,
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    """Coach the agent privately: the customer never sees a whisper."""
    done = await _on_conversation(runtime, principal, conversation_id, actions.whisper, body.body)
    return done.result


@router.get("/conversations/{conversation_id}/whispers")
async def list_whispers(
    conversation_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """Staff see every whisper of the conversation; an agent those written to them."""
    async with runtime.db.read() as session:
        from madoguchi.web.scope import visible_conversation as in_scope

        await in_scope(session, principal, conversation_id)
        return await actions.whispers_of(session, principal, conversation_id)


@router.post("/conversations/{conversation_id}/barge", response_model=MessageOut, status_code=202)
async def barge(
    conversation_id: int,
    body: BargeIn,
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    """Write to the customer beside the agent (window rules as for any reply)."""
    try:
        message = validate_outbound(body.message)
    except OutboundValidationError as exc:
        raise HTTPException(
            422,
            {"code": "invalid_message", "field": f"message.{exc.field}", "message": exc.message},
        ) from exc
    done = await _on_conversation(runtime, principal, conversation_id, actions.barge, message)
    return MessageOut.of(done.result["message"])


@router.post("/conversations/{conversation_id}/take-over", response_model=ConversationOut)
async def take_over(
    conversation_id: int,
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    """The conversation becomes yours; the agent who had it is told and loses it."""
    await _on_conversation(runtime, principal, conversation_id, actions.take_over)
    return await state_of(runtime, principal, conversation_id)


@router.put("/supervision/agents/{agent_id}/presence")
async def set_agent_presence(
    agent_id: int,
    body: PresenceIn,
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    done = await _run(
        runtime,
        steering.set_agent_presence(runtime.db, principal, agent_id, body.status, body.away_reason),
    )
    return done.result


@router.post("/supervision/agents/{agent_id}/release-offers")
async def release_offers(
    agent_id: int,
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    """The agent's unanswered offers go back to their queues at once."""
    done = await _run(runtime, steering.release_offers(runtime.db, principal, agent_id))
    for queue_id in done.result.pop("queue_ids"):
        await runtime.routing.kick(queue_id)
    return done.result


@router.delete("/supervision/agents/{agent_id}/queues/{queue_id}")
async def sign_out_of_queue(
    agent_id: int,
    queue_id: int,
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    """Sign the agent out of one queue (they leave its members)."""
    done = await _run(
        runtime, steering.sign_out_of_queue(runtime.db, principal, agent_id, queue_id)
    )
    return done.result
