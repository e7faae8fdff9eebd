"""Relational schema of Madoguchi (SQLAlchemy 2 declarative models).

One schema for SQLite (embedded) and PostgreSQL (scaled): JSON columns become JSONB on
PostgreSQL, timestamps are always stored and returned as UTC. Every table carries
``workspace_id`` so no query can cross workspaces by forgetting a join; the single
exception is a raw webhook delivery that names no number we know (kept, unattributed, so
the operator can see what Meta sent).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    FetchedValue,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy import (
    text as sql_text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "AccountEventRecord",
    "ApiToken",
    "Base",
    "Contact",
    "Conversation",
    "IdType",
    "JSONType",
    "Media",
    "Message",
    "MessageStatusEvent",
    "NAMING_CONVENTION",
    "OutboxEntry",
    "PhoneNumber",
    "UTCDateTime",
    "WebhookDelivery",
    "WhatsAppAccount",
    "Workspace",
    "utcnow",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")
IdType = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | str | None) -> datetime | None:
    """An aggregate's datetime as aware UTC: ``max()``/``min()`` lose the column type on
    SQLite (naive datetimes or ISO strings)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _pk() -> Mapped[int]:
    return mapped_column(IdType, primary_key=True, autoincrement=True)


def _workspace_fk() -> Mapped[int]:
    return mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[int] = _pk()
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # IANA name (``Asia/Tokyo``): the web app writes dates and times in this zone, so a
    # team spread over several countries reads the same clock.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WhatsAppAccount(Base):
    """A WhatsApp Business Account (WABA) connected to a workspace."""

    __tablename__ = "whatsapp_accounts"

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    waba_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    phone_numbers: Mapped[list[PhoneNumber]] = relationship(back_populates="account")


class PhoneNumber(Base):
    """A business phone number registered for the Cloud API."""

    __tablename__ = "phone_numbers"

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    account_id: Mapped[int] = mapped_column(
        ForeignKey("whatsapp_accounts.id", ondelete="CASCADE"), index=True
    )
    phone_number_id: Mapped[str] = mapped_column(String(64), unique=True)
    display_phone_number: Mapped[str] = mapped_column(String(32))
    verified_name: Mapped[str | None] = mapped_column(String(200))
    access_token_encrypted: Mapped[str] = mapped_column(Text)
    # Fingerprint of the plaintext token, so `apply` can tell "unchanged" without decrypting.
    access_token_fingerprint: Mapped[str] = mapped_column(String(64))
    rate_limit_per_second: Mapped[int] = mapped_column(Integer, default=80)
    # Where new conversations go when no flow is bound to the number.
    default_queue_id: Mapped[int | None] = mapped_column(
        ForeignKey("queues.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(32), default="connected")
    quality_rating: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    account: Mapped[WhatsAppAccount] = relationship(back_populates="phone_numbers")


class Contact(Base):
    """A WhatsApp user as this workspace knows them: BSUID first, phone when known."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("workspace_id", "user_id"),
        UniqueConstraint("workspace_id", "wa_id"),
    )

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    user_id: Mapped[str | None] = mapped_column(String(160))
    wa_id: Mapped[str | None] = mapped_column(String(32))
    username: Mapped[str | None] = mapped_column(String(100))
    profile_name: Mapped[str | None] = mapped_column(String(200))
    parent_user_id: Mapped[str | None] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Conversation(Base):
    """A thread between one contact and one business number, from first message to close."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_open_lookup", "contact_id", "phone_number_id", "status"),
    )

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    phone_number_id: Mapped[int] = mapped_column(
        ForeignKey("phone_numbers.id", ondelete="CASCADE"), index=True
    )
    # new | in_flow | queued | offered | active | wrap_up | closed | abandoned
    status: Mapped[str] = mapped_column(String(32), default="new", index=True)
    queue_id: Mapped[int | None] = mapped_column(
        ForeignKey("queues.id", ondelete="SET NULL"), index=True
    )
    priority: Mapped[int] = mapped_column(Integer, default=0)
    assigned_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    offered_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    wrap_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disposition_code: Mapped[str | None] = mapped_column(String(64))
    closed_reason: Mapped[str | None] = mapped_column(String(64))
    # The conversation this one continues (the customer wrote again after a close).
    previous_conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL")
    )
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # First message from a click-to-WhatsApp ad (or page CTA): opens a 72 h free window.
    free_entry_point_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # Meta refused a free-form send with 131047 at this time: the window is closed until
    # the customer writes again, whatever our clock says.
    window_closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Business-initiated (outbound template): who started it, and where the customer's
    # reply goes until ``route_back_until`` (see ``domain.route_back``).
    started_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    outbound_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    route_back_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    route_back_queue_id: Mapped[int | None] = mapped_column(
        ForeignKey("queues.id", ondelete="SET NULL")
    )
    route_back_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The campaign whose template started (or last reached) this conversation.
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    contact: Mapped[Contact] = relationship()
    phone_number: Mapped[PhoneNumber] = relationship()


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation_order", "conversation_id", "id"),
        Index("ix_messages_author_at", "author_user_id", "created_at"),
        # The templates report: a workspace's template sends over a period (few rows).
        Index(
            "ix_messages_template_sends",
            "workspace_id",
            "created_at",
            sqlite_where=sql_text("type = 'template'"),
            postgresql_where=sql_text("type = 'template'"),
        ),
        Index(
            "ix_messages_txid",
            "txid",
            "id",
            sqlite_where=sql_text("txid IS NOT NULL"),
            postgresql_where=sql_text("txid IS NOT NULL"),
        ),
    )

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    # PostgreSQL: the inserting transaction's id (a database default; reporting's rollups
    # read in its order, see services/reporting/rollups.py). Null on SQLite.
    txid: Mapped[int | None] = mapped_column(
        BigInteger, nullable=True, server_default=FetchedValue()
    )
    # Null while an outbound message waits in the outbox; unique once Meta names it.
    wamid: Mapped[str | None] = mapped_column(String(200), unique=True)
    direction: Mapped[str] = mapped_column(String(8))  # inbound | outbound
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    content: Mapped[dict] = mapped_column(JSONType, default=dict)
    context_wamid: Mapped[str | None] = mapped_column(String(200))
    forwarded: Mapped[bool] = mapped_column(Boolean, default=False)
    frequently_forwarded: Mapped[bool] = mapped_column(Boolean, default=False)
    referral: Mapped[dict | None] = mapped_column(JSONType)
    errors: Mapped[list | None] = mapped_column(JSONType)
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    pricing: Mapped[dict | None] = mapped_column(JSONType)
    meta_conversation: Mapped[dict | None] = mapped_column(JSONType)
    # A template send's category as we knew it when queued (MARKETING | UTILITY |
    # AUTHENTICATION); Meta's own verdict arrives later in ``pricing.category``.
    template_category: Mapped[str | None] = mapped_column(String(32))
    media_id: Mapped[int | None] = mapped_column(ForeignKey("media.id", ondelete="SET NULL"))
    # Who wrote an outbound message (an agent's reply, a supervisor's barge); null for
    # flows, automatic messages and workspace tokens.
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # When Meta says the message happened (inbound) / was first accepted (outbound).
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    media: Mapped[Media | None] = relationship()


