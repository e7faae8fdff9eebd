"""Who may see a live event: the audience policy of the websocket hub.

The rules, deny by default:

- nothing ever crosses workspaces;
- admins and supervisors see every event of their workspace, except that a supervisor
  listed as supervisor of some queues gets the events that belong to a queue (its
  conversations, offers, waiting counts) only for those queues or when the event names
  them, a colleague's presence only for members of those queues (or their own), account
  events only about the account itself (templates, quality, the number; not calls or a
  customer's ids), and wallboard nudges only cut to those queues by the hub
  (``limited_supervisor_admits``);
- an agent sees the message, conversation, note and supervision (monitor, whisper,
  barge) events of a conversation that is assigned or offered to them right now, or that
  the event itself names them in (``agent_id``, ``previous_agent_id``: the agent who just
  lost it to a transfer, timeout, decline or take-over still hears about it once); a
  ``conversation.changed`` also reaches the members of the conversation's queue, who may
  have it open (they see their queue's work); a ``call.changed`` also reaches the agents
  its call rings for and the agent on it; a ``conversation.offer`` only when it is
  theirs; their own presence in full, and each colleague's presence without its reason
  (what the colleague directory shows anyone, so a transfer dialog stays true);
  ``queue.changed`` of the queues they are a member of; nothing else (account events,
  media, the wallboard, any event type added later).

``audience_of`` resolves one event with at most two small indexed queries and caches
nothing, so a transfer takes effect from the next event on.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.events import (
    AccountEventReceived,
    BargedIn,
    CallChanged,
    ConversationChanged,
    CsatAnswered,
    CsatRequested,
    Event,
    MessageQueued,
    MessageReceived,
    MessageStatusChanged,
    MonitorChanged,
    NoteAdded,
    OfferMade,
    PresenceChanged,
    QueueChanged,
    SentimentChanged,
    TagsChanged,
    WallboardChanged,
    WhisperSent,
)
from madoguchi.store.models import Conversation, QueueMember

STAFF_ROLES = frozenset({"admin", "supervisor"})

# Events about one conversation that its agent follows live. OfferMade is not here: an
# offer is for the offered agent only.
CONVERSATION_EVENTS: tuple[type[Event], ...] = (
    MessageReceived,
    MessageStatusChanged,
    MessageQueued,
    ConversationChanged,
    NoteAdded,
    TagsChanged,
    MonitorChanged,
    WhisperSent,
    BargedIn,
    CallChanged,
    SentimentChanged,
    CsatRequested,
    CsatAnswered,
)
# Events that name the agent concerned (who lost the conversation, who is monitored or
# coached): that agent hears of them even when the conversation is no longer theirs.
NAMING_AGENT = (
    ConversationChanged,
    MonitorChanged,
    WhisperSent,
    BargedIn,
    CsatRequested,
    CsatAnswered,
)


@dataclass(frozen=True, slots=True)
class Audience:
    """The workspace's staff always; of its agents, only ``agent_ids``; and, when
    ``colleague_view`` is set, every other agent of the workspace gets that reduced
    frame instead of the event."""

    workspace_id: int
    agent_ids: frozenset[int] = frozenset()
    colleague_view: dict | None = None
    # The queue the event belongs to (its conversation's), for supervisors limited to
    # some queues; None when the event belongs to none.
    queue_id: int | None = None

    def admits(self, workspace_id: int, role: str, user_id: int | None) -> bool:
        if workspace_id != self.workspace_id:
            return False
        if role in STAFF_ROLES:
            return True
        return role == "agent" and user_id is not None and user_id in self.agent_ids


# Events that belong to one queue: a supervisor limited to some queues (queue
# supervisors) receives them only for those queues, or when they name that supervisor.
QUEUE_BOUND: tuple[type[Event], ...] = (OfferMade, QueueChanged, *CONVERSATION_EVENTS)


# Account events about the account itself, which every supervisor may see (number
# health, templates). Others (calls, a customer's ids or preferences, any field added
# later) name customers: a supervisor limited to some queues does not get them.
ACCOUNT_LEVEL_FIELDS = frozenset(
    {
        "account_update",
        "account_alerts",
        "account_review_update",
        "business_capability_update",
        "message_template_status_update",
        "message_template_quality_update",
        "message_template_components_update",
        "template_category_update",
        "phone_number_name_update",
        "phone_number_quality_update",
        "security",
    }
)


def limited_supervisor_admits(
    event: Event,
    audience: Audience | None,
    queue_ids: frozenset[int],
    user_id: int | None,
    subject_queues: frozenset[int] | None = None,
) -> bool:
    """Whether a supervisor limited to ``queue_ids`` receives ``event`` (fail closed when
    the audience could not be resolved). ``subject_queues``: for a presence change, the
    queues the person is a member of (None: unknown, refused)."""
    if isinstance(event, PresenceChanged):
        if user_id is not None and event.user_id == user_id:
            return True
        return subject_queues is not None and bool(subject_queues & queue_ids)
    if isinstance(event, AccountEventReceived):
        return event.field in ACCOUNT_LEVEL_FIELDS
    if isinstance(event, WallboardChanged):
        return False  # the hub sends these itself, only when their queues changed
    if not isinstance(event, QUEUE_BOUND):
        return True
    if audience is None:
        return False
    return audience.queue_id in queue_ids or (user_id is not None and user_id in audience.agent_ids)


async def member_queues(session: AsyncSession, workspace_id: int, user_id: int) -> frozenset[int]:
    """The queues ``user_id`` is a member of (whose supervisors see their presence)."""
    return frozenset(
        await session.scalars(
            select(QueueMember.queue_id).where(
                QueueMember.workspace_id == workspace_id, QueueMember.user_id == user_id
            )
        )
    )


def agents_may_see(event: Event) -> bool:
    """Whether any agent at all can be in this event's audience (else: staff only)."""
    return isinstance(event, (OfferMade, PresenceChanged, QueueChanged, *CONVERSATION_EVENTS))


