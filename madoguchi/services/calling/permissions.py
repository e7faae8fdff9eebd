"""Permission to call a customer: asking for it, the customer's answer, and whether it holds.

A business may call a customer only with their permission: an answer to a
``call_permission_request`` (an interactive message inside the service window, or the
configured permission template outside it), or the customer having called the business
(callback permission, for a while). Meta limits how often one customer may be asked
(``domain.calling``), so a request past the limit is refused here with the time the next
one is allowed, and never reaches Meta.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain import calling as rules
from madoguchi.domain.events import MessageQueued, MessageReceived
from madoguchi.services.calling.errors import CallRefused
from madoguchi.services.channel.outbox import OutboundRefused, queue_message
from madoguchi.services.channel.service_window import window_facts
from madoguchi.store.db import Database
from madoguchi.store.models import Call, CallPermissionRequest, Conversation, Message
from madoguchi.whatsapp.outbound import (
    CallPermissionInteractive,
    InteractiveBody,
    InteractiveMessage,
    TemplateBody,
    TemplateLanguage,
    TemplateMessage,
)

DEFAULT_BODY = "May we call you on WhatsApp about this conversation?"


@dataclass(frozen=True, slots=True)
class PermissionState:
    """What the desktop shows beside the call button."""

    status: str  # none | requested | accepted | rejected | expired
    can_call: bool
    expires_at: datetime | None
    permanent: bool
    source: str | None
    next_request_at: datetime | None


def _rows(conversation: Conversation):
    return (
        select(CallPermissionRequest)
        .where(
            CallPermissionRequest.contact_id == conversation.contact_id,
            CallPermissionRequest.phone_number_id == conversation.phone_number_id,
        )
        .order_by(CallPermissionRequest.requested_at.desc(), CallPermissionRequest.id.desc())
    )


async def state(
    session: AsyncSession, conversation: Conversation, now: datetime
) -> PermissionState:
    rows = list(await session.scalars(_rows(conversation)))
    requested = [r.requested_at for r in rows if r.source == "request"]
    next_at = rules.next_request_allowed_at(requested, now)
    for row in rows:
        if rules.permission_holds(row.status, row.permanent, row.expires_at, now):
            return PermissionState(
                "accepted", True, row.expires_at, row.permanent, row.source, next_at
            )
    latest = next((r for r in rows if r.source == "request"), None)
    if latest is None:
        return PermissionState("none", False, None, False, None, next_at)
    status = latest.status
    if status == "accepted":
        status = "expired"
    return PermissionState(status, False, latest.expires_at, latest.permanent, None, next_at)


async def grant_callback(session: AsyncSession, call: Call, now: datetime) -> None:
    """A customer who called may be called back for a while (Meta's callback permission)."""
    session.add(
        CallPermissionRequest(
            workspace_id=call.workspace_id,
            contact_id=call.contact_id,
            phone_number_id=call.phone_number_id,
            conversation_id=call.conversation_id,
            status="accepted",
            source="callback",
            expires_at=now + rules.CALLBACK_PERMISSION,
            requested_at=now,
            answered_at=now,
        )
    )


async def request(
    db: Database,
    workspace_id: int,
    conversation_id: int,
    agent_id: int | None,
    *,
    now: datetime,
    template: str | None,
    template_language: str,
    body: str | None = None,
) -> tuple[CallPermissionRequest, MessageQueued]:
    """Ask the customer for permission to call them (inside Meta's limits)."""
    async with db.write() as session:
        conversation = await session.scalar(
            select(Conversation).where(
                Conversation.id == conversation_id, Conversation.workspace_id == workspace_id
            )
        )
        if conversation is None:
            raise CallRefused("not_found", f"conversation {conversation_id} not found", 404)
        current = await state(session, conversation, now)
        if current.can_call:
            raise CallRefused("already_permitted", "the customer has already allowed calls")
        if current.status == "requested":
            raise CallRefused(
                "already_requested", "a permission request is waiting for the customer's answer"
            )
        if current.next_request_at is not None:
            raise CallRefused(
                "request_limit",
                "WhatsApp allows one permission request per customer per day and two per "
                f"week; the next one is allowed at {current.next_request_at.isoformat()}",
                429,
            )
        window = (
            await window_facts(session, conversation.contact_id, conversation.phone_number_id)
        ).window
        if window.is_open(now):
            message = InteractiveMessage(
                interactive=CallPermissionInteractive(
                    body=InteractiveBody(text=body or DEFAULT_BODY)
                )
            )
        elif template:
            message = TemplateMessage(
                template=TemplateBody(
                    name=template, language=TemplateLanguage(code=template_language)
                )
            )
        else:
            raise CallRefused(
                "window_closed",
                "the customer has not written in the last 24 hours and no call-permission "
                "template is configured (MADOGUCHI_CALL_PERMISSION_TEMPLATE)",
            )
        try:
            stored, queued = await queue_message(
                db, workspace_id, conversation.id, message, now=now, session=session
            )
        except OutboundRefused as exc:
            raise CallRefused(exc.code, exc.message, exc.status) from exc
        row = CallPermissionRequest(
            workspace_id=workspace_id,
            contact_id=conversation.contact_id,
            phone_number_id=conversation.phone_number_id,
            conversation_id=conversation.id,
            message_id=stored.id,
            requested_by=agent_id,
            status="requested",
            source="request",
            requested_at=now,
        )
        session.add(row)
        await session.flush()
    return row, queued


async def on_messages(db: Database, events: list[MessageReceived], now: datetime) -> None:
    """``on_message`` for a batch: one read finds the interactive replies among them."""
    async with db.read() as session:
        interactive = set(
            await session.scalars(
                select(Message.id).where(
                    Message.id.in_({e.message_id for e in events}), Message.type == "interactive"
                )
            )
        )
    for event in events:
        if event.message_id in interactive:
            await on_message(db, event, now)


async def on_message(db: Database, event: MessageReceived, now: datetime) -> bool:
    """Record a customer's ``call_permission_reply``; True when the message was one."""
    async with db.write() as session:
        message = await session.get(Message, event.message_id)
        if message is None or message.type != "interactive":
            return False
        reply = rules.read_permission_reply(message.content or {})
        if reply is None:
            return False
        conversation = await session.get(Conversation, message.conversation_id)
        pending = await session.scalar(
            _rows(conversation).where(
                CallPermissionRequest.status == "requested",
                CallPermissionRequest.source == "request",
            )
        )
        if pending is None:  # answered a request sent from elsewhere: still the customer's word
            pending = CallPermissionRequest(
                workspace_id=conversation.workspace_id,
                contact_id=conversation.contact_id,
                phone_number_id=conversation.phone_number_id,
                conversation_id=conversation.id,
                source="request",
                requested_at=message.timestamp,
            )
            session.add(pending)
        pending.status = "accepted" if reply.accepted else "rejected"
        pending.expires_at = reply.expires_at
        pending.permanent = reply.permanent
        pending.answered_at = message.timestamp or now
    return True