class MessageStatusEvent(Base):
    """Every status webhook as received, applied to its message or not (history, audit)."""

    __tablename__ = "message_status_events"
    __table_args__ = (UniqueConstraint("wamid", "status"),)

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    wamid: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(16))
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    applied: Mapped[bool] = mapped_column(Boolean, default=False)
    errors: Mapped[list | None] = mapped_column(JSONType)
    pricing: Mapped[dict | None] = mapped_column(JSONType)
    meta_conversation: Mapped[dict | None] = mapped_column(JSONType)
    raw: Mapped[dict] = mapped_column(JSONType)
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """The exact bytes of one webhook POST: the journal Meta's acknowledgement rests on.

    The row is committed before the 200 and processed after it (``state`` pending →
    done, or failed after repeated errors, with the error kept): what was acknowledged
    is never lost, and a crash between the two resumes from the pending rows.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_pending", "state", "id"),
        # The scaled mode's claim looks up a customer's pending rows (journal_claim).
        Index(
            "ix_webhook_deliveries_customer_pending",
            "customer_key",
            "id",
            postgresql_where=sql_text("state = 'pending'"),
            sqlite_where=sql_text("state = 'pending'"),
        ),
    )

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    body: Mapped[bytes] = mapped_column(LargeBinary)
    update_count: Mapped[int] = mapped_column(Integer, default=0)
    unrouted_count: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    messages_stored: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    # Whose delivery this is (BSUID, else phone; see services.channel.journal_claim): with
    # several processes, one customer's rows are processed in order by one at a time.
    customer_key: Mapped[str | None] = mapped_column(String(160))


class AccountEventRecord(Base):
    """A non-message webhook (template status, quality, account, user id, calls…)."""

    __tablename__ = "account_events"

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    account_id: Mapped[int] = mapped_column(ForeignKey("whatsapp_accounts.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    value: Mapped[dict] = mapped_column(JSONType)
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Media(Base):
    """A media file, inbound (downloaded from Meta) or outbound (uploaded to Meta)."""

    __tablename__ = "media"

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    phone_number_id: Mapped[int] = mapped_column(ForeignKey("phone_numbers.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))  # image | video | audio | document | sticker
    meta_media_id: Mapped[str | None] = mapped_column(String(128), index=True)
    mime_type: Mapped[str | None] = mapped_column(String(128))
    sha256: Mapped[str | None] = mapped_column(String(128))
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    filename: Mapped[str | None] = mapped_column(String(255))
    storage_key: Mapped[str | None] = mapped_column(String(255))
    # pending -> stored | failed (inbound download); stored -> uploaded (outbound)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    """A bearer token for integrations; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxEntry(Base):
    """A send that must happen: committed with its message, claimed by the sender."""

    __tablename__ = "outbox"
    # The claim reads one number's pending rows in id order and stops after a batch (the
    # few not yet due, waiting for a retry, are skipped). An index on (state,
    # next_attempt_at) made every claim read and sort the whole backlog; SQLite's planner
    # preferred it to any other, so it is gone. Within a number, rows go by ``priority``
    # first (an agent's reply before a campaign's backlog), then in id order.
    __table_args__ = (
        Index("ix_outbox_state_number", "state", "phone_number_id", "priority", "id"),
    )

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), unique=True
    )
    phone_number_id: Mapped[int] = mapped_column(ForeignKey("phone_numbers.id", ondelete="CASCADE"))
    recipient_key: Mapped[str] = mapped_column(String(160))
    body: Mapped[dict] = mapped_column(JSONType)
    # Lower goes first: 0 for conversations (agents, flows), CAMPAIGN_PRIORITY for campaigns.
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # pending -> sending -> done | failed; an ambiguous outcome ends in failed, never resent
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
