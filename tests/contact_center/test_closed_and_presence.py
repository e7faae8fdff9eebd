"""What the API says about ended conversations and about your own presence, so that the
web app and API clients agree with the server: nothing is accepted into a closed
conversation (409 ``conversation_closed``, in words), and ``GET /agents/me/presence``
answers what routing uses. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from madoguchi.store.models import Message
from tests.contact_center.test_routing import make_cc


@pytest.fixture
async def cc(db_url, tmp_path):
    c = await make_cc(db_url, tmp_path)
    yield c
    await c.stack.client.aclose()
    await c.stack.served.stop()


async def closed_conversation(cc) -> int:
    await cc.presence("aiko", "available")
    cid = await cc.customer_writes("hello")
    await cc.wait_status(cid, "offered", "aiko")
    assert (await cc.as_("aiko", "POST", f"/api/v1/conversations/{cid}/accept")).is_success
    text = {"message": {"type": "text", "text": {"body": "anything else?"}}}
    sent = await cc.as_("aiko", "POST", f"/api/v1/conversations/{cid}/messages", json=text)
    assert sent.status_code == 202, sent.text  # open: accepted
    closed = await cc.as_(
        "aiko", "POST", f"/api/v1/conversations/{cid}/close", json={"disposition": "solved"}
    )
    assert closed.status_code == 200, closed.text
    return cid


async def message_count(cc, cid: int) -> int:
    async with cc.stack.runtime.db.read() as session:
        return await session.scalar(
            select(func.count()).select_from(Message).where(Message.conversation_id == cid)
        )


async def test_nothing_is_sent_into_a_closed_conversation(cc):
    cid = await closed_conversation(cc)
    before = await message_count(cc, cid)
    text = {"message": {"type": "text", "text": {"body": "one more thing"}}}
    for who in ("aiko", "sam", "admin"):
        refused = await cc.as_(who, "POST", f"/api/v1/conversations/{cid}/messages", json=text)
        assert refused.status_code == 409, refused.text
        detail = refused.json()["detail"]
        assert detail["code"] == "conversation_closed"
        assert "closed" in detail["message"] and "/messages" in detail["message"]
    assert await message_count(cc, cid) == before  # nothing was stored, nothing goes out


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("transfer", {"queue_id": 1}),
        ("wrap-up", None),
        ("close", {"disposition": "solved"}),
        ("queue", {"queue_id": 1}),
    ],
)
async def test_lifecycle_actions_on_a_closed_conversation_say_it_is_closed(cc, path, body):
    cid = await closed_conversation(cc)
    refused = await cc.as_("sam", "POST", f"/api/v1/conversations/{cid}/{path}", json=body)
    assert refused.status_code == 409, refused.text
    assert refused.json()["detail"]["code"] == "conversation_closed"
    assert (await cc.conversation(cid))["status"] == "closed"


async def test_notes_may_still_be_added_after_close(cc):
    """A note after the fact (what happened next, a follow-up) is the team's own record."""
    cid = await closed_conversation(cc)
    note = await cc.as_("sam", "POST", f"/api/v1/conversations/{cid}/notes", json={"body": "ok"})
    assert note.status_code == 201


async def test_my_presence_is_read_from_the_server(cc):
    mine = await cc.as_("ben", "GET", "/api/v1/agents/me/presence")
    assert mine.status_code == 200
    assert mine.json() == {"user_id": cc.users["ben"], "status": "offline", "away_reason": None}
    await cc.presence("ben", "away", "lunch")
    mine = (await cc.as_("ben", "GET", "/api/v1/agents/me/presence")).json()
    assert (mine["status"], mine["away_reason"]) == ("away", "lunch")
    # Set by a supervisor: the agent's own read shows it too.
    r = await cc.as_(
        "sam", "PUT", f"/api/v1/agents/{cc.users['ben']}/presence", json={"status": "available"}
    )
    assert r.status_code == 200
    assert (await cc.as_("ben", "GET", "/api/v1/agents/me/presence")).json()["status"] == (
        "available"
    )
    # Each person reads their own: Aiko is still offline.
    assert (await cc.as_("aiko", "GET", "/api/v1/agents/me/presence")).json()["status"] == (
        "offline"
    )


async def test_a_workspace_token_has_no_presence_of_its_own(cc):
    refused = await cc.as_("admin", "GET", "/api/v1/agents/me/presence")
    assert refused.status_code == 403
    assert "signed-in user" in refused.json()["detail"]
