"""Turn one journaled webhook delivery into contacts, conversations, messages, statuses.

The delivery's bytes were committed before Meta got its 200 (``services.channel.webhook_journal``);
this runs after, in one savepoint per delivery. It is idempotent: a message is keyed
on its wamid and a status on (wamid, status), so Meta's retries and a delivery
processed twice change nothing. Slow work (media download, flows, routing) is not done
here: it is recorded as rows or published as events after the commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import identity_key

from madoguchi.domain import csat
from madoguchi.domain.events import (
    AccountEventReceived,
    Event,
    MessageReceived,
    MessageStatusChanged,
)
from madoguchi.domain.identity import (
    KnownIdentity,
    ObservedIdentity,
    choose_contact,
    merge_identity,
)
from madoguchi.domain.message_status import MessageStatus as Status
from madoguchi.domain.message_status import should_apply
from madoguchi.services.channel import csat_answers
from madoguchi.services.channel.contacts import (
    IDENTITY_FIELDS as _IDENTITY_FIELDS,
)
from madoguchi.services.channel.contacts import apply_identity_change, resolve_contact
from madoguchi.services.channel.conversation_threads import (
    CLOSED_STATUSES,
    find_open_conversation,
    latest_conversation_id,
)
from madoguchi.store.bulk import bulk_insert, bulk_update
from madoguchi.store.models import (
    AccountEventRecord,
    Contact,
    Conversation,
    Media,
    Message,
    MessageStatusEvent,
    PhoneNumber,
    WebhookDelivery,
    WhatsAppAccount,
)
from madoguchi.store.models.core import utcnow
from madoguchi.whatsapp.errors import error_from_code
from madoguchi.whatsapp.updates import (
    AccountEvent,
    InboundMessage,
    MessageStatus,
    MetaErrorInfo,
    Update,
    UserIdentity,
)

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
MEDIA_TYPES = frozenset({"image", "video", "audio", "document", "sticker"})


@dataclass
class IngestResult:
    delivery_id: int = 0
    messages_stored: int = 0
    duplicate_messages: int = 0
    statuses_applied: int = 0
    statuses_recorded: int = 0
    duplicate_statuses: int = 0
    account_events: int = 0
    unrouted: int = 0
    events: list[Event] = field(default_factory=list)


def _errors_json(errors: tuple[MetaErrorInfo, ...]) -> list[dict] | None:
    if not errors:
        return None
    return [
        {"code": e.code, "title": e.title, "message": e.message, "details": e.details}
        for e in errors
    ]


def _observed(identity: UserIdentity) -> ObservedIdentity:
    return ObservedIdentity(
        user_id=identity.user_id,
        wa_id=identity.wa_id,
        username=identity.username,
        profile_name=identity.profile_name,
        parent_user_id=identity.parent_user_id,
    )


async def ingest_delivery_row(
    session: AsyncSession, delivery: WebhookDelivery, updates: list[Update]
) -> IngestResult:
    """Ingest one journaled delivery inside a savepoint, retrying on a unique-key race.

    A concurrent delivery of the same message or contact (possible on PostgreSQL, where
    several processes ingest) makes an insert fail; rolling back to the savepoint and
    running again sees the other delivery's committed rows and treats them as duplicates.
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            async with session.begin_nested():
                return await _ingest(session, delivery, updates)
        except IntegrityError:
            if attempt == MAX_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


