"""Testing a draft from the editor (``/api/v1/flows/{id}/test``) and restoring a version
as the draft, through the real HTTP API and webhook endpoint, on both databases: the test
binding starts the draft for that one customer only, once, until it expires or is
stopped; the published version stays what it was for everyone else; roles, workspace
scope and field errors."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from madoguchi.domain.flows.examples import guide_flow
from madoguchi.services.access.tokens import create_token
from madoguchi.services.access.workspaces import get_or_create_workspace
from madoguchi.store.models import FlowTest, FlowVersion, utcnow
from tests.access.people import add_user
from tests.conftest import PHONE_NUMBER_ID
from tests.flows.flow_kit import (
    QUESTION,
    WELCOME,
    close_stack,
    flow_stack,
    new_customer,
    says,
    texts,
    wait_replies,
    wait_status,
)
from tests.flows.test_flows_api import create, token_for
from tests.helpers import eventually

DRAFT_WELCOME = "Hello from the draft!"


@pytest.fixture
async def stack(db_url, tmp_path):
    s = await flow_stack(db_url, tmp_path, flows=[])
    yield s
    await close_stack(s)


def edited_guide() -> dict:
    draft = copy.deepcopy(guide_flow([PHONE_NUMBER_ID]))
    draft["nodes"][1]["text"] = DRAFT_WELCOME
    return draft


def phone(customer: dict) -> str:
    """The customer's phone as an admin would type it: +81 90 1111 0001."""
    w = customer["wa_id"]
    return f"+{w[:2]} {w[2:4]} {w[4:8]} {w[8:]}"


async def published_guide_with_edited_draft(stack) -> dict:
    flow = await create(stack)
    assert (await stack.api("POST", f"/api/v1/flows/{flow['id']}/publish")).status_code == 201
    saved = await stack.api(
        "PUT", f"/api/v1/flows/{flow['id']}", json={"definition": edited_guide()}
    )
    assert saved.status_code == 200 and saved.json()["draft_differs"] is True
    return flow


async def start_test(stack, flow_id: int, customer: str, headers=None):
    body = {"phone_number_id": PHONE_NUMBER_ID, "customer": customer}
    if headers is None:
        return await stack.api("POST", f"/api/v1/flows/{flow_id}/test", json=body)
    return await stack.client.post(f"/api/v1/flows/{flow_id}/test", json=body, headers=headers)


async def test_the_test_runs_the_draft_for_that_customer_only_and_once(stack):
    flow = await published_guide_with_edited_draft(stack)
    tester, other = new_customer("Tess"), new_customer("Olga")

    started = await start_test(stack, flow["id"], phone(tester))
    assert started.status_code == 201, started.text
    test = started.json()
    assert test["state"] == "waiting" and test["customer"] == tester["wa_id"]
    assert test["phone_number_id"] == PHONE_NUMBER_ID and test["run"] is None
    assert test["phone_url"] is None or "customer=" in test["phone_url"]

    await says(stack, tester, "hi")
    conversation, got = await wait_replies(stack, tester, 2)
    assert texts(got) == [DRAFT_WELCOME, QUESTION]
    await says(stack, other, "hi")
    _, got = await wait_replies(stack, other, 2)
    assert texts(got) == [WELCOME, QUESTION]  # everyone else: the published version

    live = (await stack.api("GET", f"/api/v1/flows/{flow['id']}/test")).json()
    assert live["id"] == test["id"] and live["state"] == "running"
    assert live["conversation_id"] == conversation.id
    assert live["run"]["node"] == "Ask_Department" and live["run"]["status"] == "waiting"
    assert [(s["node"], s["result"]) for s in live["steps"]] == [
        ("Start", "next"),
        ("Welcome", "next"),
        ("Ask_Department", "waiting"),
    ]

    await says(stack, tester, "1")
    await wait_status(stack, tester, "queued")  # a test run routes like a real one
    done = (await stack.api("GET", f"/api/v1/flows/{flow['id']}/test")).json()
    assert done["state"] == "finished" and done["run"]["status"] == "routed"
    assert done["run"]["node"] == "Route_to_Sales" and done["conversation_status"] == "queued"
    assert done["steps"][-1]["node"] == "Route_to_Sales"

    # Nothing was published; the versions list and the funnel know nothing of the test.
    summary = (await stack.api("GET", f"/api/v1/flows/{flow['id']}")).json()
    assert summary["published_version"] == 1 and summary["draft_differs"] is True
    versions = (await stack.api("GET", f"/api/v1/flows/{flow['id']}/versions")).json()
    assert [v["version"] for v in versions] == [1]
    funnel = (await stack.api("GET", f"/api/v1/flows/{flow['id']}/funnel")).json()
    assert funnel == [{"version": 1, "node": "Ask_Department", "status": "waiting", "runs": 1}]
    log = (await stack.api("GET", f"/api/v1/conversations/{conversation.id}/flow")).json()
    assert log[0]["test"] is True and log[0]["variables"]["flow.version"] == "test"

    # The binding was used up: the tester's next conversation gets the published flow.
    closed = await stack.api("POST", f"/api/v1/conversations/{conversation.id}/close", json={})
    assert closed.status_code == 200, closed.text
    await says(stack, tester, "hello again")

    async def next_conversation():
        latest, got = await wait_replies(stack, tester, 2)
        return (latest, got) if latest.id != conversation.id else None

    _, got = await eventually(next_conversation)
    assert texts(got) == [WELCOME, QUESTION]


