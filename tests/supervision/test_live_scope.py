"""What a supervisor limited to some queues hears live, on SQLite and PostgreSQL: a
change of a queue's supervisors applies to sockets already connected (not only at the
next connection); a colleague's presence only for members of their queues; account
events only about the account itself; wallboard nudges only when their queues changed."""

from __future__ import annotations

import contextlib
import json

import pytest

from madoguchi.domain.events import AccountEventReceived
from tests.contact_center.test_routing import make_cc
from tests.supervision.test_wallboard import _acme, _queue_doc
from tests.web.test_realtime import open_live


@pytest.fixture
async def cc(db_url, tmp_path):
    c = await make_cc(db_url, tmp_path)
    yield c
    await c.stack.client.aclose()
    await c.stack.served.stop()


async def _quiet(live, within: float = 1.5) -> list[dict]:
    """Every frame until the socket stays silent for ``within`` seconds."""
    frames = []
    with contextlib.suppress(TimeoutError):
        while True:
            frames.append(await live.next(within=within))
    return frames


async def _supervise(cc, queue: str, emails: list[str]) -> int:
    doc = await _queue_doc(cc, queue)
    queue_id = doc.pop("id")
    doc["supervisors"] = [{"email": e} for e in emails]
    response = await cc.as_("admin", "PUT", f"/api/v1/queues/{queue_id}", json=doc)
    assert response.status_code == 200, response.text
    return queue_id


async def test_a_change_of_supervisors_applies_to_connected_sockets(cc):
    sam = await open_live(cc.stack.url, cc.tokens["sam"])
    await sam.ws.send(json.dumps({"event": "wallboard.watch"}))
    everything = await sam.until("wallboard.snapshot")
    assert {q["name"] for q in everything["board"]["queues"]} == {"Support", "Sales"}

    sales_id = await _supervise(cc, "Sales", ["sam@acme.test"])
    await _rescoped_to_sales_only(cc, sam, sales_id)

    # Taken off the queue's supervisors again: everything, live.
    await _supervise(cc, "Sales", [])
    await sam.until("resync")
    await sam.ws.send(json.dumps({"event": "wallboard.watch"}))
    again = await sam.until("wallboard.snapshot")
    assert {q["name"] for q in again["board"]["queues"]} == {"Support", "Sales"}
    await sam.ws.close()


async def test_presence_reaches_a_limited_supervisor_only_for_their_members(cc):
    await _supervise(cc, "Sales", ["sam@acme.test"])  # Sales: Chie; Support: Aiko, Ben
    sam = await open_live(cc.stack.url, cc.tokens["sam"])
    admin = await open_live(cc.stack.url, cc.tokens["admin"])
    await cc.presence("aiko", "available")
    frame = await admin.until("agent.presence")
    assert frame["user_id"] == cc.users["aiko"]
    await cc.presence("chie", "away")
    frame = await sam.until("agent.presence")
    assert frame["user_id"] == cc.users["chie"]  # not Aiko's, which came first
    await cc.presence("ben", "available")
    await admin.until("agent.presence")
    frames = await _quiet(sam)
    assert not [f for f in frames if f["event"] == "agent.presence"], frames
    await sam.ws.close()
    await admin.ws.close()


async def test_account_events_reach_a_limited_supervisor_only_about_the_account(cc):
    await _supervise(cc, "Sales", ["sam@acme.test"])
    sam = await open_live(cc.stack.url, cc.tokens["sam"])
    admin = await open_live(cc.stack.url, cc.tokens["admin"])
    workspace_id = await _acme(cc)

    def event(field: str) -> AccountEventReceived:
        return AccountEventReceived(
            workspace_id, account_id=1, record_id=1, field=field, kind=field, value={}
        )

    bus = cc.stack.runtime.bus
    await bus.publish([event("calls")])  # names a customer of any queue
    assert (await admin.until("account.event"))["field"] == "calls"
    await bus.publish([event("phone_number_quality_update")])
    assert (await admin.until("account.event"))["field"] == "phone_number_quality_update"
    frame = await sam.until("account.event")
    assert frame["field"] == "phone_number_quality_update"  # the calls one never came
    await sam.ws.close()
    await admin.ws.close()


