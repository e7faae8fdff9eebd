"""Templates, the service window, outbound contact and opt-out, end to end against the
simulator (which keeps a submitted template PENDING, then approves it — or rejects a name
containing "reject" — by a ``message_template_status_update`` webhook)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from madoguchi.domain.route_back import route_back_target
from madoguchi.services.access.tokens import create_token
from madoguchi.services.access.workspaces import get_or_create_workspace
from madoguchi.store.models import Conversation, Queue, User
from tests.conftest import (
    PHONE_NUMBER_ID,
    WA_TOKEN,
    WABA_ID,
    fixture_payload,
    start_sim_stack,
)
from tests.e2e.test_simulator_roundtrip import (
    conversation_of,
    customer,
    customer_says,
    eventually,
    message_status,
    send,
    sent_requests,
)

ORDER_UPDATE = {
    "name": "order_update",
    "language": "en_US",
    "category": "UTILITY",
    "components": [
        {
            "type": "BODY",
            "text": "Hello {{1}}, your order {{2}} is on its way.",
            "example": {"body_text": [["Taro", "A-1001"]]},
        },
        {"type": "FOOTER", "text": "ACME Shop"},
    ],
}
SPRING_SALE = {
    "name": "spring_sale",
    "language": "en_US",
    "category": "MARKETING",
    "components": [
        {
            "type": "BODY",
            "text": "Hi {{first_name}}, everything is 20% off this week!",
            "example": {
                "body_text_named_params": [{"param_name": "first_name", "example": "Taro"}]
            },
        },
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop promotions"}]},
    ],
}


@pytest.fixture
async def s(db_url, tmp_path):
    stack = await start_sim_stack(db_url, tmp_path, auto_approve_templates_after=0.3)
    yield stack
    await stack.client.aclose()
    await stack.sim_client.aclose()
    await stack.served.stop()
    await stack.sim.stop()


async def template_status(s, template_id: int, wanted: str) -> dict:
    async def check():
        t = (await s.api("GET", f"/api/v1/templates/{template_id}")).json()
        return t if t["status"] == wanted else None

    return await eventually(check)


async def approved(s, spec: dict) -> dict:
    created = await s.api("POST", "/api/v1/templates", json=spec)
    assert created.status_code == 201, created.text
    return await template_status(s, created.json()["id"], "APPROVED")


async def sim_templates(s) -> list[dict]:
    return (await s.sim_client.get("/_sim/templates")).json()["templates"]


async def set_window(s, conversation_id: int, **values) -> None:
    async with s.runtime.db.write() as session:
        await session.execute(
            update(Conversation).where(Conversation.id == conversation_id).values(**values)
        )


async def window(s, conversation_id: int) -> dict:
    response = await s.api("GET", f"/api/v1/conversations/{conversation_id}/window")
    assert response.status_code == 200, response.text
    return response.json()


# ----------------------------------------------------------------------------- templates


async def test_create_is_pending_then_approved_by_webhook(s):
    created = await s.api("POST", "/api/v1/templates", json=ORDER_UPDATE)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "PENDING" and body["meta_template_id"]
    assert body["waba_id"] == WABA_ID and body["source"] == "api"
    assert [p["key"] for p in body["parameters"]] == ["body.1", "body.2"]
    [at_meta] = await sim_templates(s)
    # Meta's review (the simulator's, after 0.3 s) may already be over on a busy machine.
    assert at_meta["id"] == body["meta_template_id"]
    assert at_meta["status"] in ("PENDING", "APPROVED")
    [request] = [r for r in await sent_requests(s, "/message_templates")]
    assert request["body"]["components"][0]["example"] == {"body_text": [["Taro", "A-1001"]]}

    done = await template_status(s, body["id"], "APPROVED")
    assert done["rejected_reason"] is None and done["status_updated_at"]
    again = await s.api("POST", "/api/v1/templates", json=ORDER_UPDATE)
    assert again.status_code == 409 and again.json()["detail"]["code"] == "template_exists"


async def test_rejected_template_shows_the_reason(s):
    spec = {**ORDER_UPDATE, "name": "order_reject_me"}
    created = await s.api("POST", "/api/v1/templates", json=spec)
    rejected = await template_status(s, created.json()["id"], "REJECTED")
    assert rejected["rejected_reason"] == "INVALID_FORMAT"
    listed = (await s.api("GET", "/api/v1/templates", params={"status": "rejected"})).json()
    assert [t["name"] for t in listed] == ["order_reject_me"]


async def test_an_invalid_template_is_refused_with_every_field_named(s):
    bad = {
        "name": "Bad Name",
        "language": "en_US",
        "category": "UTILITY",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "x" * 61},
            {"type": "BODY", "text": "Hi {{1}}"},
            {"type": "FOOTER", "text": "y" * 61},
        ],
    }
    response = await s.api("POST", "/api/v1/templates", json=bad)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail["code"] == "invalid_template"
    fields = {p["field"] for p in detail["problems"]}
    assert fields == {
        "name",
        "components[0].text",
        "components[1].example.body_text",
        "components[2].text",
    }
    assert await sent_requests(s, "/message_templates") == []


async def test_sync_brings_in_metas_templates_status_and_quality_then_delete(s):
    graph = f"/{s.runtime.settings.graph_api_version}/{WABA_ID}/message_templates"
    headers = {"Authorization": f"Bearer {WA_TOKEN}"}
    made = await s.sim_client.post(
        graph, headers=headers, json={**SPRING_SALE, "parameter_format": "NAMED"}
    )
    assert made.status_code == 200, made.text
    meta_id = made.json()["id"]

    report = (await s.api("POST", "/api/v1/templates/sync", json={})).json()
    # The simulator's approval webhook may be processed before the sync (it then made
    # the row, "heard of" by webhook) or after it: either way the sync leaves one
    # template with Meta's id and Meta's content.
    account = report["accounts"][0]
    assert account["created"] + account["updated"] == 1
    [listed] = (await s.api("GET", "/api/v1/templates")).json()
    assert listed["source"] == ("meta" if account["created"] else "webhook")
    assert listed["meta_template_id"] == meta_id
    assert listed["category"] == "MARKETING" and listed["parameter_format"] == "NAMED"
    assert listed["components"] == SPRING_SALE["components"]
    await template_status(s, listed["id"], "APPROVED")  # by the simulator's webhook

    quality = fixture_payload("template_quality_update.json")
    value = quality["entry"][0]["changes"][0]["value"]
    value.update(
        message_template_id=int(meta_id),
        message_template_name="spring_sale",
        message_template_language="en_US",
        new_quality_score="YELLOW",
    )
    assert (await s.post_webhook(quality)).status_code == 200

    async def yellow():
        t = (await s.api("GET", f"/api/v1/templates/{listed['id']}")).json()
        return t["quality_score"] == "YELLOW"

    await eventually(yellow)
    paused = await s.sim_client.post(f"/_sim/templates/{meta_id}/status", json={"status": "PAUSED"})
    assert paused.status_code == 200
    await template_status(s, listed["id"], "PAUSED")

    # Deleted in WhatsApp Manager: the next sync removes it here.
    gone = await s.sim_client.delete(graph, headers=headers, params={"name": "spring_sale"})
    assert gone.json() == {"success": True}
    report = (await s.api("POST", "/api/v1/templates/sync")).json()
    assert report["accounts"][0]["deleted"] == 1
    assert (await s.api("GET", "/api/v1/templates")).json() == []

    # Deleted through Madoguchi: gone at Meta too.
    created = await s.api("POST", "/api/v1/templates", json=ORDER_UPDATE)
    deleted = await s.api("DELETE", f"/api/v1/templates/{created.json()['id']}")
    assert deleted.status_code == 204
    assert await sim_templates(s) == []
    log = await s.sim_client.get("/_sim/sent", params={"path_contains": "/message_templates"})
    [request] = [r for r in log.json()["requests"] if r["method"] == "DELETE"][-1:]
    assert f"hsm_id={created.json()['meta_template_id']}" in request["query"]
    assert (await s.api("GET", f"/api/v1/templates/{created.json()['id']}")).status_code == 404


async def test_preview_fills_values_from_the_contact_and_conversation(s):
    template = await approved(s, ORDER_UPDATE)
    taro = await customer(s, wa_id="819012345601", name="Taro Yamada")
    sent = await customer_says(s, taro, {"type": "text", "text": "where is my order?"})
    conv = await conversation_of(s, sent["wamid"])
    preview = await s.api(
        "POST",
        f"/api/v1/templates/{template['id']}/preview",
        json={
            "conversation_id": conv["id"],
            "values": {"1": {"from": "contact.name"}, "2": {"from": "vars.order", "default": "#1"}},
        },
    )
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["preview"]["body"] == "Hello Taro Yamada, your order #1 is on its way."
    assert body["preview"]["footer"] == "ACME Shop" and body["preview"]["missing"] == []
    assert body["message"]["template"]["components"] == [
        {
            "type": "body",
            "parameters": [
                {"type": "text", "text": "Taro Yamada"},
                {"type": "text", "text": "#1"},
            ],
        }
    ]
    await add_flow_variables(s, conv["id"], {"order": "A-9"})
    with_vars = await s.api(
        "POST",
        f"/api/v1/templates/{template['id']}/preview",
        json={"conversation_id": conv["id"], "values": {"1": "Taro", "2": {"from": "vars.order"}}},
    )
    assert with_vars.json()["preview"]["body"] == "Hello Taro, your order A-9 is on its way."
    partial = await s.api(
        "POST", f"/api/v1/templates/{template['id']}/preview", json={"values": {"2": "B-7"}}
    )
    assert partial.json()["preview"]["body"] == "Hello {{1}}, your order B-7 is on its way."
    assert partial.json()["preview"]["missing"] == ["body.1"] and partial.json()["message"] is None


async def add_flow_variables(s, conversation_id: int, variables: dict) -> None:
    """A flow run that set ``variables`` (what the flow engine stores)."""
    from madoguchi.store import models

    if not hasattr(models, "FlowRun"):
        pytest.skip("the flow engine's tables are not installed")
    async with s.runtime.db.write() as session:
        conversation = await session.get(Conversation, conversation_id)
        ws = conversation.workspace_id
        flow = models.Flow(workspace_id=ws, name="Orders", draft={})
        session.add(flow)
        await session.flush()
        version = models.FlowVersion(workspace_id=ws, flow_id=flow.id, version=1, definition={})
        session.add(version)
        await session.flush()
        session.add(
            models.FlowRun(
                workspace_id=ws,
                conversation_id=conversation_id,
                flow_id=flow.id,
                version_id=version.id,
                version=1,
                variables=variables,
                status="ended",
            )
        )


# ----------------------------------------------------------------------------- window


async def test_window_is_visible_with_time_left_and_refuses_free_form_at_24_hours(s):
    mio = await customer(s, wa_id="819012345602")
    sent = await customer_says(s, mio, {"type": "text", "text": "hi"})
    conv = await conversation_of(s, sent["wamid"])
    now = datetime.now(UTC)
    await set_window(
        s, conv["id"], last_inbound_at=now - timedelta(hours=24) + timedelta(minutes=5)
    )
    shown = await window(s, conv["id"])
    assert shown["open"] and shown["basis"] == "customer_message"
    assert 240 < shown["seconds_left"] <= 300
    listed = (await s.api("GET", f"/api/v1/conversations/{conv['id']}")).json()
    assert listed["service_window_open"] and 240 < listed["service_window_seconds_left"] <= 300
    ok = await send(s, conv["id"], {"type": "text", "text": {"body": "just in time"}})
    assert ok.status_code == 202

    await set_window(s, conv["id"], last_inbound_at=datetime.now(UTC) - timedelta(hours=24))
    shown = await window(s, conv["id"])
    assert not shown["open"] and shown["seconds_left"] == 0
    refused = await send(s, conv["id"], {"type": "text", "text": {"body": "too late"}})
    assert refused.status_code == 409
    assert refused.json()["detail"]["code"] == "window_closed"
    assert "24 hours" in refused.json()["detail"]["message"]
    per_contact = (
        await s.api(
            "GET",
            f"/api/v1/contacts/{conv['contact']['id']}/window",
            params={"phone_number_id": PHONE_NUMBER_ID},
        )
    ).json()
    assert per_contact["windows"][0]["open"] is False


async def test_a_free_entry_point_keeps_the_window_open_72_hours(s):
    ad = await customer(s, wa_id="819012345603")
    sent = await customer_says(
        s, ad, {"type": "text", "text": "I saw your ad", "referral": {"source_type": "ad"}}
    )
    conv = await conversation_of(s, sent["wamid"])
    thirty_hours_ago = datetime.now(UTC) - timedelta(hours=30)
    await set_window(
        s, conv["id"], last_inbound_at=thirty_hours_ago, free_entry_point_at=thirty_hours_ago
    )
    shown = await window(s, conv["id"])
    assert shown["open"] and shown["basis"] == "free_entry_point"
    assert 41 * 3600 < shown["seconds_left"] <= 42 * 3600
    ok = await send(s, conv["id"], {"type": "text", "text": {"body": "still free"}})
    assert ok.status_code == 202

    seventy_two_hours_ago = datetime.now(UTC) - timedelta(hours=72)
    await set_window(
        s,
        conv["id"],
        last_inbound_at=seventy_two_hours_ago,
        free_entry_point_at=seventy_two_hours_ago,
    )
    assert not (await window(s, conv["id"]))["open"]
    refused = await send(s, conv["id"], {"type": "text", "text": {"body": "closed now"}})
    assert refused.status_code == 409 and refused.json()["detail"]["code"] == "window_closed"


async def test_131047_from_meta_closes_the_window_until_the_customer_writes(s):
    ken = await customer(s, wa_id="819012345604")
    sent = await customer_says(s, ken, {"type": "text", "text": "hello"})
    conv = await conversation_of(s, sent["wamid"])
    await s.sim_client.post(
        "/_sim/faults", json={"phone_number_id": PHONE_NUMBER_ID, "code": 131047, "count": 1}
    )
    reply = await send(s, conv["id"], {"type": "text", "text": {"body": "answer"}})
    failed = await message_status(s, reply.json()["id"], "failed")
    assert failed["error_code"] == 131047 and "24 hours" in failed["error_message"]

    async def closed():
        shown = await window(s, conv["id"])
        return shown if shown["basis"] == "closed_by_meta" else None

    shown = await eventually(closed)
    assert not shown["open"] and shown["closed_by_meta_at"]
    before = len(await sent_requests(s))
    refused = await send(s, conv["id"], {"type": "text", "text": {"body": "again"}})
    assert refused.status_code == 409 and refused.json()["detail"]["code"] == "window_closed"
    assert len(await sent_requests(s)) == before  # refused here, not by Meta

    await customer_says(s, ken, {"type": "text", "text": "are you there?"})

    async def reopened():
        return (await window(s, conv["id"]))["open"]

    await eventually(reopened)
    ok = await send(s, conv["id"], {"type": "text", "text": {"body": "yes!"}})
    assert ok.status_code == 202


# ----------------------------------------------------------------------------- outbound


async def add_agent(s, email: str = "aiko@acme.test") -> tuple[int, str]:
    async with s.runtime.db.write() as session:
        workspace, _ = await get_or_create_workspace(session, "acme")
        agent = User(workspace_id=workspace.id, email=email, name="Aiko", role="agent")
        session.add(agent)
        await session.flush()
        token = await create_token(session, workspace.id, "agent", "aiko", user_id=agent.id)
        return agent.id, token


async def test_outbound_template_to_a_new_contact_then_the_reply_routes_back(s):
    await approved(s, ORDER_UPDATE)
    saki = await customer(s, wa_id="819012345605", name="Saki")  # known to WhatsApp only
    agent_id, agent_token = await add_agent(s)
    started = await s.client.post(
        "/api/v1/outbound",
        headers={"Authorization": f"Bearer {agent_token}"},
        json={
            "phone_number_id": PHONE_NUMBER_ID,
            "to": {"wa_id": "+81 90-1234-5605", "name": "Saki Sato"},
            "template": {
                "name": "order_update",
                "language": "en_US",
                "values": {"1": {"from": "contact.name"}, "2": "A-2002"},
            },
        },
    )
    assert started.status_code == 202, started.text
    body = started.json()
    assert body["contact_created"] and body["conversation_created"]
    conv = body["conversation"]
    assert conv["contact"]["wa_id"] == "819012345605"
    assert conv["contact"]["profile_name"] == "Saki Sato"
    assert conv["started_by_user_id"] == agent_id
    assert conv["route_back_agent_id"] == agent_id and conv["route_back_queue_id"] is None
    until = datetime.fromisoformat(conv["route_back_until"])
    expected = datetime.now(UTC) + timedelta(hours=72)
    assert abs((until - expected).total_seconds()) < 60
    assert not conv["service_window_open"]  # a template does not open the window
    assert body["message"]["template_category"] == "UTILITY"

    delivered = await message_status(s, body["message"]["id"], "delivered")
    assert delivered["pricing"]["category"] == "utility"
    thread = (await s.sim_client.get(f"/_sim/customers/{saki['user_id']}/thread")).json()
    out = [m for m in thread["messages"] if m["direction"] == "out"][-1]
    assert out["rendered"]["body"] == "Hello Saki Sato, your order A-2002 is on its way."
    refused = await send(s, conv["id"], {"type": "text", "text": {"body": "free-form?"}})
    assert refused.status_code == 409 and refused.json()["detail"]["code"] == "window_closed"

    reply = await customer_says(s, saki, {"type": "text", "text": "Thanks! When exactly?"})
    replied = await conversation_of(s, reply["wamid"])
    assert replied["id"] == conv["id"]  # the reply continues the outbound conversation
    assert replied["service_window_open"]
    assert replied["route_back_agent_id"] == agent_id
    async with s.runtime.db.read() as session:
        row = await session.get(Conversation, conv["id"])
        assert route_back_target(row, datetime.now(UTC)) == (agent_id, None)
        assert route_back_target(row, row.route_back_until) is None
    answer = await send(s, conv["id"], {"type": "text", "text": {"body": "Tomorrow 10:00"}})
    assert answer.status_code == 202


async def test_outbound_by_api_to_a_queue_by_bsuid_and_by_raw_components(s):
    await approved(s, ORDER_UPDATE)
    hana = await customer(s, username="hana_k", name="Hana")  # no phone shared
    async with s.runtime.db.write() as session:
        workspace, _ = await get_or_create_workspace(session, "acme")
        queue = Queue(workspace_id=workspace.id, name="Sales")
        session.add(queue)
        await session.flush()
        queue_id = queue.id
    started = await s.api(
        "POST",
        "/api/v1/outbound",
        json={
            "phone_number_id": PHONE_NUMBER_ID,
            "to": {"user_id": hana["user_id"]},
            "template": {
                "name": "order_update",
                "language": "en_US",
                "components": [
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "text": "Hana"},
                            {"type": "text", "text": "C-3"},
                        ],
                    }
                ],
            },
            "queue_id": queue_id,
            "route_back_hours": 2,
        },
    )
    assert started.status_code == 202, started.text
    conv = started.json()["conversation"]
    assert conv["route_back_agent_id"] is None and conv["route_back_queue_id"] == queue_id
    assert conv["contact"]["user_id"] == hana["user_id"] and conv["contact"]["wa_id"] is None
    await message_status(s, started.json()["message"]["id"], "delivered")
    [request] = await sent_requests(s)
    assert request["body"]["recipient"] == hana["user_id"] and "to" not in request["body"]

    for bad, code in [
        ({"to": {"wa_id": "12"}}, "invalid_recipient"),
        ({"to": {"user_id": "not a bsuid"}}, "invalid_recipient"),
        ({"queue_id": 999_999}, "not_found"),
        ({"phone_number_id": "399999999999999"}, "not_found"),
    ]:
        payload = {
            "phone_number_id": PHONE_NUMBER_ID,
            "to": {"wa_id": "819012345606"},
            "template": {
                "name": "order_update",
                "language": "en_US",
                "values": {"1": "a", "2": "b"},
            },
            **bad,
        }
        refused = await s.api("POST", "/api/v1/outbound", json=payload)
        assert refused.json()["detail"]["code"] == code, (bad, refused.text)
    missing = await s.api(
        "POST",
        "/api/v1/outbound",
        json={
            "phone_number_id": PHONE_NUMBER_ID,
            "to": {"wa_id": "819012345606"},
            "template": {"name": "order_update", "language": "en_US", "values": {"1": "a"}},
        },
    )
    assert missing.status_code == 422
    assert missing.json()["detail"]["code"] == "missing_values"
    assert missing.json()["detail"]["field"] == "template.values.body.2"


async def test_a_template_not_approved_is_refused_before_meta(s):
    created = await s.api("POST", "/api/v1/templates", json={**ORDER_UPDATE, "name": "x_reject"})
    await template_status(s, created.json()["id"], "REJECTED")
    before = len(await sent_requests(s))
    refused = await s.api(
        "POST",
        "/api/v1/outbound",
        json={
            "phone_number_id": PHONE_NUMBER_ID,
            "to": {"wa_id": "819012345607"},
            "template": {"id": created.json()["id"], "values": {"1": "a", "2": "b"}},
        },
    )
    assert refused.status_code == 409
    assert refused.json()["detail"]["code"] == "template_not_approved"
    assert "REJECTED: INVALID_FORMAT" in refused.json()["detail"]["message"]
    assert len(await sent_requests(s)) == before
    async with s.runtime.db.read() as session:  # nothing was created for the refusal
        assert (await session.scalars(select(Conversation))).all() == []


# ----------------------------------------------------------------------------- opt-out


async def marketing(s, contact_id: int) -> dict:
    return (await s.api("GET", f"/api/v1/contacts/{contact_id}/marketing")).json()


async def test_stop_words_buttons_and_the_webhook_opt_out_of_marketing(s):
    await approved(s, SPRING_SALE)
    await approved(s, ORDER_UPDATE)
    yui = await customer(s, wa_id="819012345608", name="Yui")
    sent = await customer_says(s, yui, {"type": "text", "text": "hello"})
    conv = await conversation_of(s, sent["wamid"])
    contact_id = conv["contact"]["id"]
    sale = {
        "type": "template",
        "template": {
            "name": "spring_sale",
            "language": {"code": "en_US"},
            "components": [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": "Yui", "parameter_name": "first_name"}],
                }
            ],
        },
    }
    first = await send(s, conv["id"], sale)
    assert first.status_code == 202 and first.json()["template_category"] == "MARKETING"
    await message_status(s, first.json()["id"], "delivered")

    # A plain "stop" that is not the whole message is no opt-out.
    await customer_says(s, yui, {"type": "text", "text": "please stop the late deliveries"})
    await customer_says(s, yui, {"type": "text", "text": "ＳＴＯＰ!"})

    async def opted_out():
        state = await marketing(s, contact_id)
        return state if state["opted_out"] else None

    state = await eventually(opted_out)
    assert state["source"] == "keyword"
    before = len(await sent_requests(s))
    refused = await send(s, conv["id"], sale)
    assert refused.status_code == 409 and refused.json()["detail"]["code"] == "opted_out"
    assert "opted out of marketing" in refused.json()["detail"]["message"]
    assert len(await sent_requests(s)) == before
    utility = {
        "type": "template",
        "template": {
            "name": "order_update",
            "language": {"code": "en_US"},
            "components": [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": "Yui"}, {"type": "text", "text": "1"}],
                }
            ],
        },
    }
    assert (await send(s, conv["id"], utility)).status_code == 202  # utility still goes

    await customer_says(s, yui, {"type": "text", "text": "start"})

    async def opted_in():
        return not (await marketing(s, contact_id))["opted_out"]

    await eventually(opted_in)
    assert (await send(s, conv["id"], sale)).status_code == 202

    # Meta's user_preferences webhook.
    prefs = fixture_payload("user_preferences.json")
    value = prefs["entry"][0]["changes"][0]["value"]
    value["contacts"][0].update(wa_id=yui["wa_id"], user_id=yui["user_id"])
    item = value["user_preferences"][0]
    item.update(
        wa_id=yui["wa_id"], user_id=yui["user_id"], timestamp=int(datetime.now(UTC).timestamp())
    )
    assert (await s.post_webhook(prefs)).status_code == 200
    state = await eventually(opted_out)
    assert state["source"] == "webhook"
    resumed = copy.deepcopy(prefs)
    resumed["entry"][0]["changes"][0]["value"]["user_preferences"][0].update(
        value="resume", timestamp=item["timestamp"] + 1
    )
    assert (await s.post_webhook(resumed)).status_code == 200
    await eventually(opted_in)
    assert (await marketing(s, contact_id))["source"] == "webhook"


async def test_a_quick_reply_whose_payload_means_stop_opts_out(s):
    await approved(s, SPRING_SALE)
    rin = await customer(s, wa_id="819012345609", name="Rin")
    sent = await customer_says(s, rin, {"type": "text", "text": "hi"})
    conv = await conversation_of(s, sent["wamid"])
    sale = {
        "type": "template",
        "template": {
            "name": "spring_sale",
            "language": {"code": "en_US"},
            "components": [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": "Rin", "parameter_name": "first_name"}],
                },
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "0",
                    "parameters": [{"type": "payload", "payload": "UNSUBSCRIBE"}],
                },
            ],
        },
    }
    first = await send(s, conv["id"], sale)
    out = await message_status(s, first.json()["id"], "delivered")
    await customer_says(
        s, rin, {"type": "button", "message_wamid": out["wamid"], "text": "Stop promotions"}
    )

    async def opted_out():
        state = await marketing(s, conv["contact"]["id"])
        return state if state["opted_out"] else None

    assert (await eventually(opted_out))["source"] == "button"
    refused = await send(s, conv["id"], sale)
    assert refused.status_code == 409 and refused.json()["detail"]["code"] == "opted_out"
    # An agent can record the customer's word too.
    put = await s.api(
        "PUT", f"/api/v1/contacts/{conv['contact']['id']}/marketing", json={"opted_out": False}
    )
    assert put.json()["opted_out"] is False and put.json()["source"] == "agent"
    assert (await send(s, conv["id"], sale)).status_code == 202