async def test_a_draft_that_was_never_published_can_be_tested(stack):
    flow = await create(stack, definition=edited_guide())  # no number starts it
    assert (
        await start_test(stack, flow["id"], "+" + (tester := new_customer())["wa_id"])
    ).is_success
    await says(stack, tester, "hi")
    _, got = await wait_replies(stack, tester, 2)
    assert texts(got) == [DRAFT_WELCOME, QUESTION]
    assert (await stack.api("GET", f"/api/v1/flows/{flow['id']}")).json()["numbers"] == []


async def test_a_test_expires_and_can_be_stopped(stack):
    flow = await published_guide_with_edited_draft(stack)
    late = new_customer("Late")
    assert (await start_test(stack, flow["id"], late["wa_id"])).status_code == 201
    async with stack.runtime.db.write() as session:
        await session.execute(update(FlowTest).values(expires_at=utcnow() - timedelta(seconds=1)))
    expired = (await stack.api("GET", f"/api/v1/flows/{flow['id']}/test")).json()
    assert expired["state"] == "expired"
    await says(stack, late, "hi")
    _, got = await wait_replies(stack, late, 2)
    assert texts(got) == [WELCOME, QUESTION]

    stopped_customer = new_customer("Stopped")
    assert (await start_test(stack, flow["id"], stopped_customer["wa_id"])).status_code == 201
    stopped = await stack.api("DELETE", f"/api/v1/flows/{flow['id']}/test")
    assert stopped.status_code == 200 and stopped.json()["state"] == "expired"
    await says(stack, stopped_customer, "hi")
    _, got = await wait_replies(stack, stopped_customer, 2)
    assert texts(got) == [WELCOME, QUESTION]

    # Pressing Test again with the same draft reuses its snapshot; a test snapshot is
    # never a version (numbers below zero, never listed, never live).
    async with stack.runtime.db.read() as session:
        snapshots = (
            await session.scalars(select(FlowVersion.version).where(FlowVersion.test.is_(True)))
        ).all()
    assert snapshots == [-1]


async def test_a_customer_with_an_open_conversation_is_pointed_out(stack):
    flow = await published_guide_with_edited_draft(stack)
    busy = new_customer("Busy")
    await says(stack, busy, "hi")
    conversation, _ = await wait_replies(stack, busy, 2)
    test = (await start_test(stack, flow["id"], busy["wa_id"])).json()
    assert test["open_conversation"] == {"id": conversation.id, "status": "in_flow"}


async def test_an_invalid_draft_is_refused_with_the_widgets_problems(stack):
    draft = copy.deepcopy(guide_flow([PHONE_NUMBER_ID]))
    draft["nodes"][4]["queue"] = "Salez"
    flow = await create(stack, definition=draft)
    refused = await start_test(stack, flow["id"], "+81 90 5555 0001")
    assert refused.status_code == 422
    assert refused.json()["detail"]["problems"] == [
        {"node": "Route_to_Sales", "field": "queue", "message": "no queue named 'Salez'"}
    ]
    async with stack.runtime.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(FlowTest)) == 0
        assert await session.scalar(select(func.count()).select_from(FlowVersion)) == 0


