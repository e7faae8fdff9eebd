"""Customers opting out of (and back into) marketing templates.

Three ways in, one state per contact (``marketing_preferences``):

- the customer writes a stop word (``STOP``, ``配信停止``…) or taps a quick-reply button
  whose payload or label is one, and ``START``-like words opt them back in;
- Meta's ``user_preferences`` webhook (the user stopped or resumed marketing in WhatsApp);
- Meta refusing a marketing send with 131050 (the user had stopped them).

Each change carries the time the customer expressed it; an older piece of news (webhooks
are reordered) never overrides a newer one. A marketing template to an opted-out contact
is refused before it is queued (``channel.template_check``).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.events import AccountEventReceived, MessageReceived, MessageStatusChanged
from madoguchi.domain.identity import ObservedIdentity
from madoguchi.services.channel.contacts import resolve_contact
from madoguchi.store.db import Database
from madoguchi.store.models import (
    Contact,
    Conversation,
    MarketingPreference,
    Message,
)
from madoguchi.whatsapp.updates import UserPreferencesUpdate, WebhookFormatError

log = logging.getLogger(__name__)

MARKETING_STOPPED = 131050
_TRAILING = re.compile(r"[\s.!?。！？、,・~〜]+$")
_SPACES = re.compile(r"\s+")


def normalize_keyword(text: str) -> str:
    """Compare words as a person would: width, case, spacing and end punctuation ignored."""
    folded = unicodedata.normalize("NFKC", text).casefold().strip()
    return _SPACES.sub(" ", _TRAILING.sub("", folded))


def keyword_intent(
    candidates: Iterable[str | None], stop_words: Iterable[str], start_words: Iterable[str]
) -> str | None:
    """``"stop"``, ``"start"`` or None for a message's texts (body, button payload, label).

    The whole text must be the word: "please stop sending the wrong size" is not an
    opt-out, and a marketing opt-out must never be guessed.
    """
    stops = {normalize_keyword(w) for w in stop_words if w.strip()}
    starts = {normalize_keyword(w) for w in start_words if w.strip()}
    for text in candidates:
        if not text:
            continue
        word = normalize_keyword(text)
        if word in stops:
            return "stop"
        if word in starts:
            return "start"
    return None


def _message_texts(message: Message) -> list[str | None]:
    content = message.content or {}
    if message.type == "text":
        return [message.text]
    if message.type == "button":  # a template's quick-reply button
        return [content.get("payload"), content.get("text")]
    if message.type == "interactive":
        for kind in ("button_reply", "list_reply"):
            reply = content.get(kind)
            if isinstance(reply, dict):
                return [reply.get("id"), reply.get("title")]
    return []


async def preference_of(session: AsyncSession, contact_id: int) -> MarketingPreference | None:
    return await session.scalar(
        select(MarketingPreference).where(MarketingPreference.contact_id == contact_id)
    )


async def is_opted_out(session: AsyncSession, contact_id: int) -> bool:
    preference = await preference_of(session, contact_id)
    return bool(preference and preference.opted_out)


async def set_preference(
    session: AsyncSession,
    contact: Contact,
    *,
    opted_out: bool,
    source: str,
    detail: str | None = None,
    at: datetime | None = None,
) -> bool:
    """Record the contact's choice; False when it changes nothing or is older news."""
    at = at or datetime.now(UTC)
    preference = await preference_of(session, contact.id)
    if preference is None:
        if not opted_out:
            return False  # never opted out: nothing to clear
        session.add(
            MarketingPreference(
                workspace_id=contact.workspace_id,
                contact_id=contact.id,
                opted_out=True,
                source=source,
                detail=detail,
                changed_at=at,
                opted_out_at=at,
            )
        )
        await session.flush()
        return True
    if at < preference.changed_at:
        return False
    changed = preference.opted_out != opted_out
    preference.changed_at = at
    if changed:
        preference.opted_out = opted_out
        preference.source = source
        preference.detail = detail
        if opted_out:
            preference.opted_out_at = at
    return changed


# ----------------------------------------------------------------------------- handlers


async def on_message(
    db: Database, event: MessageReceived, stop_words: list[str], start_words: list[str]
) -> None:
    """A stop (or start) word or button from the customer changes their preference."""
    async with db.read() as session:  # most messages are no keyword: no write for them
        message = await session.get(Message, event.message_id)
        if message is None or message.direction != "inbound":
            return
        intent = keyword_intent(_message_texts(message), stop_words, start_words)
        source = "keyword" if message.type == "text" else "button"
        detail = (message.text or "")[:200] or None
        at = message.timestamp
    if intent is None:
        return
    async with db.write() as session:
        contact = await session.get(Contact, event.contact_id)
        if contact is None or contact.workspace_id != event.workspace_id:
            return
        changed = await set_preference(
            session, contact, opted_out=intent == "stop", source=source, detail=detail, at=at
        )
    if changed:
        log.info("contact %s opted %s by %s", event.contact_id, _word(intent), source)


async def on_messages(
    db: Database, events: list[MessageReceived], stop_words: list[str], start_words: list[str]
) -> None:
    """``on_message`` for a batch: one read finds the few that are a stop or start word."""
    async with db.read() as session:
        rows = await session.execute(
            select(Message.id, Message.type, Message.text, Message.content).where(
                Message.id.in_({e.message_id for e in events}), Message.direction == "inbound"
            )
        )
        worded = {
            row.id
            for row in rows
            if keyword_intent(_message_texts(row), stop_words, start_words) is not None
        }
    for event in events:
        if event.message_id in worded:
            await on_message(db, event, stop_words, start_words)


def _word(intent: str | None) -> str:
    return "out" if intent == "stop" else "in"


async def on_user_preferences(db: Database, event: AccountEventReceived) -> None:
    """Meta's ``user_preferences`` webhook: one or more users stopped or resumed."""
    try:
        updates = UserPreferencesUpdate.from_change(
            waba_id="", field=event.field, value=event.value, timestamp=None, path="value"
        )
    except WebhookFormatError:
        log.warning("user_preferences event %s could not be read", event.record_id)
        return
    async with db.write() as session:
        for update in updates:
            if not isinstance(update, UserPreferencesUpdate):
                continue
            if update.category and "marketing" not in update.category:
                continue
            if update.preference not in ("stop", "resume"):
                continue
            user = update.user
            contact, _ = await resolve_contact(
                session,
                event.workspace_id,
                ObservedIdentity(user_id=user.user_id, wa_id=user.wa_id),
            )
            await set_preference(
                session,
                contact,
                opted_out=update.preference == "stop",
                source="webhook",
                detail=update.detail,
                at=update.timestamp,
            )


async def on_status_changed(db: Database, event: MessageStatusChanged) -> None:
    """A send refused with 131050: the customer had stopped marketing messages."""
    if event.status != "failed" or event.error_code != MARKETING_STOPPED:
        return
    async with db.write() as session:
        conversation = await session.get(Conversation, event.conversation_id)
        if conversation is None or conversation.workspace_id != event.workspace_id:
            return
        contact = await session.get(Contact, conversation.contact_id)
        message = await session.get(Message, event.message_id)
        at = message.status_updated_at if message else None
        await set_preference(
            session, contact, opted_out=True, source="meta_error", detail="131050", at=at
        )