class _Ingest:
    def __init__(self, session: AsyncSession, delivery: WebhookDelivery) -> None:
        self.session = session
        self.delivery = delivery
        self.result = IngestResult()
        self.numbers: dict[str, PhoneNumber] = {}
        self.accounts: dict[str, WhatsAppAccount] = {}

    async def load_routing(self, updates: list[Update]) -> None:
        number_ids = {u.phone_number_id for u in updates if not isinstance(u, AccountEvent)}
        if number_ids:
            rows = await self.session.scalars(
                select(PhoneNumber).where(PhoneNumber.phone_number_id.in_(number_ids))
            )
            self.numbers = {n.phone_number_id: n for n in rows}
        waba_ids = {u.waba_id for u in updates if isinstance(u, AccountEvent)}
        if waba_ids:
            rows = await self.session.scalars(
                select(WhatsAppAccount).where(WhatsAppAccount.waba_id.in_(waba_ids))
            )
            self.accounts = {a.waba_id: a for a in rows}

    def attribute(self, workspace_id: int) -> None:
        if self.delivery.workspace_id is None:
            self.delivery.workspace_id = workspace_id

    async def message(self, update: InboundMessage) -> None:
        number = self.numbers.get(update.phone_number_id)
        if number is None:
            self.result.unrouted += 1
            return
        self.attribute(number.workspace_id)
        existing = await self.session.scalar(
            select(Message.id).where(Message.wamid == update.wamid)
        )
        if existing is not None:
            self.result.duplicate_messages += 1
            return

        contact, _ = await resolve_contact(
            self.session, number.workspace_id, _observed(update.sender)
        )
        change = update.identity_change
        if change is not None:
            await apply_identity_change(self.session, contact, change.new_wa_id, change.new_user_id)

        conversation = await find_open_conversation(self.session, contact.id, number.id)
        # An answer to the CSAT question joins the closed conversation it rates.
        answered = await csat_answers.conversation_answered(
            self.session,
            contact.id,
            number.id,
            update.type,
            update.content,
            update.text,
            update.context.message_id if update.context else None,
            conversation,
            update.timestamp,
        )
        if answered is not None:
            conversation = answered[0]
            event = csat_answers.record_answer(answered[1], answered[2], update.timestamp)
            if event is not None:
                self.result.events.append(event)
        new_conversation = conversation is None
        if conversation is None:
            conversation = Conversation(
                workspace_id=number.workspace_id,
                contact_id=contact.id,
                phone_number_id=number.id,
                previous_conversation_id=await latest_conversation_id(
                    self.session, contact.id, number.id
                ),
            )
            self.session.add(conversation)
            await self.session.flush()

        media = None
        if update.media is not None and update.type in MEDIA_TYPES:
            media = Media(
                workspace_id=number.workspace_id,
                phone_number_id=number.id,
                direction="inbound",
                kind=update.type,
                meta_media_id=update.media.media_id,
                mime_type=update.media.mime_type,
                sha256=update.media.sha256,
                filename=update.media.filename,
                status="pending",
            )
            self.session.add(media)
            await self.session.flush()

        context = update.context
        message = Message(
            workspace_id=number.workspace_id,
            conversation_id=conversation.id,
            wamid=update.wamid,
            direction="inbound",
            type=update.type,
            status=Status.RECEIVED,
            text=update.text,
            content=update.content,
            context_wamid=context.message_id if context else None,
            forwarded=bool(context and context.forwarded),
            frequently_forwarded=bool(context and context.frequently_forwarded),
            referral=update.referral,
            errors=_errors_json(update.errors),
            error_code=update.errors[0].code if update.errors else None,
            media_id=media.id if media else None,
            timestamp=update.timestamp,
        )
        self.session.add(message)
        if conversation.last_inbound_at is None or update.timestamp > conversation.last_inbound_at:
            conversation.last_inbound_at = update.timestamp
        if update.referral and conversation.free_entry_point_at is None:
            conversation.free_entry_point_at = update.timestamp
        if conversation.last_message_at is None or update.timestamp > conversation.last_message_at:
            conversation.last_message_at = update.timestamp
        await self.session.flush()
        self.result.messages_stored += 1
        self.result.events.append(
            MessageReceived(
                workspace_id=number.workspace_id,
                conversation_id=conversation.id,
                message_id=message.id,
                contact_id=contact.id,
                new_conversation=new_conversation,
            )
        )

    async def status(self, update: MessageStatus) -> None:
        message = await self.session.scalar(select(Message).where(Message.wamid == update.wamid))
        number = self.numbers.get(update.phone_number_id)
        workspace_id = message.workspace_id if message else number.workspace_id if number else None
        if workspace_id is None:
            self.result.unrouted += 1
            return
        self.attribute(workspace_id)
        duplicate = await self.session.scalar(
            select(MessageStatusEvent.id).where(
                MessageStatusEvent.wamid == update.wamid,
                MessageStatusEvent.status == update.status,
            )
        )
        if duplicate is not None:
            self.result.duplicate_statuses += 1
            return
        record = MessageStatusEvent(
            **_status_values(update, workspace_id, message, self.delivery.id)
        )
        self.session.add(record)
        self.result.statuses_recorded += 1
        if message is not None:
            event = apply_status(message, record)
            if event is not None:
                self.result.statuses_applied += 1
                self.result.events.append(event)
        await self.session.flush()

    async def account_event(self, update: AccountEvent) -> None:
        account = self.accounts.get(update.waba_id)
        if account is None:
            self.result.unrouted += 1
            return
        self.attribute(account.workspace_id)
        record = AccountEventRecord(
            workspace_id=account.workspace_id,
            account_id=account.id,
            field=update.field,
            kind=type(update).__name__,
            value=update.value,
            delivery_id=self.delivery.id,
        )
        self.session.add(record)
        await self.session.flush()
        self.result.account_events += 1
        self.result.events.append(
            AccountEventReceived(
                workspace_id=account.workspace_id,
                account_id=account.id,
                record_id=record.id,
                field=update.field,
                kind=record.kind,
                value=update.value,
            )
        )


