"""What the contact-center routers share: roles, errors in words, running a use case and
publishing its events, the caller's own user id."""

from __future__ import annotations

from fastapi import HTTPException

from madoguchi.domain.lifecycle import TERMINAL
from madoguchi.runtime import Runtime
from madoguchi.services.access.tokens import Principal
from madoguchi.services.contact_center import conversations as queries
from madoguchi.services.contact_center.assignment import Outcome, RoutingError
from madoguchi.services.contact_center.queues import (
    QueueError,
)
from madoguchi.store.models import (
    Conversation,
)
from madoguchi.web.deps import require_role
from madoguchi.web.schemas import ConversationOut
from madoguchi.web.scope import visible_conversation as conversation_in_scope

admin = require_role()


supervisor = require_role("supervisor")


def http_error(exc: RoutingError | QueueError) -> HTTPException:
    if isinstance(exc, QueueError):
        return HTTPException(exc.status, {"field": exc.field, "message": exc.message})
    return HTTPException(exc.status, exc.message)


async def run_outcome(runtime: Runtime, coro) -> Outcome:
    try:
        outcome = await coro
    except (RoutingError, QueueError) as exc:
        raise http_error(exc) from exc
    await runtime.bus.publish(outcome.events)
    return outcome


def user_id_of(principal: Principal) -> int:
    if principal.user_id is None:
        raise HTTPException(
            403,
            "this needs a signed-in user (or an API token created for a user), not a "
            "workspace token",
        )
    return principal.user_id


async def visible_conversation(
    runtime: Runtime, principal: Principal, conversation_id: int
) -> Conversation:
    async with runtime.db.read() as session:
        return await conversation_in_scope(session, principal, conversation_id)


def refuse_if_closed(conversation: Conversation) -> None:
    """Nothing more happens in an ended conversation: the web app shows it read-only, and
    the API says so in words instead of accepting work that would surprise the customer
    or the team. A customer who writes again opens a new conversation; the business
    starts one with a template (``POST /api/v1/contacts/{id}/messages``)."""
    if conversation.status in TERMINAL:
        raise HTTPException(
            409,
            {
                "code": "conversation_closed",
                "message": f"Conversation {conversation.id} is {conversation.status}: nothing "
                "more can be sent or changed in it. When the customer writes again a new "
                "conversation opens; to write first, send a template to the contact "
                f"(POST /api/v1/contacts/{conversation.contact_id}/messages).",
            },
        )


def owner_or_supervisor(principal: Principal, conversation: Conversation) -> int | None:
    """Agents act on their own conversations; supervisors and admins on any."""
    if principal.role in ("admin", "supervisor"):
        return principal.user_id
    user_id = user_id_of(principal)
    if conversation.assigned_agent_id != user_id:
        raise HTTPException(403, "this conversation is not assigned to you")
    return user_id


async def state_of(runtime: Runtime, principal: Principal, conversation_id: int) -> ConversationOut:
    async with runtime.db.read() as session:
        conversation = await queries.get_conversation(
            session, principal.workspace_id, conversation_id
        )
        return ConversationOut.of(conversation)