async def test_wallboard_nudges_reach_a_limited_supervisor_only_for_their_queues(cc):
    sales_id = await _supervise(cc, "Sales", ["sam@acme.test"])
    sam = await open_live(cc.stack.url, cc.tokens["sam"])
    admin = await open_live(cc.stack.url, cc.tokens["admin"])
    cid = await cc.customer_writes("for Support")
    await admin.until("wallboard.changed")
    frames = await _quiet(sam)
    assert not [f for f in frames if f["event"] == "wallboard.changed"], frames
    moved = await cc.as_(
        "admin", "POST", f"/api/v1/conversations/{cid}/transfer", json={"queue_id": sales_id}
    )
    assert moved.status_code == 200
    await sam.until("wallboard.changed")
    await sam.ws.close()
    await admin.ws.close()


async def test_a_limited_supervisor_gets_no_removal_from_other_queues_after_the_first_board(
    cc,
):
    """The process's first board is built when Sam (Sales only) connects; the first
    deltas after it remove a Support conversation and a Support agent's row: the admin
    is told, Sam gets no frame naming either."""
    sales_id = await _supervise(cc, "Sales", ["sam@acme.test"])
    support_conv = await cc.customer_writes("for Support")
    await cc.wait_status(support_conv, "queued")
    sam = await open_live(cc.stack.url, cc.tokens["sam"])
    await sam.ws.send(json.dumps({"event": "wallboard.watch"}))
    first = await sam.until("wallboard.snapshot")
    assert [q["id"] for q in first["board"]["queues"]] == [sales_id]
    admin = await open_live(cc.stack.url, cc.tokens["admin"])
    await admin.ws.send(json.dumps({"event": "wallboard.watch"}))
    await admin.until("wallboard.snapshot")
    closed = await cc.as_("admin", "POST", f"/api/v1/conversations/{support_conv}/close", json={})
    assert closed.status_code == 200, closed.text
    delta = await admin.until("wallboard.delta")
    assert support_conv in delta["conversations_removed"]
    # Ben leaves Support (his only queue) and is no agent any more: his row goes.
    support = await _queue_doc(cc, "Support")
    support_id = support.pop("id")
    support["members"] = [m for m in support["members"] if m["email"] != "ben@acme.test"]
    assert (
        await cc.as_("admin", "PUT", f"/api/v1/queues/{support_id}", json=support)
    ).status_code == 200
    frames = await _quiet(sam)
    told = [f for f in frames if f["event"] == "wallboard.delta"]
    assert all(
        not f["conversations_removed"] and not f["agents_removed"] and not f["queues_removed"]
        for f in told
    ), told
    assert not [f for f in frames if f.get("conversation_id") == support_conv], frames
    await sam.ws.close()
    await admin.ws.close()


async def test_a_change_of_supervisors_by_madoguchi_apply_applies_to_connected_sockets(cc):
    """``madoguchi apply`` runs in another process: without Redis no event reaches the
    server, whose hub re-reads connected supervisors' queues (``scope_check_seconds``);
    the file's change applies to Sam's open socket as the API's does."""
    from madoguchi.security.secrets import SecretBox
    from madoguchi.services.configuration.apply import apply_config
    from tests.conftest import SECRET_KEY, WA_TOKEN
    from tests.contact_center.test_routing import FILE

    sam = await open_live(cc.stack.url, cc.tokens["sam"])
    await sam.ws.send(json.dumps({"event": "wallboard.watch"}))
    everything = await sam.until("wallboard.snapshot")
    assert {q["name"] for q in everything["board"]["queues"]} == {"Support", "Sales"}
    text = FILE.replace("{method}", "longest_idle").replace(
        "      - {email: chie@acme.test}\n",
        "      - {email: chie@acme.test}\n    supervisors:\n      - {email: sam@acme.test}\n",
    )
    applied = await apply_config(
        cc.stack.runtime.db, SecretBox(SECRET_KEY), text, env={"WA_TOKEN": WA_TOKEN}
    )
    assert applied.changes == ["updated supervisors of queue Sales"]
    sales_id = (await _queue_doc(cc, "Sales"))["id"]
    assert applied.queues_changed == {sales_id}
    await _rescoped_to_sales_only(cc, sam, sales_id)
    await sam.ws.close()


async def _rescoped_to_sales_only(cc, sam, sales_id: int) -> None:
    """Sam's open socket is told its scope changed, watches again and sees only Sales; a
    Support customer is then none of Sam's business, on this very socket."""
    told = await sam.until("resync")
    assert told["reason"] == "scope changed"
    await sam.ws.send(json.dumps({"event": "wallboard.watch"}))
    mine = await sam.until("wallboard.snapshot")
    assert [q["id"] for q in mine["board"]["queues"]] == [sales_id]
    await cc.customer_writes("for Support")
    frames = await _quiet(sam)
    assert not [f for f in frames if "conversation_id" in f or f["event"].startswith("wall")]
