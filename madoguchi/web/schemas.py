"""The public JSON shapes of the REST API (``/api/v1``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from madoguchi.domain.service_window import service_window
from madoguchi.store.models import Contact, Conversation, CsatResponse, Media, Message


class ContactOut(BaseModel):
    id: int
    user_id: str | None = Field(description="Business-scoped user id (BSUID)")
    wa_id: str | None = Field(description="Phone number, absent for username-only users")
    username: str | None
    profile_name: str | None

    @classmethod
    def of(cls, c: Contact) -> ContactOut:
        return cls(
            id=c.id,
            user_id=c.user_id,
            wa_id=c.wa_id,
            username=c.username,
            profile_name=c.profile_name,
        )


class CsatOut(BaseModel):
    """The customer-satisfaction question of a conversation and its answer."""

    asked_at: datetime
    answered_at: datetime | None
    score: int | None = Field(description="1 (poor) … 5 (excellent); null until answered")
    kind: str = Field(description="list | buttons")
    language: str
    queue_id: int | None
    agent_id: int | None

    @classmethod
    def of(cls, row: CsatResponse) -> CsatOut:
        return cls(
            asked_at=row.asked_at,
            answered_at=row.answered_at,
            score=row.score,
            kind=row.kind,
            language=row.language,
            queue_id=row.queue_id,
            agent_id=row.agent_id,
        )


class ConversationOut(BaseModel):
    id: int
    status: str = Field(
        description="new | in_flow | queued | offered | active | wrap_up | closed | abandoned"
    )
    contact: ContactOut
    queue_id: int | None
    priority: int
    assigned_agent_id: int | None
    offered_agent_id: int | None
    previous_conversation_id: int | None
    disposition_code: str | None
    phone_number_id: str
    display_phone_number: str
    last_inbound_at: datetime | None
    last_message_at: datetime | None
    service_window_closes_at: datetime | None
    service_window_open: bool = Field(description="Free-form messages may be sent now")
    service_window_seconds_left: int = Field(description="0 when closed")
    service_window_basis: str | None = Field(
        None, description="customer_message (24 h) | free_entry_point (72 h) | closed_by_meta"
    )
    started_by_user_id: int | None = Field(None, description="Who sent the opening template")
    route_back_agent_id: int | None = Field(None, description="A reply goes back to this agent")
    route_back_queue_id: int | None = Field(None, description="…or to this queue")
    route_back_until: datetime | None = Field(None, description="…if it comes before this")
    campaign_id: int | None = Field(None, description="The campaign that reached the customer")
    campaign_name: str | None = None
    created_at: datetime
    closed_at: datetime | None
    unread: int | None = Field(
        None,
        description="Customer messages after the caller's read marker (conversation lists "
        "and single reads, for a signed-in user; null otherwise)",
    )
    csat: CsatOut | None = Field(
        None, description="The CSAT question and answer (single reads only; null if never asked)"
    )

    @classmethod
    def of(cls, c: Conversation, *, unread: int | None = None) -> ConversationOut:
        window = service_window(c.last_inbound_at, c.free_entry_point_at, c.window_closed_at)
        now = datetime.now(UTC)
        return cls(
            id=c.id,
            status=c.status,
            contact=ContactOut.of(c.contact),
            queue_id=c.queue_id,
            priority=c.priority,
            assigned_agent_id=c.assigned_agent_id,
            offered_agent_id=c.offered_agent_id,
            previous_conversation_id=c.previous_conversation_id,
            disposition_code=c.disposition_code,
            phone_number_id=c.phone_number.phone_number_id,
            display_phone_number=c.phone_number.display_phone_number,
            last_inbound_at=c.last_inbound_at,
            last_message_at=c.last_message_at,
            service_window_closes_at=window.closes_at,
            service_window_open=window.is_open(now),
            service_window_seconds_left=int(window.remaining(now).total_seconds()),
            service_window_basis=window.basis,
            started_by_user_id=c.started_by_user_id,
            route_back_agent_id=c.route_back_agent_id,
            route_back_queue_id=c.route_back_queue_id,
            route_back_until=c.route_back_until,
            campaign_id=c.campaign_id,
            campaign_name=c.campaign_name if c.campaign_id else None,
            created_at=c.created_at,
            closed_at=c.closed_at,
            unread=unread,
        )


class MediaOut(BaseModel):
    id: int
    kind: str
    status: str = Field(description="pending | stored | failed")
    mime_type: str | None
    file_size: int | None
    filename: str | None
    error: str | None
    download_url: str | None

    @classmethod
    def of(cls, m: Media) -> MediaOut:
        return cls(
            id=m.id,
            kind=m.kind,
            status=m.status,
            mime_type=m.mime_type,
            file_size=m.file_size,
            filename=m.filename,
            error=m.error,
            download_url=f"/api/v1/media/{m.id}/content" if m.storage_key else None,
        )


class MessageOut(BaseModel):
    id: int
    conversation_id: int
    wamid: str | None
    direction: str = Field(description="inbound | outbound")
    type: str
    status: str = Field(
        description="received | queued | accepted | sent | delivered | read | failed"
    )
    text: str | None = Field(description="Plain-text rendering, or null")
    content: dict[str, Any] = Field(description="The message type's own object")
    reply_to_wamid: str | None
    forwarded: bool
    frequently_forwarded: bool
    referral: dict[str, Any] | None
    errors: list[dict[str, Any]] | None
    error_code: int | None
    error_message: str | None
    pricing: dict[str, Any] | None
    template_category: str | None = Field(
        None, description="A template send's category when queued (pricing.category follows)"
    )
    media: MediaOut | None
    author_user_id: int | None = Field(
        None, description="Who wrote an outbound message (agent, supervisor); null for automatic"
    )
    timestamp: datetime
    status_updated_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, m: Message) -> MessageOut:
        return cls(
            id=m.id,
            conversation_id=m.conversation_id,
            wamid=m.wamid,
            direction=m.direction,
            type=m.type,
            status=m.status,
            text=m.text,
            content=m.content or {},
            reply_to_wamid=m.context_wamid,
            forwarded=m.forwarded,
            frequently_forwarded=m.frequently_forwarded,
            author_user_id=m.author_user_id,
            referral=m.referral,
            errors=m.errors,
            error_code=m.error_code,
            error_message=m.error_message,
            pricing=m.pricing,
            template_category=m.template_category,
            media=MediaOut.of(m.media) if m.media else None,
            timestamp=m.timestamp,
            status_updated_at=m.status_updated_at,
            created_at=m.created_at,
        )
