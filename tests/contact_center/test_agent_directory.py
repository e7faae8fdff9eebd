"""The colleagues directory (``GET /api/v1/agents/directory``) that lets an *agent* pick a
named colleague to transfer to: anyone signed in may read it, it shows presence and room
but no e-mail, and it stays inside the workspace; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from madoguchi.store.models import Queue, User
from tests.access.people import add_token
from tests.contact_center.test_routing import make_cc


@pytest.fixture
async def cc(db_url, tmp_path):
    c = await make_cc(db_url, tmp_path)
    yield c
    await c.stack.client.aclose()
    await c.stack.served.stop()


async def queue_id(cc, name: str) -> int:
    async with cc.stack.runtime.db.read() as session:
        return await session.scalar(select(Queue.id).where(Queue.name == name))


async def directory(cc, who: str, **params) -> dict[str, dict]:
    response = await cc.as_(who, "GET", "/api/v1/agents/directory", params=params)
    assert response.status_code == 200, response.text
    assert "@acme.test" not in response.text and "email" not in response.text
    return {entry["name"]: entry for entry in response.json()}


async def test_an_agent_sees_colleagues_presence_and_room_without_emails(cc):
    await cc.presence("ben", "available")
    await cc.presence("chie", "away", "lunch")
    people = await directory(cc, "aiko")
    assert set(people) == {"Aiko", "Ben", "Chie", "Sam"}
    assert people["Ben"]["presence"] == "available"
    assert people["Chie"]["presence"] == "away"
    assert people["Aiko"]["presence"] == "offline"  # never set: offline
    assert people["Ben"]["user_id"] == cc.users["ben"]
    assert people["Sam"]["role"] == "supervisor"
    # Capacity: the largest of the person's own queues (Support 2, Sales 3), else 3.
    assert (people["Ben"]["capacity"], people["Chie"]["capacity"]) == (2, 3)
    assert people["Sam"]["capacity"] == 3
    assert all(p["has_capacity"] and p["open_conversations"] == 0 for p in people.values())

    # Against a given queue (the conversation's), everyone is measured by that queue.
    support = await queue_id(cc, "Support")
    people = await directory(cc, "aiko", queue_id=support)
    assert {p["capacity"] for p in people.values()} == {2}

    async with cc.stack.runtime.db.write() as session:
        await session.execute(update(User).where(User.id == cc.users["chie"]).values(disabled=True))
    assert "Chie" not in await directory(cc, "aiko")

    missing = await cc.as_("aiko", "GET", "/api/v1/agents/directory", params={"queue_id": 999999})
    assert missing.status_code == 404
    # Agents still may not read the supervisors' view (with e-mails).
    assert (await cc.as_("aiko", "GET", "/api/v1/agents")).status_code == 403


async def test_load_and_capacity_follow_the_work_held(cc):
    await cc.presence("ben", "available")
    first = await cc.customer_writes("one")
    await cc.wait_status(first, "offered", "ben")
    people = await directory(cc, "aiko")
    assert (people["Ben"]["open_conversations"], people["Ben"]["has_capacity"]) == (1, True)
    await cc.as_("ben", "POST", f"/api/v1/conversations/{first}/accept")
    second = await cc.customer_writes("two")
    await cc.wait_status(second, "offered", "ben")
    people = await directory(cc, "aiko")
    assert (people["Ben"]["open_conversations"], people["Ben"]["has_capacity"]) == (2, False)
    # Measured against Sales (3 per agent) Ben still has room.
    people = await directory(cc, "aiko", queue_id=await queue_id(cc, "Sales"))
    assert people["Ben"]["has_capacity"] is True


async def test_an_agent_transfers_to_a_named_colleague_from_the_directory(cc):
    await cc.presence("aiko", "available")
    cid = await cc.customer_writes("I need Ben")
    await cc.wait_status(cid, "offered", "aiko")
    await cc.as_("aiko", "POST", f"/api/v1/conversations/{cid}/accept")
    await cc.presence("ben", "available")
    conversation = await cc.conversation(cid)
    people = await directory(cc, "aiko", queue_id=conversation["queue_id"])
    target = people["Ben"]
    assert target["presence"] == "available" and target["has_capacity"]

    moved = await cc.as_(
        "aiko",
        "POST",
        f"/api/v1/conversations/{cid}/transfer",
        json={"agent_id": target["user_id"], "note": "asked for Ben"},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["offered_agent_id"] == cc.users["ben"]
    # Someone offline is refused, in words.
    busy = await cc.as_(
        "ben",
        "POST",
        f"/api/v1/conversations/{cid}/accept",
    )
    assert busy.status_code == 200
    refused = await cc.as_(
        "ben",
        "POST",
        f"/api/v1/conversations/{cid}/transfer",
        json={"agent_id": people["Chie"]["user_id"]},
    )
    assert refused.status_code == 409 and "not available" in refused.text


async def test_the_directory_stays_inside_the_workspace(cc):
    _, other = await add_token(cc.stack.runtime.db, "agent", workspace="other")
    headers = {"Authorization": f"Bearer {other}"}
    response = await cc.stack.client.get("/api/v1/agents/directory", headers=headers)
    assert response.status_code == 200 and response.json() == []
    support = await queue_id(cc, "Support")
    foreign = await cc.stack.client.get(
        "/api/v1/agents/directory", params={"queue_id": support}, headers=headers
    )
    assert foreign.status_code == 404
    assert (await cc.stack.client.get("/api/v1/agents/directory")).status_code == 401
