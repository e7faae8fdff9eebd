"""What a campaign has done: totals, each recipient's status, the CSV export, replies.

A recipient's status is their own state until their message is queued, then the
message's (queued, accepted, sent, delivered, read, failed with Meta's code), then
``replied`` once they answered, and ``opted_out`` (with ``opted_out_at``) when they
opted out of marketing after it was queued (a stop word in reply, Meta's
``user_preferences``): the business sees who asked to hear no more from this campaign.
Statuses are read through the message and the contact's marketing preference (joins),
so a status webhook or an opt-out updates one row, not two.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.events import MessageReceived
from madoguchi.store.db import Database
from madoguchi.store.models import (
    Campaign,
    CampaignRecipient,
    Conversation,
    MarketingPreference,
    Message,
)
from madoguchi.store.models.core import as_utc

STATUSES = (
    "pending",
    "queued",
    "accepted",
    "sent",
    "delivered",
    "read",
    "failed",
    "replied",
    "opted_out",
    "skipped",
    "stopped",
)
PAGE = 5_000


def recipient_status(
    state: str, message_status: str | None, replied_at: Any, opted_out_after: bool = False
) -> str:
    if state != "queued":
        return state
    if opted_out_after:
        return "opted_out"
    if replied_at is not None:
        return "replied"
    return message_status or "queued"


def _opted_out_after_queued():
    """The join and condition of a queued recipient who opted out afterwards.

    The customer's own time (``opted_out_at``, Meta's whole seconds) can fall just before
    the queueing within the same second; the time the opt-out was recorded
    (``updated_at``) cannot, so either one after the queueing counts."""
    preference = MarketingPreference
    on = preference.contact_id == CampaignRecipient.contact_id
    after = and_(
        CampaignRecipient.state == "queued",
        preference.opted_out.is_(True),
        or_(
            preference.opted_out_at >= CampaignRecipient.queued_at,
            preference.updated_at >= CampaignRecipient.queued_at,
        ),
    )
    return on, after


async def totals(session: AsyncSession, campaign_id: int) -> dict[str, Any]:
    """Recipients by status, failures by Meta error code, and the audience's size."""
    counts = dict.fromkeys(STATUSES, 0)
    by_state = await session.execute(
        select(CampaignRecipient.state, func.count())
        .where(CampaignRecipient.campaign_id == campaign_id)
        .group_by(CampaignRecipient.state)
    )
    for state, n in by_state:
        if state != "queued":
            counts[state] = counts.get(state, 0) + n
    queued = await session.execute(
        select(Message.status, CampaignRecipient.replied_at.is_not(None), func.count())
        .join(Message, Message.id == CampaignRecipient.message_id)
        .where(CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.state == "queued")
        .group_by(Message.status, CampaignRecipient.replied_at.is_not(None))
    )
    replied_total = 0
    for status, replied, n in queued:
        if replied:
            replied_total += n
        counts[status] = counts.get(status, 0) + n
    failures = await session.execute(
        select(Message.error_code, Message.error_message, func.count())
        .join(CampaignRecipient, CampaignRecipient.message_id == Message.id)
        .where(CampaignRecipient.campaign_id == campaign_id, Message.status == "failed")
        .group_by(Message.error_code, Message.error_message)
        .order_by(func.count().desc())
        .limit(20)
    )
    counts["replied"] = replied_total
    on, after = _opted_out_after_queued()
    opted_after = await session.scalar(
        select(func.count())
        .select_from(CampaignRecipient)
        .join(MarketingPreference, on)
        .where(CampaignRecipient.campaign_id == campaign_id, after)
    )
    total = sum(n for k, n in counts.items() if k != "replied")
    # "sent" as people mean it: Meta has the message (sent, delivered or read).
    reached = counts["sent"] + counts["delivered"] + counts["read"]
    return {
        "total": total,
        "counts": counts,
        "reached": reached,
        # Of those reached: opted out of marketing after their message was queued (an
        # overlay, like "replied": they stay counted by their message's status).
        "opted_out_after_sending": int(opted_after or 0),
        "failures": [
            {"error_code": code, "reason": reason, "count": n} for code, reason, n in failures
        ],
    }


