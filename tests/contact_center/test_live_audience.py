"""The audience policy of live events, on both databases: for every event type and role,
who may see it; nothing crosses workspaces; a transfer takes effect at the next event."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import update

from madoguchi.domain.events import (
    AccountEventReceived,
    ConversationChanged,
    Event,
    MediaStored,
    MessageQueued,
    MessageReceived,
    MessageStatusChanged,
    NoteAdded,
    OfferMade,
    PresenceChanged,
    QueueChanged,
    TagsChanged,
)
from madoguchi.services.contact_center.live_audience import Audience, audience_of, needs_lookup
from madoguchi.store.db import Database
from madoguchi.store.models import (
    Contact,
    Conversation,
    PhoneNumber,
    Queue,
    QueueMember,
    User,
    WhatsAppAccount,
    Workspace,
)


@dataclass
class World:
    ws: int
    other_ws: int
    admin: int
    supervisor: int
    assigned: int  # agent the conversation is assigned to
    offered: int  # agent it is offered to
    member: int  # agent in the queue, not on the conversation
    stranger: int  # agent of the same workspace with nothing to do with it
    other_agent: int  # agent of the other workspace
    conv: int
    queue: int
    other_conv: int


async def _workspace(session, slug: str) -> tuple[int, int]:
    ws = Workspace(slug=slug, name=slug)
    session.add(ws)
    await session.flush()
    account = WhatsAppAccount(workspace_id=ws.id, waba_id=f"waba-{slug}", name=slug)
    session.add(account)
    await session.flush()
    number = PhoneNumber(
        workspace_id=ws.id,
        account_id=account.id,
        phone_number_id=f"pn-{slug}",
        display_phone_number="+1 555 0100",
        access_token_encrypted="x",
        access_token_fingerprint="x",
    )
    contact = Contact(workspace_id=ws.id, wa_id=f"1555{len(slug)}")
    session.add_all([number, contact])
    await session.flush()
    conv = Conversation(
        workspace_id=ws.id, contact_id=contact.id, phone_number_id=number.id, status="queued"
    )
    session.add(conv)
    await session.flush()
    return ws.id, conv.id


async def _user(session, ws: int, role: str, name: str) -> int:
    user = User(workspace_id=ws, email=f"{name}@{ws}.test", name=name, role=role)
    session.add(user)
    await session.flush()
    return user.id


@pytest.fixture
async def world(db_url):
    db = Database(db_url)
    async with db.write() as s:
        ws, conv = await _workspace(s, "alpha")
        other_ws, other_conv = await _workspace(s, "beta")
        ids = {
            name: await _user(s, ws, role, name)
            for name, role in [
                ("admin", "admin"),
                ("supervisor", "supervisor"),
                ("assigned", "agent"),
                ("offered", "agent"),
                ("member", "agent"),
                ("stranger", "agent"),
            ]
        }
        other_agent = await _user(s, other_ws, "agent", "other")
        queue = Queue(workspace_id=ws, name="sales")
        s.add(queue)
        await s.flush()
        s.add(QueueMember(workspace_id=ws, queue_id=queue.id, user_id=ids["member"]))
        s.add(QueueMember(workspace_id=ws, queue_id=queue.id, user_id=ids["assigned"]))
        await s.execute(
            update(Conversation)
            .where(Conversation.id == conv)
            .values(
                queue_id=queue.id,
                assigned_agent_id=ids["assigned"],
                offered_agent_id=ids["offered"],
            )
        )
    yield (
        db,
        World(
            ws=ws,
            other_ws=other_ws,
            conv=conv,
            queue=queue.id,
            other_conv=other_conv,
            other_agent=other_agent,
            **ids,
        ),
    )
    await db.dispose()


async def resolve(db: Database, event: Event) -> Audience:
    async with db.read() as session:
        return await audience_of(session, event)


def who(world: World, audience: Audience) -> set[str]:
    """The names of everyone in ``world`` the audience admits, with their real roles."""
    people = {
        "admin": (world.ws, "admin", world.admin),
        "supervisor": (world.ws, "supervisor", world.supervisor),
        "assigned": (world.ws, "agent", world.assigned),
        "offered": (world.ws, "agent", world.offered),
        "member": (world.ws, "agent", world.member),
        "stranger": (world.ws, "agent", world.stranger),
        "other_agent": (world.other_ws, "agent", world.other_agent),
        "other_admin": (world.other_ws, "admin", None),
        "token_agent": (world.ws, "agent", None),  # an agent API token bound to no user
    }
    return {name for name, args in people.items() if audience.admits(*args)}


STAFF = {"admin", "supervisor"}
ON_CONVERSATION = STAFF | {"assigned", "offered"}


@pytest.mark.parametrize(
    "make",
    [
        lambda w: MessageReceived(w.ws, conversation_id=w.conv, message_id=1, contact_id=1),
        lambda w: MessageStatusChanged(w.ws, conversation_id=w.conv, message_id=1, status="read"),
        lambda w: MessageQueued(w.ws, conversation_id=w.conv, message_id=1),
        lambda w: NoteAdded(w.ws, conversation_id=w.conv, note_id=1),
        lambda w: TagsChanged(w.ws, conversation_id=w.conv, tags=("vip",)),
        lambda w: ConversationChanged(w.ws, conversation_id=w.conv, status="active", step="x"),
    ],
    ids=["message.received", "message.status", "message.queued", "note", "tags", "conversation"],
)
async def test_conversation_events_reach_staff_and_its_agents(world, make):
    db, w = world
    event = make(w)
    assert needs_lookup(event)
    # A status change also reaches the queue's team, who may have it open.
    team = {"member"} if isinstance(event, ConversationChanged) else set()
    assert (who(w, await resolve(db, event))) == ON_CONVERSATION | team


async def test_a_transfer_takes_effect_on_the_next_event(world):
    db, w = world
    event = MessageReceived(w.ws, conversation_id=w.conv, message_id=1, contact_id=1)
    async with db.write() as s:
        await s.execute(
            update(Conversation)
            .where(Conversation.id == w.conv)
            .values(assigned_agent_id=w.stranger, offered_agent_id=None)
        )
    assert (who(w, await resolve(db, event))) == STAFF | {"stranger"}
    # The step itself names the agent who lost the conversation: both desktops update.
    step = ConversationChanged(
        w.ws,
        conversation_id=w.conv,
        status="active",
        step="transferred",
        agent_id=w.stranger,
        previous_agent_id=w.assigned,
    )
    assert (who(w, await resolve(db, step))) == STAFF | {"stranger", "assigned", "member"}


async def test_an_unassigned_conversation_is_for_staff_only(world):
    db, w = world
    async with db.write() as s:
        await s.execute(
            update(Conversation)
            .where(Conversation.id == w.conv)
            .values(assigned_agent_id=None, offered_agent_id=None)
        )
    event = MessageReceived(w.ws, conversation_id=w.conv, message_id=1, contact_id=1)
    assert (who(w, await resolve(db, event))) == STAFF


async def test_an_offer_is_for_the_offered_agent_only(world):
    db, w = world
    offer = OfferMade(
        w.ws, conversation_id=w.conv, agent_id=w.member, queue_id=w.queue, expires_at="x"
    )
    assert not needs_lookup(offer)
    # Not even the agent who holds the conversation sees someone else's offer.
    assert (who(w, await audience_of(None, offer))) == STAFF | {"member"}


async def test_presence_is_for_staff_and_the_agent_themself(world):
    db, w = world
    event = PresenceChanged(w.ws, user_id=w.stranger, status="away", away_reason="lunch")
    audience = await audience_of(None, event)
    assert (who(w, audience)) == STAFF | {"stranger"}
    # Other agents learn the status (as the colleague directory shows it), not the reason.
    assert audience.colleague_view == {
        "event": "agent.presence",
        "user_id": w.stranger,
        "status": "away",
    }


async def test_queue_changes_reach_the_queue_members(world):
    db, w = world
    event = QueueChanged(w.ws, queue_id=w.queue, waiting=3)
    assert (who(w, await resolve(db, event))) == STAFF | {"member", "assigned"}


@pytest.mark.parametrize(
    "make",
    [
        lambda w: AccountEventReceived(
            w.ws, account_id=1, record_id=1, field="account_update", kind="x"
        ),
        lambda w: MediaStored(w.ws, media_id=1, status="stored"),
    ],
    ids=["account.event", "media.stored"],
)
async def test_other_events_are_for_staff_only(world, make):
    db, w = world
    assert (who(w, await audience_of(None, make(w)))) == STAFF


async def test_nothing_crosses_workspaces(world):
    db, w = world
    # An event of the other workspace naming this workspace's conversation id and agents
    # (ids are global, so a confused publisher could) still admits no one from here.
    event = ConversationChanged(
        w.other_ws,
        conversation_id=w.conv,
        status="active",
        step="assigned",
        agent_id=w.assigned,
    )
    audience = await resolve(db, event)
    assert (who(w, audience)) == {"other_admin"}
    msg = MessageReceived(w.other_ws, conversation_id=w.conv, message_id=1, contact_id=1)
    assert (await resolve(db, msg)).agent_ids == frozenset()
    queue = QueueChanged(w.other_ws, queue_id=w.queue, waiting=1)
    assert (await resolve(db, queue)).agent_ids == frozenset()
