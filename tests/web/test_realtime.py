"""``/api/v1/ws`` through real sockets on both databases: who receives which live event,
authentication, seq, ping/pong; and the hub's slow-client and heartbeat rules."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import select, update
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from madoguchi.domain.events import ConversationChanged, MessageReceived, PresenceChanged
from madoguchi.services.access.tokens import Principal, create_token
from madoguchi.services.access.workspaces import get_or_create_workspace
from madoguchi.store.models import ApiToken, Conversation, Workspace
from madoguchi.web.deps import SESSION_COOKIE
from madoguchi.web.hub import CLOSE_TOO_SLOW, Hub
from tests.access import people
from tests.conftest import fixture_payload
from tests.helpers import eventually

TIMEOUT = 10


class Live:
    """A websocket client that reads frames as dicts, skipping heartbeats."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.last_seq = 0

    async def next(self, within: float = TIMEOUT) -> dict:
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), within))
            assert frame["seq"] == self.last_seq + 1, "seq must be contiguous per connection"
            self.last_seq = frame["seq"]
            if frame["event"] != "ping":
                return frame

    async def until(self, event: str, within: float = TIMEOUT) -> dict:
        async with asyncio.timeout(within):  # the deadline for the event, not per frame
            while (frame := await self.next(within))["event"] != event:
                pass
        return frame

    async def nothing_within(self, seconds: float) -> None:
        with pytest.raises(TimeoutError):
            await self.next(within=seconds)


def ws_url(base: str, token: str | None = None) -> str:
    url = base.replace("http://", "ws://", 1) + "/api/v1/ws"
    return f"{url}?token={token}" if token else url


async def open_live(base: str, token: str) -> Live:
    live = Live(await connect(ws_url(base, token)))
    hello = await live.next()
    assert hello["event"] == "hello" and hello["seq"] == 1
    return live


async def add_agent(db, name: str) -> tuple[int, str]:
    """An agent of acme and an API token bound to them (what a session resolves to)."""
    user_id = await people.add_user(db, f"{name}@acme.test", "agent")
    _, token = await people.add_token(db, "agent", user_id=user_id)
    return user_id, token


async def acme_id(stack) -> int:
    async with stack.runtime.db.read() as session:
        return await session.scalar(select(Workspace.id).where(Workspace.slug == "acme"))


async def only_conversation(stack) -> int:
    async with stack.runtime.db.read() as session:
        return await session.scalar(select(Conversation.id))


async def test_admin_receives_a_new_message_as_it_arrives(stack):
    admin = await open_live(stack.url, stack.token)
    try:
        response = await stack.post_webhook(fixture_payload("message_text.json"))
        assert response.status_code == 200
        frame = await admin.until("message.received")
        assert frame["conversation_id"] == await only_conversation(stack)
        assert frame["workspace_id"] == await acme_id(stack)
        assert {"message_id", "contact_id", "new_conversation"} <= frame.keys()
    finally:
        await admin.ws.close()


async def test_hello_names_the_principal_and_ping_is_answered(stack):
    ws_id = await acme_id(stack)
    agent_id, token = await add_agent(stack.runtime.db, "ann")
    async with connect(ws_url(stack.url, token)) as ws:
        live = Live(ws)
        hello = await live.next()
        assert hello == {
            "event": "hello",
            "role": "agent",
            "user_id": agent_id,
            "workspace_id": ws_id,
            "instance": hello["instance"],
            "heartbeat_seconds": 25.0,
            "seq": 1,
        }
        await ws.send(json.dumps({"event": "ping"}))
        assert await live.next() == {"event": "pong", "seq": 2}
        await ws.send("not json")  # ignored, connection stays up
        await ws.send(json.dumps({"event": "ping"}))
        assert await live.next() == {"event": "pong", "seq": 3}


async def test_an_agent_sees_a_conversation_only_once_it_is_theirs(stack):
    ws_id = await acme_id(stack)
    agent_id, agent_token = await add_agent(stack.runtime.db, "ann")
    admin = await open_live(stack.url, stack.token)
    agent = await open_live(stack.url, agent_token)
    try:
        await stack.post_webhook(fixture_payload("message_text.json"))
        await admin.until("message.received")
        # The admin's frame is queued after the agent's would have been: a marker meant
        # for the agent must now be the agent's very next frame.
        await stack.runtime.bus.publish([PresenceChanged(ws_id, user_id=agent_id, status="x")])
        assert (await agent.next())["event"] == "agent.presence"

        conv = await only_conversation(stack)
        async with stack.runtime.db.write() as session:
            await session.execute(
                update(Conversation)
                .where(Conversation.id == conv)
                .values(assigned_agent_id=agent_id, status="active")
            )
        await stack.runtime.bus.publish(
            [
                ConversationChanged(
                    ws_id, conversation_id=conv, status="active", step="assigned", agent_id=agent_id
                )
            ]
        )
        changed = await agent.next()
        assert changed["event"] == "conversation.changed"
        assert changed["conversation_id"] == conv and changed["agent_id"] == agent_id

        # From now on the conversation's messages reach the agent too.
        await stack.post_webhook(fixture_payload("message_text_reply.json"))
        frame = await agent.until("message.received")
        assert frame["conversation_id"] == conv
    finally:
        await admin.ws.close()
        await agent.ws.close()