def _status_values(update: MessageStatus, workspace_id: int, message, delivery_id: int) -> dict:
    return {
        "workspace_id": workspace_id,
        "message_id": message.id if message else None,
        "wamid": update.wamid,
        "status": update.status,
        "timestamp": update.timestamp,
        "errors": _errors_json(update.errors),
        "pricing": update.pricing,
        "meta_conversation": update.conversation,
        "raw": update.raw,
        "delivery_id": delivery_id,
    }


def status_only(updates: list[Update]) -> bool:
    """Whether a delivery carries statuses and nothing else (most of a sender's traffic)."""
    return bool(updates) and all(isinstance(u, MessageStatus) for u in updates)


class _Written:
    """A row's columns as attributes, remembering the ones set since: ``apply_status``
    works on it as on the ORM objects, and the batch writes what was set with plain
    statements."""

    def __init__(self, **values) -> None:
        self.__dict__.update(values)
        self.__dict__["written"] = {}

    def __setattr__(self, name: str, value) -> None:
        self.__dict__[name] = value
        self.written[name] = value

    def columns(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "written"}


_MESSAGES = Message.__table__
_STATUS_EVENTS = MessageStatusEvent.__table__
_NUMBERS = PhoneNumber.__table__


async def ingest_status_deliveries(
    session: AsyncSession, batch: list[tuple[WebhookDelivery, list[MessageStatus]]]
) -> list[IngestResult]:
    """Ingest many status-only deliveries with a few statements in all.

    Every send brings back two or three status webhooks; one at a time (~8 statements
    each: message, duplicate check, insert, update, savepoint) the processor applied
    ~120/s, so at a campaign's pace agents saw ticks minutes late. Here the messages,
    the statuses already recorded and the numbers are read once for the whole batch,
    and the statuses are inserted and the messages updated with one executemany each
    (``store.bulk``), without ORM objects: at three statuses per campaign send the
    ORM's unit of work was most of their cost. Same rules as one at a time
    (``apply_status``: duplicates, unknown wamids, stale statuses), same rows stored
    (``tests/channel/test_status_batch.py``); the caller runs it in a savepoint and
    falls back to one delivery at a time if it fails.
    """
    updates = [u for _, ups in batch for u in ups]
    wamids = {u.wamid for u in updates}
    # Only the columns a status reads; the ones it sets (pricing, errors …) are written
    # without being read.
    m = _MESSAGES.c
    found = await session.execute(
        select(
            m.id, m.workspace_id, m.conversation_id, m.wamid, m.status, m.error_code,
            m.error_message,
        ).where(m.wamid.in_(wamids))
    )  # fmt: skip
    messages = {row.wamid: _Written(**row._asdict()) for row in found}
    e = _STATUS_EVENTS.c
    seen = set((await session.execute(select(e.wamid, e.status).where(e.wamid.in_(wamids)))).all())
    unmatched = {u.phone_number_id for u in updates if u.wamid not in messages}
    numbers = {}
    if unmatched:
        n = _NUMBERS.c
        numbers = dict(
            (
                await session.execute(
                    select(n.phone_number_id, n.workspace_id).where(
                        n.phone_number_id.in_(unmatched)
                    )
                )
            ).all()
        )
    results, records, now = [], [], utcnow()
    for delivery, statuses in batch:
        result = IngestResult(delivery_id=delivery.id)
        for update in statuses:
            message = messages.get(update.wamid)
            workspace_id = message.workspace_id if message else numbers.get(update.phone_number_id)
            if workspace_id is None:
                result.unrouted += 1
                continue
            if delivery.workspace_id is None:
                delivery.workspace_id = workspace_id
            if (update.wamid, update.status) in seen:
                result.duplicate_statuses += 1
                continue
            seen.add((update.wamid, update.status))
            record = _Written(**_status_values(update, workspace_id, message, delivery.id))
            records.append(record)
            result.statuses_recorded += 1
            if message is not None:
                event = apply_status(message, record)
                if event is not None:
                    result.statuses_applied += 1
                    result.events.append(event)
        delivery.unrouted_count = result.unrouted
        delivery.messages_stored = 0
        delivery.duplicates = result.duplicate_statuses
        results.append(result)
    await bulk_insert(
        session,
        _STATUS_EVENTS,
        [{"applied": False, "created_at": now, **r.columns()} for r in records],
        skip_conflicts=False,  # a race on (wamid, status): the caller goes one at a time
    )
    changed: dict[tuple[str, ...], list[dict]] = {}
    for message in messages.values():
        if message.written:
            changed.setdefault(tuple(sorted(message.written)), []).append(
                {"id": message.id, **message.written}
            )
    for rows in changed.values():
        await bulk_update(session, _MESSAGES, rows)
    _expire_loaded(session, [message.id for message in messages.values() if message.written])
    await session.flush()  # the deliveries' rows, inside the caller's savepoint
    return results


