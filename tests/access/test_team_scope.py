"""What an agent may see inside their own workspace, checked on EVERY ``/api/v1`` route.

The routes come from the application's route table (``test_isolation.endpoints``), so a
route added later is covered the day it is added. An agent of another team (in no queue
of the conversation, never offered or assigned it) calls every route the agent role may
call, with the ids of the conversation, its contact, a message and a media file: each
must answer 404 (or 403), no answer may carry the conversation's data, and no row of it
may change. The agent of the conversation's queue gets the same reads (the control).
"""

from __future__ import annotations

import httpx
from sqlalchemy import select, update

from madoguchi.store.models import Contact, Conversation, Message
from tests.access.people import CSRF, add_token, add_user, signed_in
from tests.access.test_isolation import (
    build_world,
    coverage_problems,
    declared_roles,
    endpoints,
    request_kwargs,
    url_of,
)

# Parameters naming something reached only through a conversation.
CONVERSATION_PARAMS = {"conversation_id", "contact_id", "message_id", "media_id"}
# Routes that name one in their body instead.
BODY_NAMES_CONVERSATION = {("POST", "/api/v1/outbound")}
# Rows of the conversation (and its contact) the outsider must not change.
CONVERSATION_TABLES = (
    "contacts",
    "conversations",
    "messages",
    "media",
    "notes",
    "conversation_tags",
    "conversation_events",
    "outbox",
    "marketing_preferences",
)


async def team_world(stack):
    """``build_world``, with every workspace-A conversation in the Alpha Support queue
    (whose member is ``alpha-agent``), and an outsider agent in no queue."""
    world = await build_world(stack)
    db = stack.runtime.db
    async with db.write() as session:
        await session.execute(
            update(Conversation)
            .where(Conversation.workspace_id == world.a)
            .values(queue_id=world.ids["queue"], status="queued")
        )
        text = await session.scalar(select(Message.text).where(Message.id == world.ids["message"]))
        contact = await session.get(Contact, world.ids["contact"])
    outsider = await add_user(db, "outsider@alpha.test", "agent")
    _, outsider_token = await add_token(db, "agent", user_id=outsider)
    markers = [
        "Taro Yamada",
        "alpha secret note",
        "alpha-vip",
        text,
        contact.wa_id,
        "alpha-agent@alpha.test",
        "alpha-admin@alpha.test",
        "alpha-sup@alpha.test",
    ]
    return world, outsider_token, [m for m in markers if m]


async def rows_of(db, workspace_id: int) -> dict[str, list[str]]:
    from madoguchi.store.models import Base

    out = {}
    async with db.read() as session:
        for name in CONVERSATION_TABLES:
            table = Base.metadata.tables[name]
            rows = await session.execute(select(table).where(table.c.workspace_id == workspace_id))
            out[name] = sorted(repr(tuple(row)) for row in rows)
    return out


def names_a_conversation(ep) -> bool:
    return bool(CONVERSATION_PARAMS & set(ep.params)) or (ep.method, ep.path) in (
        BODY_NAMES_CONVERSATION
    )


async def test_an_agent_of_another_team_sees_and_changes_nothing_of_a_conversation(stack):
    eps = endpoints(stack.served.app)
    assert not coverage_problems(eps)
    world, outsider_token, markers = await team_world(stack)
    agent_eps = [ep for ep in eps if (declared_roles(ep) or set()) >= {"agent"}]
    assert any(names_a_conversation(ep) for ep in agent_eps)
    before = await rows_of(stack.runtime.db, world.a)
    failures: list[str] = []

    async def sweep(mode: str, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        # Reads first, then writes, so a write cannot blur what the reads show.
        for reads in (True, False):
            for ep in agent_eps:
                if (ep.method == "GET") != reads:
                    continue
                if ep.path in ("/api/v1/auth/logout",):
                    continue
                url, kwargs = url_of(ep, world), request_kwargs(ep, world)
                response = await client.request(ep.method, url, headers=headers, **kwargs)
                where = f"[outsider by {mode}] {ep.method} {url} -> {response.status_code}"
                no_graph = (ep.method, ep.path) == ("POST", "/api/v1/media")  # no Meta here
                if response.status_code >= 500 and not (no_graph and response.status_code == 502):
                    failures.append(f"{where}: {response.text[:200]}")
                elif names_a_conversation(ep) and response.status_code not in (403, 404):
                    failures.append(f"{where}: expected 404 (or 403): {response.text[:200]}")
                leaked = [m for m in markers if m in response.text]
                if leaked:
                    failures.append(f"{where}: the conversation's data leaked: {leaked}")

    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        await sweep("token", client, {"Authorization": f"Bearer {outsider_token}"})
    async with signed_in(stack.url, "outsider@alpha.test") as client:
        await sweep("session", client, CSRF)
    assert not failures, "\n".join(failures)
    after = await rows_of(stack.runtime.db, world.a)
    changed = [t for t in before if before[t] != after[t]]
    assert not changed, f"the outsider changed rows of: {changed}"

    # Control: the agent of the conversation's queue reads the same URLs.
    headers = {"Authorization": f"Bearer {world.a_agent_token}"}
    for ep in agent_eps:
        if ep.method == "GET" and names_a_conversation(ep):
            response = await stack.client.get(url_of(ep, world), headers=headers)
            assert response.status_code not in (401, 403, 404), (str(ep), response.text)
            assert response.status_code < 500, (str(ep), response.text)


async def test_outbound_never_takes_over_another_teams_open_conversation(stack):
    world, outsider_token, _ = await team_world(stack)
    headers = {"Authorization": f"Bearer {outsider_token}"}
    async with stack.runtime.db.read() as session:
        contact = await session.get(Contact, world.ids["contact"])
        before = await session.get(Conversation, world.ids["conversation"])
        started_by, route_back = before.started_by_user_id, before.route_back_agent_id
    # By phone number (the contact exists, its open conversation is another team's).
    response = await stack.client.post(
        "/api/v1/outbound",
        headers=headers,
        json={
            "phone_number_id": world.ids and "301234567890123",
            "to": {"wa_id": contact.wa_id},
            "template": {"id": world.ids["template"]},
        },
    )
    assert response.status_code == 409, response.text
    assert response.json()["detail"]["code"] == "conversation_out_of_scope"
    async with stack.runtime.db.read() as session:
        after = await session.get(Conversation, world.ids["conversation"])
        assert (after.started_by_user_id, after.route_back_agent_id) == (started_by, route_back)
        queued = await session.scalar(
            select(Message.id).where(
                Message.conversation_id == after.id, Message.direction == "outbound"
            )
        )
    assert queued is None


async def test_agents_see_queue_members_by_name_only(stack):
    world, outsider_token, _ = await team_world(stack)
    for token, role in ((outsider_token, "agent"), (world.a_supervisor_token, "supervisor")):
        response = await stack.client.get(
            "/api/v1/queues", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200
        members = [m for q in response.json() for m in q["members"]]
        assert members, response.json()
        assert all(m["name"] for m in members)
        if role == "agent":
            assert not any("email" in m for m in members)
        else:
            assert any(m.get("email") == "alpha-agent@alpha.test" for m in members)
