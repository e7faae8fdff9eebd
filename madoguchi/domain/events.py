"""Domain events: what happened, published on the bus after the transaction committed.

Handlers (flow runner, routing, realtime hub) subscribe to these types; the services that
publish them do not know who listens. Events carry ids, not ORM objects, so they can cross
process boundaries (Redis) as JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
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
class MediaStored(Event):
    name: ClassVar[str] = "media.stored"
    media_id: int
    status: str