def _expire_loaded(session: AsyncSession, message_ids: list[int]) -> None:
    """Messages this session still holds as ORM objects (loaded by a delivery processed
    alone earlier in the slice and still referenced: the identity map holds them weakly)
    are read again when used next: their rows were updated beside them."""
    identity_map = session.identity_map
    for message_id in message_ids:
        loaded = identity_map.get(identity_key(Message, message_id))
        if loaded is not None:
            session.expire(loaded)


async def attach_early_statuses(
    session: AsyncSession, *, since=None, wamids: list[str] | None = None
) -> list[MessageStatusChanged]:
    """Apply statuses recorded before their message had its wamid, now that it has.

    A status webhook can overtake the Graph API's answer to the send it is about. The
    sender calls this for the wamids it has just stored; on PostgreSQL the two
    transactions can still pass each other (each committing before seeing the other's
    row), so the journal processor also sweeps statuses received ``since`` a moment ago.
    """
    query = (
        select(MessageStatusEvent, Message)
        .join(Message, Message.wamid == MessageStatusEvent.wamid)
        .where(MessageStatusEvent.message_id.is_(None))
        .order_by(MessageStatusEvent.timestamp, MessageStatusEvent.id)
        .execution_options(populate_existing=True)  # after the sender's bulk update
    )
    if since is not None:
        query = query.where(MessageStatusEvent.created_at >= since)
    if wamids is not None:
        query = query.where(MessageStatusEvent.wamid.in_(wamids))
    pairs = (await session.execute(query)).all()
    events = []
    for record, message in pairs:
        event = apply_status(message, record)
        if event is not None:
            events.append(event)
    return events