def _row(
    recipient: CampaignRecipient, message: Message | None, opted_out_at: datetime | None = None
) -> dict[str, Any]:
    status = recipient_status(
        recipient.state,
        message.status if message else None,
        recipient.replied_at,
        opted_out_at is not None,
    )
    return {
        "id": recipient.id,
        "contact_id": recipient.contact_id,
        "conversation_id": recipient.conversation_id,
        "wa_id": recipient.wa_id,
        "user_id": recipient.user_id,
        "name": recipient.name,
        "country": recipient.country,
        "source": recipient.source,
        "status": status,
        "error_code": message.error_code if message else None,
        "error": (message.error_message if message and message.error_message else None)
        or recipient.error,
        "queued_at": recipient.queued_at,
        "status_updated_at": message.status_updated_at if message else None,
        "replied_at": recipient.replied_at,
        "opted_out_at": opted_out_at,
        "variables": recipient.variables or {},
    }


async def list_recipients(
    session: AsyncSession,
    campaign_id: int,
    *,
    status: str | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[dict[str, Any]]:
    on, after = _opted_out_after_queued()
    opted_out_at = case((after, MarketingPreference.opted_out_at), else_=None)
    query = (
        select(CampaignRecipient, Message, opted_out_at)
        .outerjoin(Message, Message.id == CampaignRecipient.message_id)
        .outerjoin(MarketingPreference, on)
        .where(CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.id > after_id)
        .order_by(CampaignRecipient.id)
        .limit(limit)
    )
    if status == "opted_out":  # left out when queued, or opted out after
        query = query.where(or_(CampaignRecipient.state == status, after))
    elif status in ("pending", "skipped", "stopped"):
        query = query.where(CampaignRecipient.state == status)
    elif status == "replied":
        query = query.where(CampaignRecipient.replied_at.is_not(None))
    elif status is not None:
        query = query.where(CampaignRecipient.state == "queued", Message.status == status)
    return [_row(r, m, as_utc(at)) for r, m, at in (await session.execute(query)).all()]


EXPORT_FIELDS = (
    "phone",
    "user_id",
    "name",
    "country",
    "status",
    "error_code",
    "error",
    "queued_at",
    "status_updated_at",
    "replied_at",
    "opted_out_at",
    "source",
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    # A spreadsheet runs a cell starting with these as a formula: keep it text.
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not text[1:2].isdigit() else text


async def export_csv(db: Database, campaign: Campaign) -> AsyncIterator[bytes]:
    """The recipients with their status as CSV (UTF-8 with BOM, so Excel reads Japanese),
    page by page (a short read transaction each)."""
    columns = list(campaign.columns or [])
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*EXPORT_FIELDS, *columns])
    yield ("\ufeff" + buffer.getvalue()).encode()
    after = 0
    while True:
        async with db.read() as session:
            rows = await list_recipients(session, campaign.id, after_id=after, limit=PAGE)
        if not rows:
            return
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for row in rows:
            out = {**row, "phone": f"+{row['wa_id']}" if row["wa_id"] else ""}
            writer.writerow(
                [_cell(out[f]) for f in EXPORT_FIELDS]
                + [_cell(row["variables"].get(c)) for c in columns]
            )
        yield buffer.getvalue().encode()
        after = rows[-1]["id"]


async def on_messages_received(db: Database, events: list[MessageReceived]) -> None:
    """``on_message_received`` for a batch: one read finds the campaigns' conversations."""
    async with db.read() as session:
        reached = set(
            await session.scalars(
                select(Conversation.id).where(
                    Conversation.id.in_({e.conversation_id for e in events}),
                    Conversation.campaign_id.is_not(None),
                )
            )
        )
    for event in events:
        if event.conversation_id in reached:
            await on_message_received(db, event)


async def on_message_received(db: Database, event: MessageReceived) -> None:
    """A customer answered a conversation a campaign reached: the recipient replied."""
    async with db.read() as session:
        row = (
            await session.execute(
                select(Conversation.campaign_id, Conversation.contact_id).where(
                    Conversation.id == event.conversation_id
                )
            )
        ).first()
    if row is None or row.campaign_id is None:
        return
    async with db.write() as session:
        await session.execute(
            update(CampaignRecipient)
            .where(
                CampaignRecipient.campaign_id == row.campaign_id,
                CampaignRecipient.contact_id == row.contact_id,
                CampaignRecipient.state == "queued",
                CampaignRecipient.replied_at.is_(None),
            )
            .values(replied_at=datetime.now(UTC))
        )