async def test_another_workspace_never_receives_events(stack):
    async with stack.runtime.db.write() as session:
        beta, _ = await get_or_create_workspace(session, "beta")
        beta_token = await create_token(session, beta.id, "admin", "beta admin")
    admin = await open_live(stack.url, stack.token)
    other = await open_live(stack.url, beta_token)
    try:
        await stack.post_webhook(fixture_payload("message_text.json"))
        await admin.until("message.received")
        # Beta's own events do reach it, and first: acme's message was never queued to it.
        await stack.runtime.bus.publish([PresenceChanged(beta.id, user_id=1, status="x")])
        frame = await other.next()
        assert frame["event"] == "agent.presence" and frame["workspace_id"] == beta.id
    finally:
        await admin.ws.close()
        await other.ws.close()


@pytest.mark.parametrize("token", [None, "mdg_not-a-token", "garbage"])
async def test_no_or_bad_credentials_close_4401(stack, token):
    async with connect(ws_url(stack.url, token)) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert closed.value.rcvd.code == 4401


async def test_a_revoked_token_is_refused(stack):
    async with stack.runtime.db.write() as session:
        await session.execute(update(ApiToken).values(revoked_at=ApiToken.created_at))
    async with connect(ws_url(stack.url, stack.token)) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert closed.value.rcvd.code == 4401


async def test_a_bearer_header_is_accepted(stack):
    url = ws_url(stack.url)
    async with connect(url, additional_headers={"Authorization": f"Bearer {stack.token}"}) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["role"] == "admin"


async def test_a_browser_session_cookie_signs_the_socket_in(stack):
    user_id = await people.add_user(stack.runtime.db, "sue@acme.test", "supervisor")
    login = await stack.client.post(
        "/api/v1/auth/login",
        json={"email": "sue@acme.test", "password": people.PASSWORD},
        headers={"X-Requested-With": "madoguchi"},
    )
    assert login.status_code == 200, login.text
    cookie = login.cookies[SESSION_COOKIE]
    headers = {"Cookie": f"{SESSION_COOKIE}={cookie}", "Origin": stack.url}
    async with connect(ws_url(stack.url), additional_headers=headers) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert (hello["role"], hello["user_id"]) == ("supervisor", user_id)
    stale = {"Cookie": f"{SESSION_COOKIE}=not-a-session", "Origin": stack.url}
    async with connect(ws_url(stack.url), additional_headers=stale) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert closed.value.rcvd.code == 4401


async def test_a_session_cookie_from_another_site_is_refused(stack):
    headers = {"Cookie": "madoguchi_session=whatever", "Origin": "https://evil.example"}
    async with connect(ws_url(stack.url), additional_headers=headers) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert closed.value.rcvd.code == 4403


# ----------------------------------------------------------------------------- hub rules


def _principal(role: str = "admin", user_id: int | None = None) -> Principal:
    return Principal(workspace_id=1, role=role, user_id=user_id)


async def test_a_slow_client_is_dropped_and_never_holds_back_the_others():
    hub = Hub(db=None, queue_limit=8, heartbeat_seconds=0)
    slow = hub.connect(_principal())
    fast = hub.connect(_principal())
    received = []

    async def drain():
        while (frame := await fast.next_frame()) is not None:
            received.append(json.loads(frame))

    reader = asyncio.create_task(drain())
    for i in range(50):
        # Staff-only delivery needs no database.
        await hub.dispatch(MessageReceived(1, conversation_id=i, message_id=i, contact_id=1))
        await asyncio.sleep(0)
    assert slow.closed and slow.close_code == CLOSE_TOO_SLOW
    assert not slow.frames  # its backlog is freed at once
    assert hub.connection_count == 1

    async def drained():  # the reader has read what was sent
        return len(received) >= 51

    await eventually(drained)
    assert [f["conversation_id"] for f in received[1:]] == list(range(50))
    assert [f["seq"] for f in received] == list(range(1, 52))
    fast.close(1000)
    await reader


async def test_idle_sockets_get_a_heartbeat():
    hub = Hub(db=None, heartbeat_seconds=0.05)
    await hub.start()
    try:
        conn = hub.connect(_principal())
        assert json.loads(await conn.next_frame())["event"] == "hello"
        frame = await asyncio.wait_for(conn.next_frame(), 2)
        assert json.loads(frame) == {"event": "ping", "seq": 2}
    finally:
        await hub.stop()
    assert conn.closed


async def test_an_agent_token_without_a_user_sees_no_event():
    hub = Hub(db=None, heartbeat_seconds=0)
    conn = hub.connect(_principal("agent", None))
    await conn.next_frame()
    await hub.dispatch(PresenceChanged(1, user_id=5, status="available"))
    assert not conn.frames


def test_tokens_in_websocket_urls_are_redacted_from_server_logs():
    import logging

    from madoguchi.web.realtime import RedactTokens

    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5000", "/api/v1/ws?token=mdg_secret&x=1"),
        None,
    )
    assert RedactTokens().filter(record)
    assert "mdg_secret" not in record.getMessage()
    assert "/api/v1/ws?token=***&x=1" in record.getMessage()


async def test_when_the_audience_cannot_be_read_staff_still_get_the_event():
    class BrokenDatabase:
        def read(self):
            raise ConnectionError("database down")

    hub = Hub(db=BrokenDatabase(), heartbeat_seconds=0)
    admin = hub.connect(_principal("admin"))
    agent = hub.connect(_principal("agent", 5))
    await admin.next_frame()  # hello
    await agent.next_frame()
    await hub.dispatch(MessageReceived(1, conversation_id=1, message_id=1, contact_id=1))
    assert json.loads(await admin.next_frame())["event"] == "message.received"
    assert not agent.frames  # fail closed for agents