def apply_status(message: Message, record: MessageStatusEvent) -> MessageStatusChanged | None:
    """Apply a recorded status to its message when it moves the message forward.

    Pricing and Meta's conversation object are kept whenever a status carries them, even
    when the status itself is stale: the figures are facts about the send either way.
    """
    if record.pricing:
        message.pricing = record.pricing
    if record.meta_conversation:
        message.meta_conversation = record.meta_conversation
    record.message_id = message.id
    if not should_apply(message.status, record.status):
        return None
    record.applied = True
    message.status = record.status
    message.status_updated_at = record.timestamp
    if record.status == Status.FAILED and record.errors:
        first = record.errors[0]
        error = error_from_code(
            first["code"],
            title=first.get("title"),
            message=first.get("message"),
            details=first.get("details"),
        )
        message.errors = record.errors
        message.error_code = first["code"]
        message.error_message = error.agent_message
    return MessageStatusChanged(
        workspace_id=message.workspace_id,
        conversation_id=message.conversation_id,
        message_id=message.id,
        status=message.status,
        error_code=message.error_code,
        error_message=message.error_message,
    )


async def _ingest(
    session: AsyncSession, delivery: WebhookDelivery, updates: list[Update]
) -> IngestResult:
    run = _Ingest(session, delivery)
    await run.load_routing(updates)
    for update in updates:
        if isinstance(update, InboundMessage):
            await run.message(update)
        elif isinstance(update, MessageStatus):
            await run.status(update)
        elif isinstance(update, AccountEvent):
            await run.account_event(update)
    result = run.result
    delivery.unrouted_count = result.unrouted
    delivery.messages_stored = result.messages_stored
    delivery.duplicates = result.duplicate_messages + result.duplicate_statuses
    result.delivery_id = delivery.id
    await session.flush()
    return result


# --------------------------------------------------------------- inbound messages together


class NotForBatch(Exception):
    """A delivery the batch leaves to one-at-a-time processing (an identity merge or move)."""


def message_only(updates: list[Update]) -> bool:
    """Whether a delivery carries inbound messages and nothing else, none of them an
    identity change (most of a customer's traffic): such deliveries are ingested together."""
    return bool(updates) and all(
        isinstance(u, InboundMessage) and u.identity_change is None for u in updates
    )


def _may_answer_csat(update: InboundMessage, open_conversation) -> bool:
    """Whether ``csat_answers`` could take this message (cheap: most messages cannot)."""
    if csat.reply_score(update.type, update.content) is not None:
        return True
    return open_conversation is None and csat.typed_score(update.type, update.text) is not None


class _New:
    """A row the batch will insert (a contact or a conversation); ``id`` once it is."""

    def __init__(self, **values) -> None:
        self.id: int | None = None
        self.__dict__.update(values)


def _returning(model, *keys):
    table = model.__table__
    return insert(table).returning(table.c.id, *(table.c[k] for k in keys))


async def _insert_all(session: AsyncSession, model, rows: list[dict], keys: tuple[str, ...]):
    """Insert ``rows`` in multi-row statements; {natural key: id}. (Mapped by a key the
    batch makes unique, not by position: in-order RETURNING needs a sentinel column the
    tables do not have, and without one SQLAlchemy inserts one row per statement.)"""
    if not rows:
        return {}
    connection = await session.connection()
    result = await connection.execute(_returning(model, *keys), rows)
    return {tuple(row[1:]): row[0] for row in result}


