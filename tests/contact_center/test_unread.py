"""Unread counts kept on the server: each person's read marker per conversation
(``POST /api/v1/conversations/{id}/read`` with ``message_id``) and the ``unread`` the
conversation list derives from it; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from madoguchi.simulator import payloads
from madoguchi.store.models import ConversationRead, Message
from tests.access.people import add_token, add_user
from tests.access.test_isolation import B_FILE
from tests.conftest import seed_workspace
from tests.contact_center.test_routing import NUMBER, make_cc


@pytest.fixture
async def cc(db_url, tmp_path):
    c = await make_cc(db_url, tmp_path)
    yield c
    await c.stack.client.aclose()
    await c.stack.served.stop()


CUSTOMER = {"wa_id": "819011112222", "name": "Rin"}


async def customer_says(cc, text: str) -> None:
    message = payloads.inbound_message(CUSTOMER, "text", payloads.text(text))
    response = await cc.stack.post_webhook(payloads.message_webhook(NUMBER, CUSTOMER, message))
    assert response.status_code == 200


async def message_ids(cc, cid: int) -> list[int]:
    async with cc.stack.runtime.db.read() as session:
        return list(
            (
                await session.scalars(
                    select(Message.id).where(Message.conversation_id == cid).order_by(Message.id)
                )
            ).all()
        )


async def unread_in_list(cc, who: str, cid: int):
    response = await cc.as_(who, "GET", "/api/v1/conversations")
    assert response.status_code == 200, response.text
    [row] = [c for c in response.json() if c["id"] == cid]
    return row["unread"]


async def unread_of(cc, who: str, cid: int):
    """Both ways of reading a conversation must agree."""
    single = await cc.as_(who, "GET", f"/api/v1/conversations/{cid}")
    assert single.status_code == 200, single.text
    listed = await unread_in_list(cc, who, cid)
    assert single.json()["unread"] == listed
    return listed


async def read_up_to(cc, who: str, cid: int, message_id: int):
    return await cc.as_(
        who, "POST", f"/api/v1/conversations/{cid}/read", json={"message_id": message_id}
    )


async def test_unread_counts_follow_each_persons_marker_and_never_go_back(cc):
    await cc.presence("aiko", "available")
    await customer_says(cc, "hello")
    await customer_says(cc, "my order is late")
    async with cc.stack.runtime.db.read() as session:
        cid = await session.scalar(select(Message.conversation_id).limit(1))
    await cc.wait_status(cid, "offered", "aiko")
    first, second = await message_ids(cc, cid)

    # Never opened: every customer message is unread, for each person separately.
    assert await unread_of(cc, "aiko", cid) == 2
    assert await unread_of(cc, "sam", cid) == 2
    # A workspace token is nobody: no count.
    assert await unread_of(cc, "admin", cid) is None

    marked = await read_up_to(cc, "aiko", cid, first)
    assert marked.status_code == 200, marked.text
    assert marked.json() == {"conversation_id": cid, "last_read_message_id": first, "unread": 1}
    assert await unread_of(cc, "aiko", cid) == 1
    assert await unread_of(cc, "sam", cid) == 2  # Sam's count is Sam's

    assert (await read_up_to(cc, "aiko", cid, second)).json()["unread"] == 0
    # An older marker (another tab, a late request) does not move it back.
    late = await read_up_to(cc, "aiko", cid, first)
    assert late.status_code == 200
    assert late.json()["last_read_message_id"] == second and late.json()["unread"] == 0
    assert await unread_of(cc, "aiko", cid) == 0

    # Our own replies are not unread; the customer's next message is.
    await cc.as_("aiko", "POST", f"/api/v1/conversations/{cid}/accept")
    reply = await cc.as_(
        "aiko",
        "POST",
        f"/api/v1/conversations/{cid}/messages",
        json={"message": {"type": "text", "text": {"body": "looking into it"}}},
    )
    assert reply.status_code == 202, reply.text
    assert await unread_of(cc, "aiko", cid) == 0
    await customer_says(cc, "thanks!")
    assert await unread_of(cc, "aiko", cid) == 1
    assert await unread_of(cc, "sam", cid) == 3

    async with cc.stack.runtime.db.read() as session:
        rows = (await session.scalars(select(ConversationRead))).all()
    assert [(r.user_id, r.conversation_id, r.last_read_message_id) for r in rows] == [
        (cc.users["aiko"], cid, second)
    ]


async def test_bad_markers_are_refused(cc):
    await cc.presence("aiko", "available")
    first_cid = await cc.customer_writes("first customer")
    other_cid = await cc.customer_writes("second customer")
    [other_message] = await message_ids(cc, other_cid)

    wrong = await read_up_to(cc, "sam", first_cid, other_message)
    assert wrong.status_code == 422, wrong.text
    detail = wrong.json()["detail"]
    assert detail["field"] == "message_id"
    assert f"not in conversation {first_cid}" in detail["message"]
    missing = await read_up_to(cc, "sam", first_cid, 999999)
    assert missing.status_code == 422 and missing.json()["detail"]["field"] == "message_id"

    nobody = await read_up_to(cc, "admin", first_cid, (await message_ids(cc, first_cid))[0])
    assert nobody.status_code == 403 and "belong to a person" in nobody.text
    # Chie (Sales only) may not see a Support conversation, so may not mark it either.
    hidden = await read_up_to(cc, "chie", first_cid, (await message_ids(cc, first_cid))[0])
    assert hidden.status_code == 404
    async with cc.stack.runtime.db.read() as session:
        assert (await session.scalars(select(ConversationRead))).all() == []


async def test_another_workspace_cannot_mark_or_count(cc):
    db = cc.stack.runtime.db
    await seed_workspace(db, B_FILE, slug="beta")
    beta_admin = await add_user(db, "boss@beta.test", "admin", workspace="beta")
    _, token = await add_token(db, "admin", workspace="beta", user_id=beta_admin)
    cid = await cc.customer_writes("alpha secret")
    [mid] = await message_ids(cc, cid)
    headers = {"Authorization": f"Bearer {token}"}
    response = await cc.stack.client.post(
        f"/api/v1/conversations/{cid}/read", json={"message_id": mid}, headers=headers
    )
    assert response.status_code == 404, response.text
    listed = await cc.stack.client.get("/api/v1/conversations", headers=headers)
    assert cid not in [c["id"] for c in listed.json()]
    async with db.read() as session:
        assert (await session.scalars(select(ConversationRead))).all() == []
