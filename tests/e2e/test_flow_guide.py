"""The guide's scenario end to end, over real HTTP between the product and the WhatsApp
simulator: an admin builds the queues and the flow through the API and binds it to the
number; a customer writes from the phone; the flow greets and asks; the answer routes the
conversation to Sales; an agent accepts it and chats with the customer."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import select

from madoguchi.domain.flows.examples import guide_flow
from madoguchi.services.access.tokens import create_token
from madoguchi.store.models import User, Workspace
from tests.conftest import PHONE_NUMBER_ID
from tests.flows.flow_kit import QUESTION, WELCOME
from tests.helpers import eventually


@pytest.fixture
async def s(sim_stack):
    return sim_stack


async def setup_contact_center(s, definition: dict) -> dict[str, str]:
    """Queues (with an agent), the flow, published; returns the agent's headers."""
    async with s.runtime.db.write() as session:
        workspace = await session.scalar(select(Workspace).where(Workspace.slug == "acme"))
        agent = User(workspace_id=workspace.id, email="kaito@acme.test", name="Kaito", role="agent")
        session.add(agent)
        await session.flush()
        token = await create_token(session, workspace.id, "agent", "kaito", agent.id)
    for name in ("Sales", "Support"):
        created = await s.api(
            "POST", "/api/v1/queues", json={"name": name, "members": [{"email": "kaito@acme.test"}]}
        )
        assert created.status_code == 201, created.text
    flow = await s.api("POST", "/api/v1/flows", json={"name": "Guide", "definition": definition})
    assert flow.status_code == 201 and flow.json()["problems"] == [], flow.text
    published = await s.api("POST", f"/api/v1/flows/{flow.json()['id']}/publish")
    assert published.status_code == 201, published.text
    assert published.json()["numbers"] == [PHONE_NUMBER_ID]
    return {"Authorization": f"Bearer {token}"}


async def phone(s, customer: dict, count: int) -> list[dict]:
    """The customer's phone: the business's messages, once ``count`` have arrived."""

    async def check():
        thread = (await s.sim_client.get(f"/_sim/customers/{customer['user_id']}/thread")).json()
        out = [m for m in thread["messages"] if m["direction"] == "out"]
        return out if len(out) >= count else None

    return await eventually(check)


async def write(s, customer: dict, body: dict) -> str:
    response = await s.sim_client.post(f"/_sim/customers/{customer['user_id']}/messages", json=body)
    assert response.status_code == 200, response.text
    return response.json()["wamid"]


async def conversation(s, status: str) -> dict:
    async def check():
        found = (await s.api("GET", "/api/v1/conversations")).json()
        return found[0] if found and found[0]["status"] == status else None

    return await eventually(check)


async def test_the_guides_scenario_from_phone_to_agent(s):
    agent = await setup_contact_center(s, guide_flow([PHONE_NUMBER_ID]))
    response = await s.client.put(
        "/api/v1/agents/me/presence", json={"status": "available"}, headers=agent
    )
    assert response.status_code == 200

    hana = (
        await s.sim_client.post("/_sim/customers", json={"wa_id": "819055550001", "name": "Hana"})
    ).json()
    await write(s, hana, {"type": "text", "text": "Hello!"})
    greeting, question = await phone(s, hana, 2)
    assert greeting["content"]["body"] == WELCOME
    assert question["content"]["body"] == QUESTION
    assert (await conversation(s, "in_flow"))["queue_id"] is None

    await write(s, hana, {"type": "text", "text": "1️⃣"})
    offered = await conversation(s, "offered")
    queues = {q["id"]: q["name"] for q in (await s.api("GET", "/api/v1/queues")).json()}
    assert queues[offered["queue_id"]] == "Sales"
    accepted = await s.client.post(f"/api/v1/conversations/{offered['id']}/accept", headers=agent)
    assert accepted.status_code == 200, accepted.text
    reply = await s.client.post(
        f"/api/v1/conversations/{offered['id']}/messages",
        json={"message": {"type": "text", "text": {"body": "Hi Hana, Kaito from Sales here!"}}},
        headers=agent,
    )
    assert reply.status_code == 202, reply.text
    messages = await phone(s, hana, 3)
    assert messages[2]["content"]["body"] == "Hi Hana, Kaito from Sales here!"

    log = (await s.api("GET", f"/api/v1/conversations/{offered['id']}/flow")).json()
    assert [step["node"] for step in log[0]["steps"]] == [
        "Start",
        "Welcome",
        "Ask_Department",
        "Ask_Department",
        "Check_Department",
        "Route_to_Sales",
    ]


async def test_reply_buttons_tapped_on_the_phone(s):
    definition = copy.deepcopy(guide_flow([PHONE_NUMBER_ID]))
    ask = definition["nodes"][2]
    ask["input"] = "buttons"
    ask["prompt"] = "How can we help?"
    await setup_contact_center(s, definition)
    ren = (await s.sim_client.post("/_sim/customers", json={"wa_id": "819055550002"})).json()
    await write(s, ren, {"type": "text", "text": "hi"})
    _, question = await phone(s, ren, 2)
    assert question["type"] == "interactive"
    assert [b["reply"]["title"] for b in question["content"]["action"]["buttons"]] == [
        "Sales",
        "Support",
    ]
    await write(
        s,
        ren,
        {"type": "button_reply", "message_wamid": question["wamid"], "button_id": "2"},
    )
    queued = await conversation(s, "queued")
    queues = {q["id"]: q["name"] for q in (await s.api("GET", "/api/v1/queues")).json()}
    assert queues[queued["queue_id"]] == "Support"
