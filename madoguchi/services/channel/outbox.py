"""Queue an outbound message: validate, check the window, commit message + outbox row.

Every send (agent, flow, template campaign) enters here, so the rules are enforced once:
nothing invalid reaches the outbox, free-form text outside the service window is refused
with the reason, and the message exists (status ``queued``) in the same commit as the
outbox row that will send it, so an accepted request is never lost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.events import MessageQueued
from madoguchi.domain.message_status import MessageStatus as Status
from madoguchi.services.access import visibility
from madoguchi.services.billing.errors import BillingError
from madoguchi.services.billing.estimates import estimate_values
from madoguchi.services.channel.conversation_threads import find_open_conversation
from madoguchi.services.channel.service_window import (
    carry_window,
    window_facts,
    window_facts_many,
)
from madoguchi.services.channel.template_check import template_send_check
from madoguchi.store.db import Database
from madoguchi.store.models import (
    Contact,
    Conversation,
    Message,
    MessageCost,
    OutboxEntry,
    PhoneNumber,
)
from madoguchi.whatsapp.outbound import (
    OutboundMessage,
    Recipient,
    TemplateMessage,
    build_send_body,
    render_text,
)


class OutboundRefused(Exception):
    """The message cannot be queued; ``code`` is stable for API clients."""

    def __init__(self, code: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def recipient_of(contact: Contact) -> Recipient:
    return Recipient(wa_id=contact.wa_id, user_id=contact.user_id)


@asynccontextmanager
async def _transaction(db: Database, session: AsyncSession | None) -> AsyncIterator[AsyncSession]:
    if session is not None:
        yield session
    else:
        # Every message queued here is a person's or a flow's (campaigns queue in bulk
        # elsewhere): ahead of background writers at SQLite's single writer.
        async with db.write(urgent=True) as own:
            yield own


def _recipient_key(contact: Contact) -> str:
    return contact.user_id or contact.wa_id or f"contact:{contact.id}"


async def queue_message(
    db: Database,
    workspace_id: int,
    conversation_id: int,
    message: OutboundMessage,
    *,
    reply_to_message_id: int | None = None,
    now: datetime | None = None,
    session: AsyncSession | None = None,
    author_id: int | None = None,
) -> tuple[Message, MessageQueued]:
    """Queue ``message`` in a conversation; returns the stored message and its event.

    ``author_id`` is the person who wrote it (agent, supervisor barging in), if any.

    With ``session``, the message joins that open transaction (a flow step commits its
    replies with its new position, all or nothing) instead of committing on its own.
    """
    now = now or datetime.now(UTC)
    async with _transaction(db, session) as session:
        conversation = await session.scalar(
            select(Conversation).where(
                Conversation.id == conversation_id, Conversation.workspace_id == workspace_id
            )
        )
        if conversation is None:
            raise OutboundRefused("not_found", f"conversation {conversation_id} not found", 404)
        number_status = await session.scalar(
            select(PhoneNumber.status).where(PhoneNumber.id == conversation.phone_number_id)
        )
        if number_status == "disconnected":
            raise OutboundRefused(
                "number_disconnected",
                "This conversation's WhatsApp number is disconnected, so nothing can be sent "
                "from it; an administrator can connect it again on the numbers page.",
                409,
            )
        contact = await session.get(Contact, conversation.contact_id)
        is_template = isinstance(message, TemplateMessage)
        # The window belongs to the contact and number, across their conversations.
        window = (await window_facts(session, contact.id, conversation.phone_number_id)).window
        if not is_template and not window.is_open(now):
            raise OutboundRefused(
                "window_closed",
                "The customer has not written in the last 24 hours, so only an approved "
                "template can be sent (WhatsApp's customer service window is closed).",
                409,
            )
        template_category = None
        if is_template:  # known here: approved? marketing to an opted-out customer?
            template_category, refusal = await template_send_check(
                session, conversation.phone_number_id, contact, message.template
            )
            if refusal is not None:
                raise OutboundRefused(*refusal)
        reply_wamid = None
        if reply_to_message_id is not None:
            reply_wamid = await session.scalar(
                select(Message.wamid).where(
                    Message.id == reply_to_message_id,
                    Message.conversation_id == conversation.id,
                )
            )
            if reply_wamid is None:
                raise OutboundRefused(
                    "reply_to_unknown",
                    f"message {reply_to_message_id} is not a sent or received message of "
                    "this conversation",
                )
        try:
            body = build_send_body(message, recipient_of(contact), reply_wamid)
        except ValueError as exc:
            raise OutboundRefused("no_recipient", str(exc)) from exc
        # What it will cost, kept beside what Meta later says it cost (billing). Priced
        # before anything is written: a hard-limit budget's refusal must leave nothing
        # behind in a caller's transaction that goes on and commits (a flow step).
        try:
            cost = await estimate_values(
                session,
                workspace_id,
                conversation,
                contact,
                window,
                template_category=template_category,
                template_name=message.template.name if is_template else None,
                at=now,
            )
        except BillingError as exc:  # a hard-limit budget is spent
            raise OutboundRefused(exc.code, exc.message, exc.status) from exc
        stored = Message(
            workspace_id=workspace_id,
            conversation_id=conversation.id,
            direction="outbound",
            type=message.type,
            status=Status.QUEUED,
            text=render_text(message),
            content=message.model_dump(mode="json", exclude_none=True),
            context_wamid=reply_wamid,
            template_category=template_category,
            author_user_id=author_id,
            timestamp=now,
            media=None,
        )
        session.add(stored)
        await session.flush()
        session.add(MessageCost(**cost, message_id=stored.id))
        session.add(
            OutboxEntry(
                workspace_id=workspace_id,
                message_id=stored.id,
                phone_number_id=conversation.phone_number_id,
                recipient_key=_recipient_key(contact),
                body=body,
                next_attempt_at=now,
            )
        )
        conversation.last_message_at = now
    return stored, MessageQueued(
        workspace_id=workspace_id, conversation_id=conversation.id, message_id=stored.id
    )


_DISCONNECTED = (
    "number_disconnected",
    "This conversation's WhatsApp number is disconnected, so nothing can be sent "
    "from it; an administrator can connect it again on the numbers page.",
    409,
)
_WINDOW_CLOSED = (
    "window_closed",
    "The customer has not written in the last 24 hours, so only an approved "
    "template can be sent (WhatsApp's customer service window is closed).",
    409,
)


async def queue_messages(
    session: AsyncSession,
    items: Sequence[tuple[Conversation, Contact, OutboundMessage]],
    *,
    now: datetime | None = None,
) -> list[MessageQueued | OutboundRefused]:
    """``queue_message`` for many messages in the caller's transaction (a batch of flow
    activations): the same rules (number connected, service window, templates checked,
    cost estimated, message and outbox row committed together) with one statement per
    table for the batch instead of several per message. Each item's result, in order:
    its event, or why it was refused (a refused item stores nothing).

    ``items`` are (conversation, its contact, message), conversations loaded (locked) by
    the caller; one conversation's messages are stored in the order given."""
    now = now or datetime.now(UTC)
    results: list[MessageQueued | OutboundRefused | None] = [None] * len(items)
    numbers = {conversation.phone_number_id for conversation, _, _ in items}
    disconnected = set(
        await session.scalars(
            select(PhoneNumber.id).where(
                PhoneNumber.id.in_(numbers), PhoneNumber.status == "disconnected"
            )
        )
    )
    windows = await window_facts_many(
        session, {(contact.id, c.phone_number_id) for c, contact, _ in items}
    )
    accepted: list[tuple[int, Conversation, Contact, OutboundMessage, dict, dict]] = []
    for index, (conversation, contact, message) in enumerate(items):
        if conversation.phone_number_id in disconnected:
            results[index] = OutboundRefused(*_DISCONNECTED)
            continue
        if isinstance(message, TemplateMessage):  # the catalog's checks: one at a time
            try:
                _, results[index] = await queue_message(
                    None,
                    conversation.workspace_id,
                    conversation.id,
                    message,
                    now=now,
                    session=session,
                )
            except OutboundRefused as exc:
                results[index] = exc
            continue
        window = windows[(contact.id, conversation.phone_number_id)].window
        if not window.is_open(now):
            results[index] = OutboundRefused(*_WINDOW_CLOSED)
            continue
        try:
            body = build_send_body(message, recipient_of(contact), None)
        except ValueError as exc:
            results[index] = OutboundRefused("no_recipient", str(exc))
            continue
        # Priced before anything is written (free-form replies: nothing to read, a
        # hard-limit budget checked all the same): a refused item stores nothing.
        try:
            cost = await estimate_values(
                session,
                conversation.workspace_id,
                conversation,
                contact,
                window,
                template_category=None,
                template_name=None,
                at=now,
            )
        except BillingError as exc:
            results[index] = OutboundRefused(exc.code, exc.message, exc.status)
            continue
        accepted.append((index, conversation, contact, message, body, cost))
    if not accepted:
        return results  # type: ignore[return-value]
    rows = [
        {
            "workspace_id": conversation.workspace_id,
            "conversation_id": conversation.id,
            "direction": "outbound",
            "type": message.type,
            "status": Status.QUEUED,
            "text": render_text(message),
            "content": message.model_dump(mode="json", exclude_none=True),
            "timestamp": now,
        }
        for _, conversation, _, message, _, _ in accepted
    ]
    ids = await _insert_messages(session, rows)
    outbox, costs = [], []
    for (index, conversation, contact, _, body, cost), message_id in zip(
        accepted, ids, strict=True
    ):
        costs.append({**cost, "message_id": message_id})
        outbox.append(
            {
                "workspace_id": conversation.workspace_id,
                "message_id": message_id,
                "phone_number_id": conversation.phone_number_id,
                "recipient_key": _recipient_key(contact),
                "body": body,
                "next_attempt_at": now,
            }
        )
        conversation.last_message_at = now
        results[index] = MessageQueued(
            workspace_id=conversation.workspace_id,
            conversation_id=conversation.id,
            message_id=message_id,
        )
    await session.execute(insert(MessageCost.__table__), costs)
    await session.execute(insert(OutboxEntry.__table__), outbox)
    return results  # type: ignore[return-value]


