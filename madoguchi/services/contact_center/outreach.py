"""Business-initiated contact: start (or continue) a conversation with a template.

An agent or an API client names a business number, a customer — known, or new by phone
(``wa_id``) or BSUID (``user_id``) — and a template. The contact is created if needed,
the open conversation is found or started (inheriting the pair's service window), the
conversation records who started it and where the customer's reply goes back to until
when (``route_back_*``, read by ``domain.route_back.route_back_target``), and the
template is queued through ``queue_message`` like every other send.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import phonenumbers
from sqlalchemy import select

from madoguchi.domain.events import MessageQueued
from madoguchi.domain.identity import ObservedIdentity
from madoguchi.services.access import visibility
from madoguchi.services.access.tokens import Principal
from madoguchi.services.channel.contacts import resolve_contact
from madoguchi.services.channel.conversation_threads import (
    find_open_conversation,
    latest_conversation_id,
)
from madoguchi.services.channel.outbox import OutboundRefused, queue_message, refuse_unseen
from madoguchi.services.channel.service_window import carry_window, window_facts
from madoguchi.services.channel.template_check import template_send_check
from madoguchi.services.templates.catalog import (
    build_template_message,
    find_template,
    flow_variables,
    get_template,
    value_context,
)
from madoguchi.store.db import Database
from madoguchi.store.models import (
    Contact,
    Conversation,
    Message,
    MessageTemplate,
    PhoneNumber,
    Queue,
    User,
)
from madoguchi.whatsapp.outbound import OutboundValidationError, TemplateMessage, validate_outbound

BSUID = re.compile(r"^[A-Z]{2}(\.[A-Z]{2,8})?\.[A-Za-z0-9]{1,128}$")


@dataclass(frozen=True, slots=True)
class OutboundResult:
    conversation_id: int
    contact_id: int
    contact_created: bool
    conversation_created: bool
    message: Message
    event: MessageQueued
    route_back_until: datetime | None


def normalize_wa_id(value: str) -> str:
    """Digits with the country code (``+81 90-1234-0001`` → ``819012340001``)."""
    digits = re.sub(r"[\s+\-().]", "", value)
    if not digits.isdigit():
        raise OutboundRefused("invalid_recipient", "to.wa_id must be a phone number", 422)
    try:
        parsed = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException as exc:
        raise OutboundRefused(
            "invalid_recipient", f"to.wa_id is not a phone number: {exc}", 422
        ) from exc
    if not phonenumbers.is_possible_number(parsed):
        raise OutboundRefused(
            "invalid_recipient",
            "to.wa_id is not a possible phone number (digits with the country code, "
            "e.g. 819012340001)",
            422,
        )
    return digits


async def start_outbound(
    db: Database,
    principal: Principal,
    *,
    phone_number_id: str,
    to: Mapping[str, Any],
    template: Mapping[str, Any],
    agent_id: int | None = None,
    queue_id: int | None = None,
    route_back_hours: float = 72.0,
    now: datetime | None = None,
) -> OutboundResult:
    now = now or datetime.now(UTC)
    workspace_id = principal.workspace_id
    wa_id = normalize_wa_id(str(to["wa_id"])) if to.get("wa_id") else None
    user_id = str(to["user_id"]).strip() if to.get("user_id") else None
    contact_id = to.get("contact_id")
    if user_id and not BSUID.match(user_id):
        raise OutboundRefused(
            "invalid_recipient", "to.user_id must be a BSUID such as JP.70211330012345", 422
        )
    if not (wa_id or user_id or contact_id):
        raise OutboundRefused(
            "invalid_recipient", "to needs a wa_id (phone), a user_id (BSUID) or a contact_id"
        )

    async with db.read() as session:
        number = await session.scalar(
            select(PhoneNumber).where(
                PhoneNumber.phone_number_id == phone_number_id,
                PhoneNumber.workspace_id == workspace_id,
            )
        )
        if number is None:
            raise OutboundRefused("not_found", f"phone number {phone_number_id} not found", 404)
        stored = await _stored_template(session, workspace_id, number, template)
        if agent_id is not None:
            agent = await session.scalar(
                select(User).where(User.id == agent_id, User.workspace_id == workspace_id)
            )
            if agent is None or agent.disabled:
                raise OutboundRefused("not_found", f"agent {agent_id} not found", 404)
        if queue_id is not None:
            found = await session.scalar(
                select(Queue.id).where(Queue.id == queue_id, Queue.workspace_id == workspace_id)
            )
            if found is None:
                raise OutboundRefused("not_found", f"queue {queue_id} not found", 404)
    raw = _raw_message(template) if stored is None else None
    if agent_id is None and queue_id is None and principal.user_id is not None:
        agent_id = principal.user_id  # an agent writing from the desktop gets the reply

    async with db.write() as session:
        contact, contact_created = await _contact(session, workspace_id, contact_id, wa_id, user_id)
        if contact_id is not None and not await visibility.contact_visible(
            session, principal, contact.id
        ):
            raise OutboundRefused("not_found", f"contact {contact_id} not found", 404)
        if contact_created and to.get("name"):
            contact.profile_name = str(to["name"])[:200]
        conversation = await find_open_conversation(session, contact.id, number.id)
        if conversation is not None:
            await refuse_unseen(session, principal, conversation)
        conversation_created = conversation is None
        variables = await flow_variables(session, conversation.id) if conversation else {}
        message = raw or build_template_message(
            stored,  # type: ignore[arg-type]
            template.get("values") or {},
            value_context(contact, conversation, variables),
        )
        _, refusal = await template_send_check(session, number.id, contact, message.template)
        if refusal is not None:
            raise OutboundRefused(*refusal)
        if conversation is None:
            conversation = Conversation(
                workspace_id=workspace_id,
                contact_id=contact.id,
                phone_number_id=number.id,
                previous_conversation_id=await latest_conversation_id(
                    session, contact.id, number.id
                ),
            )
            carry_window(conversation, await window_facts(session, contact.id, number.id))
            session.add(conversation)
        conversation.started_by_user_id = principal.user_id
        conversation.outbound_started_at = now
        conversation.route_back_agent_id = agent_id
        conversation.route_back_queue_id = queue_id
        has_target = agent_id is not None or queue_id is not None
        conversation.route_back_until = (
            now + timedelta(hours=route_back_hours) if has_target and route_back_hours else None
        )
        await session.flush()
        conversation_id, contact_pk = conversation.id, contact.id
        until = conversation.route_back_until
    stored_message, event = await queue_message(db, workspace_id, conversation_id, message, now=now)
    return OutboundResult(
        conversation_id=conversation_id,
        contact_id=contact_pk,
        contact_created=contact_created,
        conversation_created=conversation_created,
        message=stored_message,
        event=event,
        route_back_until=until,
    )


async def _stored_template(
    session, workspace_id: int, number: PhoneNumber, template: Mapping[str, Any]
) -> MessageTemplate | None:
    """The stored template the request names (by ``id``, or name and language), if any."""
    if template.get("id") is not None:
        row = await get_template(session, workspace_id, int(template["id"]))
        if row is None or row.account_id != number.account_id:
            raise OutboundRefused(
                "not_found",
                f"template {template['id']} not found for the account of this number",
                404,
            )
        return row
    name, language = template.get("name"), _language(template)
    if not name or not language:
        raise OutboundRefused(
            "invalid_template", "template needs an id, or a name and a language", 422
        )
    row = await find_template(session, number.account_id, str(name), language)
    if row is None and template.get("values"):
        raise OutboundRefused(
            "template_unknown",
            f"template {name} ({language}) is not known here, so its parameters cannot be "
            "filled from values: sync templates, or send its components",
            422,
        )
    if row is not None and template.get("components") is not None:
        return None  # explicit components win
    return row


def _language(template: Mapping[str, Any]) -> str | None:
    language = template.get("language")
    if isinstance(language, Mapping):
        language = language.get("code")
    return str(language) if language else None


def _raw_message(template: Mapping[str, Any]) -> TemplateMessage:
    body: dict[str, Any] = {"name": template.get("name"), "language": {"code": _language(template)}}
    if template.get("components") is not None:
        body["components"] = template["components"]
    try:
        return validate_outbound({"type": "template", "template": body})  # type: ignore[return-value]
    except OutboundValidationError as exc:
        raise OutboundRefused("invalid_message", exc.message, 422) from exc


async def _contact(
    session, workspace_id: int, contact_id: Any, wa_id: str | None, user_id: str | None
) -> tuple[Contact, bool]:
    if contact_id is not None:
        contact = await session.scalar(
            select(Contact).where(
                Contact.id == int(contact_id), Contact.workspace_id == workspace_id
            )
        )
        if contact is None:
            raise OutboundRefused("not_found", f"contact {contact_id} not found", 404)
        return contact, False
    return await resolve_contact(
        session, workspace_id, ObservedIdentity(user_id=user_id, wa_id=wa_id)
    )
