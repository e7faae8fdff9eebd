"""Disconnecting a number: Meta stops sending its webhooks here, nothing more is sent from
it, and its history stays.

Removing a number would delete its conversations (see ``channel.numbers``); disconnecting
keeps them readable. The app is unsubscribed from the WABA's webhooks only when no other
number of that account stays connected in the workspace (the subscription is per account,
not per number). Messages still waiting in the outbox fail with the reason, so an agent
sees why they never left; new ones are refused by the outbox. Meta refusing the
unsubscription (an expired token, typically) does not stop the disconnection: the answer
says that webhooks may still arrive and what to do about it. Giving the number a new token
(or running Connect with Meta for it again) connects it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select

from madoguchi.domain.message_status import MessageStatus
from madoguchi.security.secrets import SecretBox
from madoguchi.services.channel.numbers import PhoneNumberError
from madoguchi.services.onboarding.health import number_and_account
from madoguchi.services.onboarding.meta_app import in_words
from madoguchi.store.db import Database
from madoguchi.store.models import Message, OutboxEntry, PhoneNumber
from madoguchi.whatsapp.errors import GraphTransportError, MetaApiError
from madoguchi.whatsapp.graph import GraphClient

DISCONNECTED = "disconnected"
REASON = "The number was disconnected before this message was sent."


@dataclass(frozen=True)
class Disconnected:
    number_id: int
    unsubscribed: bool  # the app no longer receives the account's webhooks
    unsent_failed: int  # outbox messages that will not be sent
    message: str


async def disconnect_number(
    db: Database, graph: GraphClient, secrets: SecretBox, workspace_id: int, number_id: int
) -> Disconnected:
    async with db.read() as session:
        number, account = await number_and_account(session, workspace_id, number_id)
        if number.status == DISCONNECTED:
            raise PhoneNumberError(
                None,
                f"{number.display_phone_number} is already disconnected; give it a new token "
                "(or run Connect with Meta again) to connect it",
                code="already_disconnected",
                status=409,
            )
        others = await session.scalar(
            select(func.count())
            .select_from(PhoneNumber)
            .where(
                PhoneNumber.account_id == account.id,
                PhoneNumber.id != number.id,
                PhoneNumber.status != DISCONNECTED,
            )
        )
        token = secrets.decrypt(number.access_token_encrypted)
        waba_id, display = account.waba_id, number.display_phone_number

    unsubscribed, note = False, ""
    if others:
        note = (
            f"the account's other number{'s' if others != 1 else ''} still receive"
            f"{'s' if others == 1 else ''} its webhooks, so the app stays subscribed"
        )
    else:
        try:
            await graph.unsubscribe_app(waba_id, token)
            unsubscribed = True
        except (MetaApiError, GraphTransportError) as exc:
            note = (
                f"Meta did not unsubscribe the app from the account's webhooks "
                f"({in_words(exc, token)}); webhooks may still arrive and are kept. Remove "
                "the app from the account in Meta Business Manager to stop them"
            )

    now = datetime.now(UTC)
    async with db.write() as session:
        number = await session.get(PhoneNumber, number_id)
        number.status = DISCONNECTED
        entries = (
            await session.scalars(
                select(OutboxEntry).where(
                    OutboxEntry.phone_number_id == number_id, OutboxEntry.state == "pending"
                )
            )
        ).all()
        for entry in entries:
            entry.state, entry.finished_at, entry.last_error = "failed", now, REASON
            message = await session.get(Message, entry.message_id)
            message.status = MessageStatus.FAILED
            message.status_updated_at = now
            message.error_message = REASON
    parts = [f"{display} is disconnected; its conversations stay readable"]
    if entries:
        parts.append(f"{len(entries)} unsent message{'s' if len(entries) != 1 else ''} failed")
    if note:
        parts.append(note)
    return Disconnected(number_id, unsubscribed, len(entries), "; ".join(parts))