async def test_unknown_number_or_customer_are_named(stack):
    flow = await create(stack)
    path = f"/api/v1/flows/{flow['id']}/test"
    unknown = await stack.api(
        "POST", path, json={"phone_number_id": "399999999999999", "customer": "+81 90 5555 0001"}
    )
    assert unknown.status_code == 422 and unknown.json()["detail"]["field"] == "phone_number_id"
    for customer in ("hello", "+81 12", "jp.lowercase"):
        bad = await stack.api(
            "POST", path, json={"phone_number_id": PHONE_NUMBER_ID, "customer": customer}
        )
        assert bad.status_code == 422 and bad.json()["detail"]["field"] == "customer", customer
    bsuid = await stack.api(
        "POST", path, json={"phone_number_id": PHONE_NUMBER_ID, "customer": "JP.7021133001"}
    )
    assert bsuid.status_code == 201 and bsuid.json()["customer"] == "JP.7021133001"
    missing = await stack.api("GET", f"{path}?id=999")
    assert missing.status_code == 404


async def test_testing_is_for_admins_and_each_workspace_its_own(stack):
    flow = await create(stack)
    path = f"/api/v1/flows/{flow['id']}/test"
    never = await stack.api("GET", path)
    assert never.status_code == 200 and never.json() is None
    supervisor = await token_for(stack, "sam@acme.test")
    agent = await token_for(stack, "aiko@acme.test")
    assert (await start_test(stack, flow["id"], "+81 90 5555 0001", supervisor)).status_code == 403
    assert (await stack.client.delete(path, headers=supervisor)).status_code == 403
    assert (await stack.client.get(path, headers=agent)).status_code == 403
    assert (await start_test(stack, flow["id"], "+81 90 5555 0001")).status_code == 201
    seen = await stack.client.get(path, headers=supervisor)
    assert seen.status_code == 200 and seen.json()["state"] == "waiting"

    async with stack.runtime.db.write() as session:
        other, _ = await get_or_create_workspace(session, "other", "Other")
        token = await create_token(session, other.id, "admin", "other")
    other_admin = {"Authorization": f"Bearer {token}"}
    assert (await start_test(stack, flow["id"], "+81 90 5555 0002", other_admin)).status_code == 404
    assert (await stack.client.get(path, headers=other_admin)).status_code == 404
    assert (await stack.client.delete(path, headers=other_admin)).status_code == 404


async def test_restore_a_version_as_the_draft(stack):
    await add_user(stack.runtime.db, "ada@acme.test", "admin")
    ada = await token_for(stack, "ada@acme.test")
    flow = await create(stack)
    publish = f"/api/v1/flows/{flow['id']}/publish"
    assert (await stack.client.post(publish, headers=ada)).status_code == 201
    await stack.api("PUT", f"/api/v1/flows/{flow['id']}", json={"definition": edited_guide()})
    assert (await stack.api("POST", publish)).json()["version"] == 2

    versions = (await stack.api("GET", f"/api/v1/flows/{flow['id']}/versions")).json()
    assert [(v["version"], v["live"]) for v in versions] == [(2, True), (1, False)]
    assert versions[1]["published_by"] == {"name": "Ada", "email": "ada@acme.test"}
    assert versions[0]["published_by"] is None  # a workspace token is nobody in particular

    current = (await stack.api("GET", f"/api/v1/flows/{flow['id']}")).json()
    stale = await stack.api(
        "POST",
        f"/api/v1/flows/{flow['id']}/versions/1/restore",
        json={"expected_updated_at": "2000-01-01T00:00:00+00:00"},
    )
    assert stale.status_code == 409 and "changed since you loaded it" in stale.text
    restored = await stack.api(
        "POST",
        f"/api/v1/flows/{flow['id']}/versions/1/restore",
        json={"expected_updated_at": current["updated_at"]},
    )
    assert restored.status_code == 200, restored.text
    body = restored.json()
    assert body["draft"]["nodes"][1]["text"] == WELCOME and body["problems"] == []
    assert body["published_version"] == 2 and body["draft_differs"] is True
    # Without a body it restores too (the API's simplest use).
    again = await stack.api("POST", f"/api/v1/flows/{flow['id']}/versions/2/restore")
    assert again.status_code == 200 and again.json()["draft_differs"] is False

    missing = await stack.api("POST", f"/api/v1/flows/{flow['id']}/versions/9/restore")
    assert missing.status_code == 404 and "has no version 9" in missing.text
    supervisor = await token_for(stack, "sam@acme.test")
    refused = await stack.client.post(
        f"/api/v1/flows/{flow['id']}/versions/1/restore", headers=supervisor
    )
    assert refused.status_code == 403