async def _insert_messages(session: AsyncSession, rows: list[dict]) -> list[int]:
    """Insert ``rows`` in multi-row statements; their ids, in order.

    In-order RETURNING needs a sentinel column the table does not have (SQLAlchemy then
    inserts one row per statement), so ids are matched by (conversation, text); the rare
    messages of one conversation with the same text take their ids in insertion order
    (rows of one INSERT get increasing ids in the order given, on both databases)."""
    table = Message.__table__
    connection = await session.connection()
    result = await connection.execute(
        insert(table).returning(table.c.id, table.c.conversation_id, table.c.text), rows
    )
    by_key: dict[tuple, list[int]] = {}
    for message_id, conversation_id, text in sorted(result.all()):
        by_key.setdefault((conversation_id, text), []).append(message_id)
    for ids in by_key.values():
        ids.reverse()
    return [by_key[(row["conversation_id"], row["text"])].pop() for row in rows]


async def refuse_unseen(session: AsyncSession, principal, conversation: Conversation) -> None:
    """Business-initiated contact must not write into (or take over) a conversation the
    caller may not see, such as another team's."""
    if not await visibility.conversation_visible(session, principal, conversation.id):
        raise OutboundRefused(
            "conversation_out_of_scope",
            "this customer already has an open conversation on this number that another "
            "team handles: ask a supervisor to transfer it to you",
            409,
        )


