"""``/api/v1/flows``: drafts, validation, publishing, versions, export/import, bindings,
roles and workspace isolation, through the real HTTP API on both databases."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import select

from madoguchi.domain.flows.examples import guide_flow
from madoguchi.services.access.tokens import create_token
from madoguchi.services.access.workspaces import get_or_create_workspace
from madoguchi.store.models import User
from tests.conftest import PHONE_NUMBER_ID
from tests.flows.flow_kit import (
    close_stack,
    flow_stack,
    new_customer,
    says,
    wait_replies,
    wait_status,
)


@pytest.fixture
async def stack(db_url, tmp_path):
    s = await flow_stack(db_url, tmp_path, flows=[])
    yield s
    await close_stack(s)


async def token_for(stack, email: str) -> dict[str, str]:
    async with stack.runtime.db.write() as session:
        user = await session.scalar(select(User).where(User.email == email))
        token = await create_token(session, user.workspace_id, user.role, email, user.id)
    return {"Authorization": f"Bearer {token}"}


async def create(stack, name="Guide", definition=None, **extra):
    body = {"name": name, "definition": definition or guide_flow([PHONE_NUMBER_ID]), **extra}
    response = await stack.api("POST", "/api/v1/flows", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_draft_validate_publish_and_versions(stack):
    draft = copy.deepcopy(guide_flow([PHONE_NUMBER_ID]))
    draft["nodes"][4]["queue"] = "Salez"
    flow = await create(stack, definition=draft, description="The guide")
    assert flow["published_version"] is None and flow["numbers"] == []
    assert flow["problems"] == [
        {"node": "Route_to_Sales", "field": "queue", "message": "no queue named 'Salez'"}
    ]

    refused = await stack.api("POST", f"/api/v1/flows/{flow['id']}/publish")
    assert refused.status_code == 422
    assert refused.json()["detail"]["problems"][0]["node"] == "Route_to_Sales"

    draft["nodes"][4]["queue"] = "Sales"
    saved = await stack.api("PUT", f"/api/v1/flows/{flow['id']}", json={"definition": draft})
    assert saved.json()["problems"] == [] and saved.json()["draft_differs"] is True
    checked = await stack.api("POST", f"/api/v1/flows/{flow['id']}/validate")
    assert checked.json() == {"valid": True, "problems": []}

    published = await stack.api("POST", f"/api/v1/flows/{flow['id']}/publish")
    assert published.status_code == 201
    assert published.json()["version"] == 1 and published.json()["numbers"] == [PHONE_NUMBER_ID]
    again = await stack.api("POST", f"/api/v1/flows/{flow['id']}/publish")
    assert again.json()["version"] == 2

    versions = (await stack.api("GET", f"/api/v1/flows/{flow['id']}/versions")).json()
    assert [v["version"] for v in versions] == [2, 1] and "definition" not in versions[0]
    one = (await stack.api("GET", f"/api/v1/flows/{flow['id']}/versions/1")).json()
    assert one["definition"]["nodes"][0]["numbers"] == [PHONE_NUMBER_ID]
    missing = await stack.api("GET", f"/api/v1/flows/{flow['id']}/versions/9")
    assert missing.status_code == 404

    listed = (await stack.api("GET", "/api/v1/flows")).json()
    assert [(f["name"], f["published_version"], f["draft_differs"]) for f in listed] == [
        ("Guide", 2, False)
    ]


async def test_shape_errors_are_refused_with_the_widget_and_field(stack):
    bad = guide_flow([PHONE_NUMBER_ID])
    bad["nodes"][2]["retries"] = "many"
    response = await stack.api("POST", "/api/v1/flows", json={"name": "Bad", "definition": bad})
    assert response.status_code == 422
    [problem] = response.json()["detail"]["problems"]
    assert (problem["node"], problem["field"]) == ("Ask_Department", "retries")

    live = await stack.api(
        "POST", "/api/v1/flows/validate", json={"definition": {"nodes": [], "edges": []}}
    )
    assert live.json() == {
        "valid": False,
        "problems": [{"node": None, "field": "nodes", "message": "the flow has no Start widget"}],
    }


async def test_a_number_starts_one_flow(stack):
    first = await create(stack, "First")
    assert (await stack.api("POST", f"/api/v1/flows/{first['id']}/publish")).status_code == 201
    second = await create(stack, "Second")
    refused = await stack.api("POST", f"/api/v1/flows/{second['id']}/publish")
    assert refused.status_code == 422
    [problem] = refused.json()["detail"]["problems"]
    assert problem["node"] == "Start" and problem["field"] == "numbers[0]"
    assert "already starts the flow 'First'" in problem["message"]

    unbound = await stack.api("POST", f"/api/v1/flows/{first['id']}/unbind")
    assert unbound.json()["numbers"] == []
    assert (await stack.api("POST", f"/api/v1/flows/{second['id']}/publish")).status_code == 201


async def test_export_and_import_round_trip(stack):
    flow = await create(stack, description="Greets and routes")
    await stack.api("POST", f"/api/v1/flows/{flow['id']}/publish")
    exported = await stack.api("GET", f"/api/v1/flows/{flow['id']}/export", params={"version": 1})
    assert exported.status_code == 200
    assert exported.headers["content-disposition"] == 'attachment; filename="Guide-v1.json"'
    document = exported.json()
    assert document["madoguchi_flow"] == 1 and document["version"] == 1
    assert document["definition"] == flow["draft"]

    clash = await stack.api("POST", "/api/v1/flows/import", json=document)
    assert clash.status_code == 409
    copied = await stack.api("POST", "/api/v1/flows/import", params={"name": "Copy"}, json=document)
    assert copied.status_code == 201
    assert copied.json()["name"] == "Copy" and copied.json()["created"] is True
    assert copied.json()["draft"] == flow["draft"]
    assert copied.json()["published_version"] is None  # an import is a draft

    document["description"] = "Edited elsewhere"
    replaced = await stack.api(
        "POST", "/api/v1/flows/import", params={"replace": "true"}, json=document
    )
    assert replaced.status_code == 201 and replaced.json()["created"] is False
    assert replaced.json()["description"] == "Edited elsewhere"

    draft = await stack.api("GET", f"/api/v1/flows/{flow['id']}/export")
    assert draft.json()["version"] is None


async def test_writes_are_for_admins_and_reads_for_supervisors(stack):
    flow = await create(stack)
    agent = await token_for(stack, "aiko@acme.test")
    supervisor = await token_for(stack, "sam@acme.test")
    assert (await stack.client.get("/api/v1/flows", headers=agent)).status_code == 403
    assert (await stack.client.get("/api/v1/flows", headers=supervisor)).status_code == 200
    for method, path in [
        ("POST", "/api/v1/flows"),
        ("PUT", f"/api/v1/flows/{flow['id']}"),
        ("DELETE", f"/api/v1/flows/{flow['id']}"),
        ("POST", f"/api/v1/flows/{flow['id']}/publish"),
        ("POST", f"/api/v1/flows/{flow['id']}/unbind"),
        ("POST", "/api/v1/flows/import"),
    ]:
        response = await stack.client.request(
            method, path, headers=supervisor, json={"name": "x", "definition": {}}
        )
        assert response.status_code == 403, (method, path)


async def test_flows_of_another_workspace_are_invisible(stack):
    flow = await create(stack)
    async with stack.runtime.db.write() as session:
        other, _ = await get_or_create_workspace(session, "other", "Other")
        token = await create_token(session, other.id, "admin", "other")
    other_admin = {"Authorization": f"Bearer {token}"}
    assert (await stack.client.get("/api/v1/flows", headers=other_admin)).json() == []
    for method, path in [
        ("GET", f"/api/v1/flows/{flow['id']}"),
        ("PUT", f"/api/v1/flows/{flow['id']}"),
        ("POST", f"/api/v1/flows/{flow['id']}/publish"),
        ("GET", f"/api/v1/flows/{flow['id']}/export"),
        ("DELETE", f"/api/v1/flows/{flow['id']}"),
    ]:
        response = await stack.client.request(method, path, headers=other_admin, json={})
        assert response.status_code == 404, (method, path)
    # Its numbers are not theirs to bind either.
    theirs = await stack.client.post(
        "/api/v1/flows",
        headers=other_admin,
        json={"name": "Steal", "definition": guide_flow([PHONE_NUMBER_ID])},
    )
    assert any(p["field"] == "numbers[0]" for p in theirs.json()["problems"])


async def test_delete_refuses_a_flow_with_conversations_in_it(stack):
    flow = await create(stack)
    await stack.api("POST", f"/api/v1/flows/{flow['id']}/publish")
    cust = new_customer()
    await says(stack, cust, "hi")
    conversation, _ = await wait_replies(stack, cust, 2)
    refused = await stack.api("DELETE", f"/api/v1/flows/{flow['id']}")
    assert refused.status_code == 409
    assert "1 conversations are in this flow" in refused.json()["detail"]["message"]

    log = await stack.api("GET", f"/api/v1/conversations/{conversation.id}/flow")
    assert log.json()[0]["status"] == "waiting" and log.json()[0]["node"] == "Ask_Department"
    funnel = (await stack.api("GET", f"/api/v1/flows/{flow['id']}/funnel")).json()
    assert funnel == [{"version": 1, "node": "Ask_Department", "status": "waiting", "runs": 1}]

    agent = await token_for(stack, "aiko@acme.test")
    hidden = await stack.client.get(f"/api/v1/conversations/{conversation.id}/flow", headers=agent)
    assert hidden.status_code == 404  # not in any queue of hers yet
    await says(stack, cust, "1")
    await wait_status(stack, cust, "queued")
    seen = await stack.client.get(f"/api/v1/conversations/{conversation.id}/flow", headers=agent)
    assert seen.status_code == 200 and seen.json()[0]["steps"][-1]["result"] == "routed"

    spare = await create(stack, "Spare", definition=guide_flow([]))  # a draft may be unbound
    assert (await stack.api("DELETE", f"/api/v1/flows/{spare['id']}")).status_code == 204
