"""Video links: sent inside the window only, one room per link, the customer's token as
the only credential of the customer's side, the agent's side only for the agent who sent
it, and an expired or used link refused clearly. Real HTTP and websockets."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from madoguchi.store.models import Conversation, VideoRoom
from tests.calling.kit import make_desk
from tests.conftest import start_sim_stack
from tests.helpers import eventually


@pytest.fixture
async def desk(db_url, tmp_path):
    s = await start_sim_stack(db_url, tmp_path)
    d = await make_desk(s)
    yield d
    await s.client.aclose()
    await s.sim_client.aclose()
    await s.served.stop()
    await s.sim.stop()


async def aikos_chat(desk, wa_id: str) -> int:
    await desk.presence("aiko")
    customer = await desk.customer(wa_id)
    await desk.s.sim_client.post(
        f"/_sim/customers/{customer['user_id']}/messages", json={"type": "text", "text": "hi"}
    )

    async def offered():
        convs = (await desk.as_("aiko", "GET", "/api/v1/conversations")).json()
        return next((c["id"] for c in convs if c["status"] == "offered"), None)

    cid = await eventually(offered)
    assert (
        await desk.as_("aiko", "POST", f"/api/v1/conversations/{cid}/accept")
    ).status_code == 200
    return cid


def ws_url(desk, token: str, side: str) -> str:
    return f"{desk.s.url.replace('http', 'ws')}/ws/video/{token}?as={side}"


async def test_link_room_and_its_refusals(desk):
    cid = await aikos_chat(desk, "819055550001")
    r = await desk.as_("aiko", "POST", f"/api/v1/conversations/{cid}/video-links")
    assert r.status_code == 201, r.text
    link = r.json()
    assert link["url"].endswith(f"/video/{link['token']}")
    page = await desk.s.client.get(f"/video/{link['token']}")
    assert page.status_code == 200 and "Video call" in page.text
    assert link["token"] in page.text

    # The agent's side needs the sending agent's session: a token alone is refused.
    async with connect(ws_url(desk, link["token"], "agent")) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd.code == 4404

    # The customer's side: one browser at a time.
    async with connect(ws_url(desk, link["token"], "customer")) as first:
        assert json.loads(await first.recv()) == {"type": "joined", "peer": False}
        async with connect(ws_url(desk, link["token"], "customer")) as second:
            with pytest.raises(ConnectionClosed) as closed:
                await second.recv()
        assert closed.value.rcvd.code == 4409
    # The customer left before anyone joined: the link still works.
    assert (await desk.s.client.get(f"/video/{link['token']}")).status_code == 200

    # Expired: refused with the reason.
    async with desk.s.runtime.db.write() as session:
        await session.execute(
            update(VideoRoom)
            .where(VideoRoom.id == link["room_id"])
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    gone = await desk.s.client.get(f"/video/{link['token']}")
    assert gone.status_code == 404 and "expired or was used" in gone.text
    assert (await desk.s.client.get("/video/not-a-token")).status_code == 404


async def test_no_link_outside_the_window(desk):
    cid = await aikos_chat(desk, "819055550002")
    async with desk.s.runtime.db.write() as session:
        await session.execute(
            update(Conversation)
            .where(Conversation.id == cid)
            .values(last_inbound_at=datetime.now(UTC) - timedelta(hours=30))
        )
    r = await desk.as_("aiko", "POST", f"/api/v1/conversations/{cid}/video-links")
    assert r.status_code == 409
    assert r.json()["detail"]["code"] == "window_closed"
    # Another agent cannot send a link in a conversation they cannot see.
    assert (
        await desk.as_("chie", "POST", f"/api/v1/conversations/{cid}/video-links")
    ).status_code == 404
