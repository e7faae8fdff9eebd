"""The campaign worker: hands recipients to the outbox, a few seconds' worth at a time.

A campaign never floods the outbox. Every ``TICK`` the worker tops up each sending
campaign's share of its number's outbox to ``BACKLOG_SECONDS`` of the number's rate, and
no further than the number's messaging limit allows today. The outbox sender then sends
them at the number's rate; campaign rows carry ``CAMPAIGN_PRIORITY``, so an agent's reply
on the same number is claimed before any of them (``outbox_sender`` claims by priority).

Handing over is one transaction per slice: the recipients' conversations (found or
opened, named after the campaign, replies routed back to its queue), their template
messages and outbox rows, and the recipients marked ``queued`` with their message. So a
recipient is queued exactly once: a crash before the commit leaves them ``pending``, after
it leaves them queued with an outbox row the sender owns. Pausing or stopping takes back
the rows not yet claimed by the sender (``withdraw``); those already claimed go out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.message_status import MessageStatus as Status
from madoguchi.domain.service_window import service_window
from madoguchi.domain.templates import TemplateShape, template_shape
from madoguchi.services.billing.errors import BillingError
from madoguchi.services.campaigns import cost, limits
from madoguchi.services.channel.conversation_threads import CLOSED_STATUSES
from madoguchi.services.templates.catalog import (
    SENDABLE,
    TemplateServiceError,
    build_template_message,
)
from madoguchi.settings import Settings
from madoguchi.store.bulk import bulk_insert, bulk_update, insert_returning_ids
from madoguchi.store.db import Database
from madoguchi.store.models import (
    Campaign,
    CampaignRecipient,
    Conversation,
    MarketingPreference,
    Message,
    MessageCost,
    MessageTemplate,
    OutboxEntry,
    PhoneNumber,
)
from madoguchi.store.models.core import as_utc
from madoguchi.whatsapp.outbound import Recipient, build_send_body, render_text

log = logging.getLogger(__name__)

CAMPAIGN_PRIORITY = 10  # agents' and flows' sends are 0: they are claimed first
TICK = 0.2
BACKLOG_SECONDS = 2.0
MIN_BACKLOG = 100
AGENTS_USED_SECONDS = 10.0  # how often the agents' part of the messaging limit is read
# Rows per transaction: on SQLite a slice holds the event loop and the one writer while
# it runs, and an agent's reply (its claim, its outcome) waits for it: 250 rows were
# ~60-100 ms of that on a loaded machine, the largest step of the reply's wait.
SLICE = 100


async def campaign_backlog(session: AsyncSession, number_pk: int) -> int:
    """Campaign rows of a number waiting in the outbox (a range of the claim index)."""
    return int(
        await session.scalar(
            select(func.count()).where(
                OutboxEntry.state == "pending",
                OutboxEntry.phone_number_id == number_pk,
                OutboxEntry.priority == CAMPAIGN_PRIORITY,
            )
        )
        or 0
    )


async def withdraw(session: AsyncSession, campaign: Campaign, *, final: bool) -> int:
    """Take back the campaign's sends the sender has not claimed yet.

    Their messages and outbox rows are deleted and the recipients go back to ``pending``
    (pause) or become ``stopped`` (stop, with every recipient not queued yet). Returns how
    many sends were taken back.
    """
    rows = (
        await session.execute(
            select(OutboxEntry.id, OutboxEntry.message_id)
            .join(CampaignRecipient, CampaignRecipient.message_id == OutboxEntry.message_id)
            .where(
                CampaignRecipient.campaign_id == campaign.id,
                OutboxEntry.state == "pending",
                OutboxEntry.priority == CAMPAIGN_PRIORITY,
            )
            .with_for_update(skip_locked=True, of=OutboxEntry)
        )
    ).all()
    message_ids = [r.message_id for r in rows]
    for start in range(0, len(rows), 500):
        part = message_ids[start : start + 500]
        await session.execute(
            update(CampaignRecipient)
            .where(CampaignRecipient.message_id.in_(part))
            .values(
                state="stopped" if final else "pending",
                message_id=None,
                queued_at=None,
                error="stopped before it was sent" if final else None,
            )
        )
        await session.execute(delete(OutboxEntry).where(OutboxEntry.message_id.in_(part)))
        await session.execute(delete(MessageCost).where(MessageCost.message_id.in_(part)))
        await session.execute(delete(Message).where(Message.id.in_(part)))
    if final:
        await session.execute(
            update(CampaignRecipient)
            .where(
                CampaignRecipient.campaign_id == campaign.id,
                CampaignRecipient.state == "pending",
            )
            .values(state="stopped", error="stopped before it was sent")
        )
    return len(rows)


class CampaignWorker:
    """Starts due campaigns and feeds sending ones into the outbox (see the module doc)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        wake_sender: Callable[[], None],
        refresh_tier: Callable[[int], Any] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.wake_sender = wake_sender
        self.refresh_tier = refresh_tier
        self._wake = asyncio.Event()
        self._agents_used_at: dict[int, tuple[datetime, int]] = {}

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                queued = await self.tick()
            except Exception:
                log.exception("campaign worker tick failed")
                queued = 0
            if queued:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK)

    async def tick(self, now: datetime | None = None) -> int:
        """Start what is due, feed what is sending; returns how many sends were queued."""
        now = now or datetime.now(UTC)
        await self.start_due(now)
        async with self.db.read() as session:
            sending = (
                await session.scalars(
                    select(Campaign.id).where(Campaign.status == "sending").order_by(Campaign.id)
                )
            ).all()
        queued = 0
        for campaign_id in sending:
            queued += await self.feed(campaign_id, now)
        if queued:
            # The sender may run in another process (``madoguchi.layout``): a plain wake.
            self.wake_sender()
        return queued

    async def start_due(self, now: datetime) -> None:
        """Scheduled campaigns whose time has come start sending (tiers read again).

        Looked for in a read first: a write transaction per tick would queue behind (and
        in front of) every other writer of an embedded database for nothing."""
        due_query = select(Campaign.id).where(
            Campaign.status == "scheduled", Campaign.scheduled_at <= now
        )
        async with self.db.read() as session:
            if not (await session.scalars(due_query)).first():
                return
        async with self.db.write() as session:
            due = (
                await session.scalars(
                    select(Campaign).where(
                        Campaign.status == "scheduled", Campaign.scheduled_at <= now
                    )
                )
            ).all()
            numbers = set()
            for campaign in due:
                campaign.status, campaign.started_at = "sending", campaign.started_at or now
                numbers.add(campaign.phone_number_id)
        if self.refresh_tier is not None:
            for number_pk in numbers:
                await self.refresh_tier(number_pk)

    async def feed(self, campaign_id: int, now: datetime, most: int | None = None) -> int:
        """Queue the next slice of one campaign's recipients (``most`` at most); returns
        how many. A slice that would spend past a hard-limit budget is not queued and the
        campaign pauses, saying why (an admin raises the budget, then resumes it)."""
        try:
            return await self._feed(campaign_id, now, most)
        except BillingError as exc:
            async with self.db.write() as session:
                campaign = await session.get(Campaign, campaign_id)
                campaign.status, campaign.status_reason = "paused", exc.message
            log.warning("campaign %s paused: %s", campaign_id, exc.message)
            return 0

    async def _feed(self, campaign_id: int, now: datetime, most: int | None) -> int:
        async with self.db.write() as session:
            campaign = await session.scalar(
                select(Campaign)
                .where(Campaign.id == campaign_id, Campaign.status == "sending")
                .with_for_update(skip_locked=True)
            )
            if campaign is None:
                return 0
            number = await session.get(PhoneNumber, campaign.phone_number_id)
            backlog = await campaign_backlog(session, number.id)
            room = max(MIN_BACKLOG, int(number.rate_limit_per_second * BACKLOG_SECONDS)) - backlog
            if room <= 0:
                return 0
            limit = await limits.limit_status(
                session,
                number.id,
                now,
                self.settings.campaign_messaging_limit,
                by_agents=await self._agents_used(session, number.id, now),
            )
            if limit.remaining is not None and limit.remaining <= 0:
                await self._wait_for_limit(session, campaign, limit, now)
                return 0
            budget = min(room, most or SLICE, SLICE)
            if limit.remaining is not None:
                budget = min(budget, limit.remaining)
            return await self._queue_slice(session, campaign, number, budget, now)

    async def _agents_used(self, session, number_pk: int, now: datetime) -> int | None:
        """The agents' part of a number's messaging limit, read again every
        ``AGENTS_USED_SECONDS`` (a day of an agent's templates is read for it; the feed
        asks every slice). None for an unlimited number (nothing is counted then)."""
        cached = self._agents_used_at.get(number_pk)
        if cached is not None and 0 <= (now - cached[0]).total_seconds() < AGENTS_USED_SECONDS:
            return cached[1]
        used = await limits.agents_used_last_day(session, number_pk, now)
        self._agents_used_at[number_pk] = (now, used)
        return used

    async def _wait_for_limit(self, session, campaign: Campaign, limit, now: datetime) -> None:
        at = await limits.next_room_at(session, campaign.phone_number_id, now)
        when = f"; more from {at:%Y-%m-%d %H:%M} UTC" if at else ""
        reason = (
            f"messaging limit reached: {limit.per_day:,} customers per 24 h ({limit.tier}){when}"
        )
        if campaign.status_reason != reason:
            campaign.status_reason = reason

    async def _queue_slice(
        self, session, campaign: Campaign, number: PhoneNumber, budget: int, now: datetime
    ) -> int:
        template = (
            await session.get(MessageTemplate, campaign.template_id)
            if campaign.template_id
            else None
        )
        if template is None or template.status not in SENDABLE:
            campaign.status = "paused"
            campaign.status_reason = (
                f"template {template.name} is {template.status}" if template else "template deleted"
            )
            return 0
        r = CampaignRecipient
        recipients = (
            await session.execute(
                select(r.id, r.contact_id, r.wa_id, r.user_id, r.name, r.variables)
                .where(
                    CampaignRecipient.campaign_id == campaign.id,
                    CampaignRecipient.state == "pending",
                )
                .order_by(CampaignRecipient.id)
                .limit(budget)
            )
        ).all()
        if not recipients:
            campaign.status, campaign.finished_at = "finished", now
            campaign.status_reason = None
            return 0
        if campaign.status_reason and campaign.status_reason.startswith("messaging limit"):
            campaign.status_reason = None
        # Recipients' rows are read and written with plain statements (no ORM objects):
        # at a thousand sends a second the ORM's unit of work was most of the feeding.
        left_out: list[dict[str, Any]] = []  # skipped or opted out, with the reason
        if template.category == "MARKETING":
            recipients = await self._drop_opted_out(session, recipients, left_out)
        conversations, windows = await self._conversations(
            session, campaign, number, recipients, now
        )
        messages, outbox, done = [], [], []
        # The template's parameters and checks are worked out once for the slice, not
        # per recipient (they were about a quarter of the feeding's CPU).
        shape = template_shape(template.components or [], template.category)
        for recipient in recipients:
            message, error = self._message(campaign, template, shape, recipient)
            if error is not None:
                left_out.append({"id": recipient.id, "state": "skipped", "error": error})
                continue
            conversation_id = conversations[recipient.contact_id]
            done.append((recipient, conversation_id))
            messages.append(
                {
                    "workspace_id": campaign.workspace_id,
                    "conversation_id": conversation_id,
                    "direction": "outbound",
                    "type": "template",
                    "status": Status.QUEUED.value,
                    "text": render_text(message),
                    "content": message.model_dump(mode="json", exclude_none=True),
                    "template_category": template.category,
                    "timestamp": now,
                    "created_at": now,
                    "forwarded": False,
                    "frequently_forwarded": False,
                }
            )
            outbox.append(
                build_send_body(
                    message, Recipient(wa_id=recipient.wa_id, user_id=recipient.user_id)
                )
            )
        await bulk_update(session, CampaignRecipient.__table__, left_out)
        if not done:
            return 0
        ids = await insert_returning_ids(session, Message.__table__, messages)
        await bulk_insert(
            session,
            OutboxEntry.__table__,
            [
                {
                    "workspace_id": campaign.workspace_id,
                    "message_id": message_id,
                    "phone_number_id": number.id,
                    "recipient_key": recipient.user_id or recipient.wa_id,
                    "body": body,
                    "priority": CAMPAIGN_PRIORITY,
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for message_id, (recipient, _), body in zip(ids, done, outbox, strict=True)
            ],
            skip_conflicts=False,
        )
        await cost.record_slice(
            session,
            campaign,
            template.category,
            template.name,
            [
                cost.Priced(m, c, r.wa_id, r.user_id, windows[r.contact_id])
                for m, (r, c) in zip(ids, done, strict=True)
            ],
            now,
        )
        await bulk_update(
            session,
            CampaignRecipient.__table__,
            [
                {
                    "id": recipient.id,
                    "state": "queued",
                    "message_id": message_id,
                    "conversation_id": conversation_id,
                    "queued_at": now,
                }
                for message_id, (recipient, conversation_id) in zip(ids, done, strict=True)
            ],
        )
        return len(done)

    @staticmethod
    def _message(campaign: Campaign, template: MessageTemplate, shape: TemplateShape, recipient):
        if template.category == "AUTHENTICATION" and not recipient.wa_id:
            return None, "authentication templates need the customer's phone, not a BSUID"
        context = {
            "row": dict(recipient.variables or {}),
            "contact": {
                "name": recipient.name,
                "profile_name": recipient.name,
                "wa_id": recipient.wa_id,
                "phone": f"+{recipient.wa_id}" if recipient.wa_id else None,
                "user_id": recipient.user_id,
            },
        }
        try:
            message = build_template_message(template, campaign.values or {}, context, shape=shape)
            return message, None
        except TemplateServiceError as exc:
            return None, exc.message

    @staticmethod
    async def _drop_opted_out(session, recipients: list, left_out: list[dict[str, Any]]):
        opted = set(
            await session.scalars(
                select(MarketingPreference.contact_id).where(
                    MarketingPreference.contact_id.in_([r.contact_id for r in recipients]),
                    MarketingPreference.opted_out.is_(True),
                )
            )
        )
        kept = []
        for recipient in recipients:
            if recipient.contact_id in opted:
                left_out.append(
                    {
                        "id": recipient.id,
                        "state": "opted_out",
                        "error": "opted out of marketing messages",
                    }
                )
            else:
                kept.append(recipient)
        return kept

    async def _conversations(
        self, session, campaign: Campaign, number: PhoneNumber, recipients, now: datetime
    ) -> dict[int, int]:
        """Each recipient's open conversation with the number (opened when none, with the
        pair's service window), named after the campaign, with its replies routed back to
        the campaign's queue; and each contact's service window (for the price)."""
        contact_ids = [r.contact_id for r in recipients]

        async def open_ones() -> dict[int, int]:
            rows = await session.execute(
                select(Conversation.contact_id, func.max(Conversation.id))
                .where(
                    Conversation.phone_number_id == number.id,
                    Conversation.contact_id.in_(contact_ids),
                    Conversation.status.not_in(CLOSED_STATUSES),
                )
                .group_by(Conversation.contact_id)
            )
            return dict(rows.all())

        found = await open_ones()
        history = {
            row[0]: tuple(as_utc(v) if i else v for i, v in enumerate(row[1:]))
            for row in await session.execute(
                select(
                    Conversation.contact_id,
                    func.max(Conversation.id),
                    func.max(Conversation.last_inbound_at),
                    func.max(Conversation.free_entry_point_at),
                    func.max(Conversation.window_closed_at),
                )
                .where(
                    Conversation.phone_number_id == number.id,
                    Conversation.contact_id.in_(contact_ids),
                )
                .group_by(Conversation.contact_id)
            )
        }
        none = (None, None, None, None)
        windows = {c: service_window(*history.get(c, none)[1:]) for c in contact_ids}
        missing = [c for c in contact_ids if c not in found]
        if missing:
            await bulk_insert(
                session,
                Conversation.__table__,
                [
                    {
                        "workspace_id": campaign.workspace_id,
                        "contact_id": contact_id,
                        "phone_number_id": number.id,
                        "status": "new",
                        "priority": 0,
                        "previous_conversation_id": history.get(contact_id, none)[0],
                        "last_inbound_at": history.get(contact_id, none)[1],
                        "free_entry_point_at": history.get(contact_id, none)[2],
                        "window_closed_at": history.get(contact_id, none)[3],
                        "created_at": now,
                    }
                    for contact_id in missing
                ],
                skip_conflicts=False,
            )
            found = await open_ones()
        has_target = campaign.queue_id is not None or campaign.agent_id is not None
        until = (
            now + timedelta(hours=campaign.route_back_hours)
            if has_target and campaign.route_back_hours
            else None
        )
        await bulk_update(
            session,
            Conversation.__table__,
            [
                {
                    "id": conversation_id,
                    "campaign_id": campaign.id,
                    "started_by_user_id": campaign.created_by_user_id,
                    "outbound_started_at": now,
                    "route_back_agent_id": campaign.agent_id,
                    "route_back_queue_id": campaign.queue_id,
                    "route_back_until": until,
                    "last_message_at": now,
                }
                for conversation_id in set(found.values())
            ],
        )
        return found, windows