def needs_lookup(event: Event) -> bool:
    """Whether resolving the agents of this event takes a query."""
    return isinstance(event, (QueueChanged, *CONVERSATION_EVENTS))


async def audience_of(session: AsyncSession | None, event: Event) -> Audience:
    """The audience of ``event``: at most one query, nothing cached.

    ``session`` may be None for events that need no lookup (see ``needs_lookup``).
    """
    ws = event.workspace_id
    if isinstance(event, OfferMade):
        return Audience(ws, frozenset({event.agent_id}), queue_id=event.queue_id)
    if isinstance(event, PresenceChanged):
        view = {"event": event.name, "user_id": event.user_id, "status": event.status}
        return Audience(ws, frozenset({event.user_id}), colleague_view=view)
    if isinstance(event, QueueChanged):
        members = await session.scalars(
            select(QueueMember.user_id).where(
                QueueMember.queue_id == event.queue_id, QueueMember.workspace_id == ws
            )
        )
        return Audience(ws, frozenset(members), queue_id=event.queue_id)
    if isinstance(event, CONVERSATION_EVENTS):
        ids: set[int | None] = set()
        row = (
            await session.execute(
                select(
                    Conversation.assigned_agent_id,
                    Conversation.offered_agent_id,
                    Conversation.queue_id,
                ).where(Conversation.id == event.conversation_id, Conversation.workspace_id == ws)
            )
        ).first()
        queue_id = None
        if row is not None:
            ids.update(row[:2])
            queue_id = row[2]
        if isinstance(event, NAMING_AGENT):
            ids.add(event.agent_id)
        if isinstance(event, ConversationChanged):
            ids.add(event.previous_agent_id)
            # The team of its queue may have it open (they see their queue's work):
            # a status change (transferred, closed) must not leave their screen stale.
            ids.update(
                await session.scalars(
                    select(QueueMember.user_id)
                    .join(Conversation, Conversation.queue_id == QueueMember.queue_id)
                    .where(
                        Conversation.id == event.conversation_id,
                        Conversation.workspace_id == ws,
                        QueueMember.workspace_id == ws,
                    )
                )
            )
        if isinstance(event, CallChanged):
            ids.add(event.agent_id)
            ids.update(event.ringing_agent_ids)
        ids.discard(None)
        return Audience(ws, frozenset(ids), queue_id=queue_id)
    return Audience(ws)
