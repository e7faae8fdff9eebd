"""Domain events: what happened, published on the bus after the transaction committed.

Handlers (flow runner, routing, realtime hub) subscribe to these types; the services that
publish them do not know who listens. Events carry ids, not ORM objects, so they can cross
process boundaries (Redis) as JSON.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Event:
    name: ClassVar[str] = "event"
    workspace_id: int

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.name, **asdict(self)}


@dataclass(frozen=True, slots=True)
class MessageReceived(Event):
    name: ClassVar[str] = "message.received"
    conversation_id: int
    message_id: int
    contact_id: int
    new_conversation: bool = False


@dataclass(frozen=True, slots=True)
class MessageStatusChanged(Event):
    name: ClassVar[str] = "message.status"
    conversation_id: int
    message_id: int
    status: str
    error_code: int | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class MessageQueued(Event):
    name: ClassVar[str] = "message.queued"
    conversation_id: int
    message_id: int


@dataclass(frozen=True, slots=True)
class AccountEventReceived(Event):
    """A non-message webhook (template status, quality, account, user id, calls…)."""

    name: ClassVar[str] = "account.event"
    account_id: int
    record_id: int
    field: str
    kind: str
    value: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConversationChanged(Event):
    """A lifecycle step: queued, offered, assigned, transferred, wrap-up, closed…

    ``agent_id`` is the agent the step concerns (offered to, assigned to); ``previous_agent_id``
    the one who lost it (transfer, timeout, decline), so both their desktops can update.
    """

    name: ClassVar[str] = "conversation.changed"
    conversation_id: int
    status: str
    step: str
    queue_id: int | None = None
    agent_id: int | None = None
    previous_agent_id: int | None = None


@dataclass(frozen=True, slots=True)
class OfferMade(Event):
    """A conversation is offered to one agent, who must accept or decline before expiry."""

    name: ClassVar[str] = "conversation.offer"
    conversation_id: int
    agent_id: int
    queue_id: int
    expires_at: str


@dataclass(frozen=True, slots=True)
class PresenceChanged(Event):
    name: ClassVar[str] = "agent.presence"
    user_id: int
    status: str
    away_reason: str | None = None


@dataclass(frozen=True, slots=True)
class QueueChanged(Event):
    """Waiting counts of a queue changed (for wallboards and agents' queue views)."""

    name: ClassVar[str] = "queue.changed"
    queue_id: int
    waiting: int


@dataclass(frozen=True, slots=True)
class QueueSettingsChanged(Event):
    """A queue was created, changed (settings, members, supervisors) or deleted: staff
    sockets limited to some queues are re-scoped, wallboards re-read the small tables."""

    name: ClassVar[str] = "queue.settings"
    queue_id: int


@dataclass(frozen=True, slots=True)
class MonitorChanged(Event):
    """A supervisor started or stopped following a conversation (the agent's indicator)."""

    name: ClassVar[str] = "conversation.monitor"
    conversation_id: int
    supervisor_id: int
    active: bool
    agent_id: int | None = None


@dataclass(frozen=True, slots=True)
class WhisperSent(Event):
    """A supervisor wrote to the agent inside a conversation; the customer never sees it."""

    name: ClassVar[str] = "conversation.whisper"
    conversation_id: int
    whisper_id: int
    author_id: int
    agent_id: int | None = None
    body: str = ""


@dataclass(frozen=True, slots=True)
class BargedIn(Event):
    """A supervisor wrote to the customer in a conversation an agent is handling."""

    name: ClassVar[str] = "conversation.barge"
    conversation_id: int
    message_id: int
    supervisor_id: int
    agent_id: int | None = None


@dataclass(frozen=True, slots=True)
class WallboardChanged(Event):
    """Something the wallboard shows changed: staff browsers re-read ``/api/v1/wallboard``.

    Coalesced (at most one per workspace per short interval), sent to each process's own
    sockets, never through the bus.
    """

    name: ClassVar[str] = "wallboard.changed"
    version: int = 0


@dataclass(frozen=True, slots=True)
class NoteAdded(Event):
    name: ClassVar[str] = "conversation.note"
    conversation_id: int
    note_id: int
    author_id: int | None = None


@dataclass(frozen=True, slots=True)
class TagsChanged(Event):
    """A conversation's tags were replaced: everyone who has it open sees the new set."""

    name: ClassVar[str] = "conversation.tags"
    conversation_id: int
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CsatRequested(Event):
    """The CSAT question was queued to the customer as their conversation closed."""

    name: ClassVar[str] = "csat.requested"
    conversation_id: int
    message_id: int
    queue_id: int | None = None
    agent_id: int | None = None


@dataclass(frozen=True, slots=True)
class CsatAnswered(Event):
    """The customer answered the CSAT question with ``score`` (1–5)."""

    name: ClassVar[str] = "csat.answered"
    conversation_id: int
    score: int
    queue_id: int | None = None
    agent_id: int | None = None


@dataclass(frozen=True, slots=True)
class MediaStored(Event):
    name: ClassVar[str] = "media.stored"
    media_id: int
    status: str


@dataclass(frozen=True, slots=True)
class CallChanged(Event):
    """A call rang (offered), was answered, declined, connected, missed or ended.

    ``ringing_agent_ids`` are the agents whose desktops ring for it now; ``agent_id`` the
    agent on the call (or who placed it). Once it ended: ``end_reason`` and
    ``duration_seconds`` (connected time; None when it never connected). A missed call
    whose conversation was queued as the callback task is published once more with
    ``callback_queue_id``.
    """

    name: ClassVar[str] = "call.changed"
    call_id: int
    conversation_id: int
    status: str
    direction: str
    agent_id: int | None = None
    ringing_agent_ids: list[int] = field(default_factory=list)
    message_id: int | None = None
    end_reason: str | None = None
    duration_seconds: int | None = None
    callback_queue_id: int | None = None


@dataclass(frozen=True, slots=True)
class CredentialsChanged(Event):
    """A user's or a token's credentials were withdrawn or changed (token revoked,
    sign-out, user disabled, password or role changed). Every process re-checks the open
    websockets of that user or token and closes those no longer valid (4401). Never sent
    to browsers."""

    name: ClassVar[str] = "access.credentials_changed"
    user_id: int | None = None
    token_id: int | None = None


@dataclass(frozen=True, slots=True)
class SentimentChanged(Event):
    """A conversation's sentiment trend moved to another label (negative, neutral,
    positive). ``alert`` when it is negative in a queue whose supervisors asked to be
    told (assist settings): once per queue and negative spell, on the change itself or,
    when the conversation was queued after it turned negative, alone (``previous_label``
    equal to ``label``)."""

    name: ClassVar[str] = "conversation.sentiment"
    conversation_id: int
    label: str
    score: float
    previous_label: str | None = None
    alert: bool = False


def _all_event_types() -> dict[str, type[Event]]:
    found: dict[str, type[Event]] = {}
    stack = list(Event.__subclasses__())
    while stack:
        cls = stack.pop()
        # ``slots=True`` makes dataclass build a new class; the one it replaced still shows
        # in ``__subclasses__``. Keep the class the module exports, or isinstance fails.
        if getattr(sys.modules.get(cls.__module__), cls.__qualname__, None) is cls:
            found[cls.name] = cls
        stack.extend(cls.__subclasses__())
    return found


# Looked up for every event crossing processes: the types by name (found again when a name
# is missing, in case a type was defined since) and each type's tuple fields.
_TYPES: dict[str, type[Event]] = {}
_TUPLE_FIELDS: dict[type[Event], tuple[str, ...]] = {}


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from ``Event.to_dict()`` (events crossing processes: Redis, the
    split layout's socket)."""
    values = dict(data)
    name = values.pop("event", None)
    cls = _TYPES.get(name)
    if cls is None:
        _TYPES.update(_all_event_types())
        cls = _TYPES.get(name)
        if cls is None:
            raise ValueError(f"unknown event {data.get('event')!r}")
    tuples = _TUPLE_FIELDS.get(cls)
    if tuples is None:
        tuples = tuple(f.name for f in fields(cls) if str(f.type).startswith("tuple"))
        _TUPLE_FIELDS[cls] = tuples
    # JSON has no tuple: a tuple field comes back as a list and is made a tuple again.
    for field_name in tuples:
        if isinstance(values.get(field_name), list):
            values[field_name] = tuple(values[field_name])
    return cls(**values)


@dataclass(frozen=True, slots=True)
class BudgetAlert(Event):
    """The month's WhatsApp spending reached ``threshold`` % (80, 100) of the budget.

    Amounts are decimal strings in ``currency``; sent once per month and threshold.
    """

    name: ClassVar[str] = "budget.alert"
    month: str
    threshold: int
    spent: str
    budget: str
    currency: str
    hard_limit: bool = False