async def open_conversation_for_contact(
    db: Database, workspace_id: int, contact_id: int, phone_number_id: int, principal=None
) -> int:
    """The open conversation between a contact and a number, created if there is none.

    Used for business-initiated contact, which may only start with a template. With
    ``principal``, an open conversation that caller may not see is never reused (409).
    """
    async with db.write() as session:
        contact = await session.scalar(
            select(Contact).where(Contact.id == contact_id, Contact.workspace_id == workspace_id)
        )
        if contact is None:
            raise OutboundRefused("not_found", f"contact {contact_id} not found", 404)
        number = await session.scalar(
            select(PhoneNumber).where(
                PhoneNumber.id == phone_number_id, PhoneNumber.workspace_id == workspace_id
            )
        )
        if number is None:
            raise OutboundRefused("not_found", f"phone number {phone_number_id} not found", 404)
        conversation = await find_open_conversation(session, contact.id, number.id)
        if conversation is not None and principal is not None:
            await refuse_unseen(session, principal, conversation)
        if conversation is None:
            conversation = Conversation(
                workspace_id=workspace_id, contact_id=contact.id, phone_number_id=number.id
            )
            carry_window(conversation, await window_facts(session, contact.id, number.id))
            session.add(conversation)
            await session.flush()
        return conversation.id