class _Contacts:
    """The batch's contacts by (workspace, BSUID) and (workspace, phone), read once."""

    def __init__(self) -> None:
        self.by_user: dict[tuple[int, str], Contact | _New] = {}
        self.by_wa: dict[tuple[int, str], Contact | _New] = {}
        self.new: list[_New] = []  # to insert, in the order they were first seen

    async def insert_new(self, session: AsyncSession) -> None:
        now = utcnow()
        rows = [
            {
                "workspace_id": c.workspace_id,
                **{f: getattr(c, f) for f in _IDENTITY_FIELDS},
                "created_at": now,
                "updated_at": now,
            }
            for c in self.new
        ]
        # A new contact has a BSUID or a phone, unique in its workspace (and in the batch).
        ids = await _insert_all(session, Contact, rows, ("workspace_id", "user_id", "wa_id"))
        for c in self.new:
            c.id = ids[(c.workspace_id, c.user_id, c.wa_id)]

    async def load(self, session: AsyncSession, seen: list[tuple[int, ObservedIdentity]]) -> None:
        per_workspace: dict[int, tuple[set[str], set[str]]] = {}
        for workspace_id, who in seen:
            users, phones = per_workspace.setdefault(workspace_id, (set(), set()))
            if who.user_id:
                users.add(who.user_id)
            if who.wa_id:
                phones.add(who.wa_id)
        for workspace_id, (users, phones) in per_workspace.items():
            rows = await session.scalars(
                select(Contact).where(
                    Contact.workspace_id == workspace_id,
                    or_(Contact.user_id.in_(users), Contact.wa_id.in_(phones)),
                )
            )
            for contact in rows:
                self.remember(contact)

    def remember(self, contact: Contact) -> None:
        if contact.user_id:
            self.by_user[(contact.workspace_id, contact.user_id)] = contact
        if contact.wa_id:
            self.by_wa[(contact.workspace_id, contact.wa_id)] = contact

    def resolve(self, workspace_id: int, seen: ObservedIdentity) -> Contact | _New:
        """``contacts.resolve_contact`` on the rows read for the batch (same rules); the
        two cases that change other rows (merge, a phone moving) are NotForBatch."""
        by_user = self.by_user.get((workspace_id, seen.user_id)) if seen.user_id else None
        by_wa = self.by_wa.get((workspace_id, seen.wa_id)) if seen.wa_id else None
        if (
            by_wa is not None
            and by_wa is not by_user
            and seen.user_id
            and (
                (by_wa.user_id is None and by_user is not None)
                or (by_wa.user_id is not None and by_wa.user_id != seen.user_id)
            )
        ):
            raise NotForBatch(f"contact {by_wa.id}: identity merge or move")
        contact = choose_contact(by_user, by_wa)
        if contact is None:
            contact = _New(
                workspace_id=workspace_id, **{f: getattr(seen, f) for f in _IDENTITY_FIELDS}
            )
            self.new.append(contact)
        else:
            known = KnownIdentity(**{f: getattr(contact, f) for f in _IDENTITY_FIELDS})
            if merge_identity(known, seen):
                if contact.wa_id and known.wa_id != contact.wa_id:  # the phone it no longer has
                    self.by_wa.pop((workspace_id, contact.wa_id), None)
                for f in _IDENTITY_FIELDS:
                    setattr(contact, f, getattr(known, f))
        self.remember(contact)
        return contact


async def _conversations(
    session: AsyncSession, pairs: set[tuple[int, int]], known_contacts: set[int]
) -> tuple[dict[tuple[int, int], Conversation], dict[tuple[int, int], int]]:
    """Open conversations by (contact id, number id), and the latest conversation id of
    each pair (a new conversation links to it), for contacts that existed before."""
    if not known_contacts:
        return {}, {}
    pair_set = {p for p in pairs if p[0] in known_contacts}
    open_rows = await session.scalars(
        select(Conversation)
        .where(
            Conversation.contact_id.in_({c for c, _ in pair_set}),
            Conversation.status.not_in(CLOSED_STATUSES),
        )
        .order_by(Conversation.id)
    )
    open_by_pair = {}
    for conversation in open_rows:  # id order: the newest open one wins, as one at a time
        key = (conversation.contact_id, conversation.phone_number_id)
        if key in pair_set:
            open_by_pair[key] = conversation
    latest = {}
    missing = pair_set - open_by_pair.keys()
    if missing:
        rows = await session.execute(
            select(Conversation.contact_id, Conversation.phone_number_id, func.max(Conversation.id))
            .where(Conversation.contact_id.in_({c for c, _ in missing}))
            .group_by(Conversation.contact_id, Conversation.phone_number_id)
        )
        latest = {(c, n): i for c, n, i in rows if (c, n) in missing}
    return open_by_pair, latest


