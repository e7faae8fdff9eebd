"""The audit log: admin actions over the real API leave who/what/where/before→after
entries, secrets never appear, and only admins read it (nobody edits it)."""

from __future__ import annotations

import json

from madoguchi.services.audit.record import changed_fields, redact
from tests.access.people import PASSWORD, add_token, add_user


async def admin_headers(stack) -> tuple[int, dict[str, str]]:
    user_id = await add_user(stack.runtime.db, "boss@acme.test", "admin")
    _, token = await add_token(stack.runtime.db, "admin", user_id=user_id)
    return user_id, {"Authorization": f"Bearer {token}"}


async def entries(stack, headers, **params) -> list[dict]:
    response = await stack.client.get("/api/v1/audit-log", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_user_and_token_changes_are_recorded_without_secrets(stack):
    boss, headers = await admin_headers(stack)
    new_password = "a brand new password 42"
    created = await stack.client.post(
        "/api/v1/users",
        headers=headers,
        json={"email": "kim@acme.test", "name": "Kim", "role": "agent", "password": PASSWORD},
    )
    assert created.status_code == 201, created.text
    kim = created.json()["id"]
    patched = await stack.client.patch(
        f"/api/v1/users/{kim}",
        headers=headers,
        json={"role": "supervisor", "password": new_password},
    )
    assert patched.status_code == 200, patched.text
    token = await stack.client.post(
        "/api/v1/tokens", headers=headers, json={"name": "crm", "role": "agent"}
    )
    assert token.status_code == 201
    plaintext = token.json()["token"]
    assert (
        await stack.client.delete(f"/api/v1/tokens/{token.json()['id']}", headers=headers)
    ).status_code == 204

    log = await entries(stack, headers)
    assert [e["action"] for e in log] == [
        "token.revoke",
        "token.create",
        "user.update",
        "user.create",
    ]
    update = log[2]
    assert update["actor_user_id"] == boss
    assert update["actor_label"] == "boss@acme.test"
    assert update["client_address"] == "127.0.0.1"
    assert update["target_type"] == "user" and update["target_id"] == str(kim)
    assert update["target_label"] == "kim@acme.test"
    # Only what changed, the password as "(set)" and never its value.
    assert update["before"] == {"role": "agent", "password": None}
    assert update["after"] == {"role": "supervisor", "password": "(set)"}
    text = json.dumps(log)
    for secret in (PASSWORD, new_password, plaintext):
        assert secret not in text

    # Filters: by person, by object, by action.
    assert [e["action"] for e in await entries(stack, headers, target_type="token")] == [
        "token.revoke",
        "token.create",
    ]
    only_kim = await entries(stack, headers, target_type="user", target_id=str(kim))
    assert len(only_kim) == 2
    assert await entries(stack, headers, actor_user_id=kim) == []
    assert len(await entries(stack, headers, action="user.create")) == 1
    assert len(await entries(stack, headers, limit=1)) == 1
    older = await entries(stack, headers, before_id=log[1]["id"])
    assert [e["action"] for e in older] == ["user.update", "user.create"]


async def test_queue_workspace_and_flow_changes_are_recorded(stack):
    _, headers = await admin_headers(stack)
    queue = await stack.client.post("/api/v1/queues", headers=headers, json={"name": "Billing"})
    assert queue.status_code == 201, queue.text
    qid = queue.json()["id"]
    renamed = await stack.client.put(
        f"/api/v1/queues/{qid}", headers=headers, json={"name": "Invoices"}
    )
    assert renamed.status_code == 200, renamed.text
    assert (await stack.client.delete(f"/api/v1/queues/{qid}", headers=headers)).status_code == 204
    ws = await stack.client.patch(
        "/api/v1/workspace", headers=headers, json={"timezone": "Asia/Tokyo"}
    )
    assert ws.status_code == 200, ws.text
    flow = await stack.client.post("/api/v1/flows", headers=headers, json={"name": "Hello"})
    assert flow.status_code == 201, flow.text
    saved = await stack.client.put(
        f"/api/v1/flows/{flow.json()['id']}", headers=headers, json={"name": "Hello there"}
    )
    assert saved.status_code == 200, saved.text

    log = await entries(stack, headers)
    actions = [e["action"] for e in log]
    assert actions == [
        "flow.save",
        "flow.create",
        "workspace.update",
        "queue.delete",
        "queue.update",
        "queue.create",
    ]
    by = {e["action"]: e for e in log}
    assert by["queue.update"]["before"]["name"] == "Billing"
    assert by["queue.update"]["after"]["name"] == "Invoices"
    assert by["queue.delete"]["after"] is None
    assert by["workspace.update"]["before"] == {"timezone": "UTC"}
    assert by["workspace.update"]["after"] == {"timezone": "Asia/Tokyo"}
    assert by["flow.save"]["before"]["name"] == "Hello"
    assert by["flow.save"]["after"]["name"] == "Hello there"


async def test_only_admins_read_the_log_and_nobody_edits_it(stack):
    _, headers = await admin_headers(stack)
    await stack.client.patch("/api/v1/workspace", headers=headers, json={"name": "ACME 2"})
    [entry] = await entries(stack, headers)
    for role in ("agent", "supervisor"):
        user = await add_user(stack.runtime.db, f"{role}@acme.test", role)
        _, token = await add_token(stack.runtime.db, role, user_id=user)
        response = await stack.client.get(
            "/api/v1/audit-log", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 403
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        response = await stack.client.request(method, "/api/v1/audit-log", headers=headers)
        assert response.status_code == 405, (method, response.status_code)
        response = await stack.client.request(
            method, f"/api/v1/audit-log/{entry['id']}", headers=headers
        )
        assert response.status_code in (404, 405), (method, response.status_code)
    assert await entries(stack, headers) == [entry]


async def test_bad_filters_are_refused_clearly(stack):
    _, headers = await admin_headers(stack)
    for params in ({"limit": 0}, {"limit": 501}, {"since": "yesterday"}):
        response = await stack.client.get("/api/v1/audit-log", headers=headers, params=params)
        assert response.status_code == 422, (params, response.text)


def test_redaction_hides_secret_fields_at_any_depth_and_keeps_that_they_changed():
    value = {
        "name": "x",
        "password": "hunter2hunter2",
        "nested": [{"access_token": "EAAG", "api_key": "", "token_id": 4}],
        "long": "y" * 5000,
    }
    out = redact(value)
    assert out["password"] == "(set)"
    assert out["nested"][0] == {"access_token": "(set)", "api_key": "(not set)", "token_id": 4}
    assert len(out["long"]) < 2100
    assert changed_fields({"a": 1, "b": 2}, {"a": 1, "b": 3}) == ({"b": 2}, {"b": 3})
    assert changed_fields(None, {"a": 1}) == (None, {"a": 1})