async def ingest_message_deliveries(
    session: AsyncSession, batch: list[tuple[WebhookDelivery, list[InboundMessage]]]
) -> list[IngestResult]:
    """Ingest many message-only deliveries with a few statements in all.

    One at a time, a message cost ~25 statements (number, duplicate check, contact by
    BSUID and by phone, open conversation, latest conversation, inserts, flushes, a
    savepoint). Here numbers, known wamids, contacts and conversations are read once for
    the batch, new contacts and conversations are inserted together, and the messages in
    one multi-row insert. The rules are those of one at a time, applied in delivery
    order (a customer's second message joins the conversation their first one opened);
    the caller runs this in a savepoint and falls back to one delivery at a time if it
    fails, so a bad delivery fails alone. An identity merge or a phone moving to another
    BSUID raises NotForBatch (rare, and it changes rows the batch has read).
    """
    updates = [u for _, ups in batch for u in ups]
    numbers = {
        row.phone_number_id: (row.id, row.workspace_id)
        for row in await session.execute(
            select(PhoneNumber.phone_number_id, PhoneNumber.id, PhoneNumber.workspace_id).where(
                PhoneNumber.phone_number_id.in_({u.phone_number_id for u in updates})
            )
        )
    }
    known_wamids = set(
        await session.scalars(
            select(Message.wamid).where(Message.wamid.in_({u.wamid for u in updates}))
        )
    )
    # Pass 1, in delivery order: which messages are new, and their contacts.
    results: list[IngestResult] = []
    planned: list[tuple[IngestResult, InboundMessage, int, int, Contact]] = []
    contacts = _Contacts()
    routed = [
        (numbers[u.phone_number_id][1], _observed(u.sender))
        for u in updates
        if u.phone_number_id in numbers
    ]
    await contacts.load(session, routed)
    for delivery, messages in batch:
        result = IngestResult(delivery_id=delivery.id)
        results.append(result)
        for update in messages:
            number = numbers.get(update.phone_number_id)
            if number is None:
                result.unrouted += 1
                continue
            number_pk, workspace_id = number
            if delivery.workspace_id is None:
                delivery.workspace_id = workspace_id
            if update.wamid in known_wamids:
                result.duplicate_messages += 1
                continue
            known_wamids.add(update.wamid)
            contact = contacts.resolve(workspace_id, _observed(update.sender))
            planned.append((result, update, number_pk, workspace_id, contact))
    await contacts.insert_new(session)
    # Pass 2: conversations (open ones read together, new ones inserted together), with
    # the clocks the messages move forward.
    known_contacts = {c.id for _, _, _, _, c in planned if isinstance(c, Contact)}
    pairs = {(c.id, n) for _, _, n, _, c in planned}
    open_by_pair, latest = await _conversations(session, pairs, known_contacts)
    chosen: list[tuple[Conversation | _New, bool]] = []
    new_conversations: list[_New] = []
    for result, update, number_pk, workspace_id, contact in planned:
        key = (contact.id, number_pk)
        conversation = open_by_pair.get(key)
        if isinstance(contact, Contact) and _may_answer_csat(update, conversation):
            # An answer to the CSAT question joins the closed conversation it rates.
            answered = await csat_answers.conversation_answered(
                session,
                contact.id,
                number_pk,
                update.type,
                update.content,
                update.text,
                update.context.message_id if update.context else None,
                conversation,
                update.timestamp,
            )
            if answered is not None:
                conversation = answered[0]
                event = csat_answers.record_answer(answered[1], answered[2], update.timestamp)
                if event is not None:
                    result.events.append(event)
        new = conversation is None
        if new:
            conversation = _New(
                workspace_id=workspace_id,
                contact_id=contact.id,
                phone_number_id=number_pk,
                previous_conversation_id=latest.get(key),
                last_inbound_at=None,
                free_entry_point_at=None,
                last_message_at=None,
            )
            new_conversations.append(conversation)
            open_by_pair[key] = conversation
        chosen.append((conversation, new))
        if conversation.last_inbound_at is None or update.timestamp > conversation.last_inbound_at:
            conversation.last_inbound_at = update.timestamp
        if update.referral and conversation.free_entry_point_at is None:
            conversation.free_entry_point_at = update.timestamp
        if conversation.last_message_at is None or update.timestamp > conversation.last_message_at:
            conversation.last_message_at = update.timestamp
    now = utcnow()
    ids = await _insert_all(
        session,
        Conversation,
        [
            {
                "workspace_id": c.workspace_id,
                "contact_id": c.contact_id,
                "phone_number_id": c.phone_number_id,
                "status": "new",
                "priority": 0,
                "previous_conversation_id": c.previous_conversation_id,
                "last_inbound_at": c.last_inbound_at,
                "free_entry_point_at": c.free_entry_point_at,
                "last_message_at": c.last_message_at,
                "created_at": now,
            }
            for c in new_conversations
        ],
        ("contact_id", "phone_number_id"),
    )
    for c in new_conversations:  # one new conversation per contact and number in a batch
        c.id = ids[(c.contact_id, c.phone_number_id)]
    media = {}
    for i, (_, update, number_pk, workspace_id, _) in enumerate(planned):
        if update.media is not None and update.type in MEDIA_TYPES:
            media[i] = Media(
                workspace_id=workspace_id,
                phone_number_id=number_pk,
                direction="inbound",
                kind=update.type,
                meta_media_id=update.media.media_id,
                mime_type=update.media.mime_type,
                sha256=update.media.sha256,
                filename=update.media.filename,
                status="pending",
            )
            session.add(media[i])
    if media:
        await session.flush()  # media get their ids (rare: ORM is fine)
    # Pass 3: the messages, in multi-row inserts.
    rows = []
    for i, ((_, update, _, workspace_id, _), (conversation, _)) in enumerate(
        zip(planned, chosen, strict=True)
    ):
        context = update.context
        rows.append(
            {
                "workspace_id": workspace_id,
                "conversation_id": conversation.id,
                "wamid": update.wamid,
                "direction": "inbound",
                "type": update.type,
                "status": Status.RECEIVED.value,
                "text": update.text,
                "content": update.content,
                "context_wamid": context.message_id if context else None,
                "forwarded": bool(context and context.forwarded),
                "frequently_forwarded": bool(context and context.frequently_forwarded),
                "referral": update.referral,
                "errors": _errors_json(update.errors),
                "error_code": update.errors[0].code if update.errors else None,
                "media_id": media[i].id if i in media else None,
                "timestamp": update.timestamp,
                "created_at": now,
            }
        )
    ids = await _insert_all(session, Message, rows, ("wamid",))
    for (result, update, _, workspace_id, contact), (conversation, new) in zip(
        planned, chosen, strict=True
    ):
        result.messages_stored += 1
        result.events.append(
            MessageReceived(
                workspace_id=workspace_id,
                conversation_id=conversation.id,
                message_id=ids[(update.wamid,)],
                contact_id=contact.id,
                new_conversation=new,
            )
        )
    for (delivery, _), result in zip(batch, results, strict=True):
        delivery.unrouted_count = result.unrouted
        delivery.messages_stored = result.messages_stored
        delivery.duplicates = result.duplicate_messages
    await session.flush()
    return results
