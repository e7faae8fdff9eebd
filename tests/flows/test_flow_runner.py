"""The flow runner through the real webhook endpoint, on SQLite and PostgreSQL: the
guide's flow, every widget's exits at run time, version pinning, restarts in the middle
of a Collect Input and after its timeout passed, the loop guard, and HTTP Request against
a local server (success, error, timeout)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import select

from madoguchi.domain.flows.examples import guide_flow
from madoguchi.services.access.tokens import create_token
from madoguchi.services.flows.runner import FLOW_TIMEOUT
from madoguchi.simulator import payloads
from madoguchi.store.models import FlowStep, Timer, User
from tests.conftest import PHONE_NUMBER_ID, ServedApp
from tests.flows.flow_kit import (
    NUMBER,
    QUESTION,
    WELCOME,
    close_stack,
    conversation_of,
    flow_stack,
    lifecycle,
    new_customer,
    queue_name,
    runs,
    says,
    texts,
    wait_replies,
    wait_run,
    wait_status,
)


@pytest.fixture
async def stack(db_url, tmp_path):
    s = await flow_stack(db_url, tmp_path)
    yield s
    await close_stack(s)


def start(first: str) -> dict:
    return {"id": "Start", "type": "start", "numbers": [PHONE_NUMBER_ID]}


def doc(*nodes: dict, edges: list[tuple[str, str, str]], variables: dict | None = None) -> dict:
    return {
        "variables": variables or {},
        "nodes": [start(nodes[0]["id"]), *nodes],
        "edges": [{"from": a, "exit": e, "to": b} for a, e, b in edges],
    }


# --------------------------------------------------------------------------- the guide


async def test_the_guides_flow_answers_asks_checks_and_routes(stack):
    aiko = new_customer("Aiko")
    await says(stack, aiko, "Hello!")
    conversation, sent = await wait_replies(stack, aiko, 2)
    assert texts(sent) == [WELCOME, QUESTION]
    assert conversation.status == "in_flow" and conversation.queue_id is None

    await says(stack, aiko, "1️⃣")
    conversation = await wait_status(stack, aiko, "queued")
    assert await queue_name(stack, conversation) == "Sales"
    assert await lifecycle(stack, conversation.id) == ["flow_started", "queued"]
    [run] = await runs(stack, conversation.id)
    assert (run.status, run.node_id, run.version) == ("routed", "Route_to_Sales", 1)
    assert run.variables["department"] == "1"
    assert run.variables["contact.name"] == "Aiko" and run.variables["message.text"] == "1️⃣"

    log = (await stack.api("GET", f"/api/v1/conversations/{conversation.id}/flow")).json()
    assert [(s["node"], s["result"]) for s in log[0]["steps"]] == [
        ("Start", "next"),
        ("Welcome", "next"),
        ("Ask_Department", "waiting"),
        ("Ask_Department", "success"),
        ("Check_Department", "sales"),
        ("Route_to_Sales", "routed"),
    ]
    assert log[0]["flow"] == "Guide" and log[0]["status"] == "routed"

    # Support, by another customer; a message after routing goes to the agent, not the flow.
    ben = new_customer("Ben")
    await says(stack, ben, "hi")
    await wait_replies(stack, ben, 2)
    await says(stack, ben, "2")
    conversation = await wait_status(stack, ben, "queued")
    assert await queue_name(stack, conversation) == "Support"
    await says(stack, ben, "still there?")
    await asyncio.sleep(0.3)
    _, sent = await wait_replies(stack, ben, 2)
    assert len(sent) == 2
    assert (await conversation_of(stack, ben)).status == "queued"


async def test_invalid_answers_are_asked_again_then_take_the_invalid_exit(stack):
    cust = new_customer()
    await says(stack, cust, "hi")
    await wait_replies(stack, cust, 2)
    await says(stack, cust, "3")
    _, sent = await wait_replies(stack, cust, 3)
    assert texts(sent)[2].startswith("Sorry, I didn't get that.")
    await says(stack, cust, "what?")
    await wait_replies(stack, cust, 4)
    await says(stack, cust, "I want a human")
    conversation = await wait_status(stack, cust, "queued")
    assert await queue_name(stack, conversation) == "Support"
    async with stack.runtime.db.read() as session:
        results = (
            await session.scalars(
                select(FlowStep.result)
                .where(
                    FlowStep.conversation_id == conversation.id,
                    FlowStep.node_id == "Ask_Department",
                )
                .order_by(FlowStep.id)
            )
        ).all()
    assert results == ["waiting", "retry", "retry", "invalid"]


async def test_a_number_without_a_flow_still_routes_to_its_default_queue(db_url, tmp_path):
    s = await flow_stack(db_url, tmp_path, flows=[], default_queue="Support")
    try:
        cust = new_customer()
        await says(s, cust, "hi")
        conversation = await wait_status(s, cust, "queued")
        assert await runs(s, conversation.id) == []
    finally:
        await close_stack(s)


# --------------------------------------------------------------------------- versions


async def test_conversations_keep_the_version_they_started_on(stack):
    early = new_customer("Early")
    await says(stack, early, "hi")
    await wait_replies(stack, early, 2)

    [flow] = (await stack.api("GET", "/api/v1/flows")).json()
    v2 = guide_flow([PHONE_NUMBER_ID])
    v2["nodes"][1]["text"] = "Welcome to version 2!"
    v2["nodes"][3]["rules"][0]["value"] = "9"  # "1" no longer means Sales
    saved = await stack.api("PUT", f"/api/v1/flows/{flow['id']}", json={"definition": v2})
    assert saved.status_code == 200, saved.text
    published = await stack.api("POST", f"/api/v1/flows/{flow['id']}/publish")
    assert published.status_code == 201 and published.json()["version"] == 2

    late = new_customer("Late")
    await says(stack, late, "hi")
    _, sent = await wait_replies(stack, late, 2)
    assert texts(sent)[0] == "Welcome to version 2!"

    await says(stack, early, "1")
    await says(stack, late, "1")
    early_conv = await wait_status(stack, early, "queued")
    late_conv = await wait_status(stack, late, "queued")
    assert await queue_name(stack, early_conv) == "Sales"  # version 1's rule
    assert await queue_name(stack, late_conv) == "Support"  # version 2: "1" is not 9 → else
    assert [r.version for r in await runs(stack, early_conv.id)] == [1]
    assert [r.version for r in await runs(stack, late_conv.id)] == [2]


# --------------------------------------------------------------------------- restarts


async def test_a_restart_in_the_middle_of_a_collect_input_continues_there(db_url, tmp_path):
    first = await flow_stack(db_url, tmp_path)
    cust = new_customer()
    await says(first, cust, "hi")
    conversation, _ = await wait_replies(first, cust, 2)
    await wait_run(first, conversation.id, "waiting")
    await close_stack(first)  # stops the runtime, as a restart would

    second = await flow_stack(db_url, tmp_path)
    try:
        await says(second, cust, "2")
        conversation = await wait_status(second, cust, "queued")
        assert await queue_name(second, conversation) == "Support"
        [run] = await runs(second, conversation.id)
        assert run.status == "routed" and run.variables["department"] == "2"
    finally:
        await close_stack(second)


async def test_a_collect_input_timeout_fires_after_a_restart(db_url, tmp_path):
    first = await flow_stack(db_url, tmp_path)
    cust = new_customer()
    await says(first, cust, "hi")
    conversation, _ = await wait_replies(first, cust, 2)
    run = await wait_run(first, conversation.id, "waiting")
    assert run.wait_until is not None
    async with first.runtime.db.read() as session:
        timer = await session.scalar(
            select(Timer).where(Timer.kind == FLOW_TIMEOUT, Timer.ref_id == run.id)
        )
    assert timer.state == "pending" and timer.due_at == run.wait_until
    await close_stack(first)

    second = await flow_stack(db_url, tmp_path)
    try:
        later = datetime.now(UTC) + timedelta(seconds=901)
        assert await second.runtime.timers.fire_due(now=later) == 1
        conversation = await wait_status(second, cust, "queued")
        assert await queue_name(second, conversation) == "Support"
        async with second.runtime.db.read() as session:
            steps = (
                await session.scalars(
                    select(FlowStep.result)
                    .where(FlowStep.conversation_id == conversation.id)
                    .order_by(FlowStep.id)
                )
            ).all()
        assert steps[-2:] == ["timeout", "routed"]
        # A late answer changes nothing: the flow is over.
        await says(second, cust, "1")
        await asyncio.sleep(0.3)
        assert (await conversation_of(second, cust)).queue_id == conversation.queue_id
    finally:
        await close_stack(second)


async def test_an_answer_cancels_the_timeout(stack):
    cust = new_customer()
    await says(stack, cust, "hi")
    conversation, _ = await wait_replies(stack, cust, 2)
    run = await wait_run(stack, conversation.id, "waiting")
    await says(stack, cust, "1")
    await wait_status(stack, cust, "queued")
    async with stack.runtime.db.read() as session:
        timer = await session.scalar(
            select(Timer).where(Timer.kind == FLOW_TIMEOUT, Timer.ref_id == run.id)
        )
    assert timer.state == "cancelled"
    assert await stack.runtime.timers.fire_due(now=datetime.now(UTC) + timedelta(hours=2)) == 0


# --------------------------------------------------------------------------- widgets


async def test_business_hours_closed_then_end_closes_the_conversation(db_url, tmp_path):
    definition = doc(
        {"id": "Hours", "type": "business_hours", "queue": "Night"},
        {"id": "Open", "type": "route_to", "queue": "Night"},
        {"id": "Closed", "type": "end", "message": "We are closed, {{contact.name}}. Bye!"},
        edges=[
            ("Start", "next", "Hours"),
            ("Hours", "open", "Open"),
            ("Hours", "closed", "Closed"),
        ],
    )
    s = await flow_stack(db_url, tmp_path, flows=[{"name": "Hours", "definition": definition}])
    try:
        cust = new_customer("Kenji")
        await says(s, cust, "hi")
        conversation = await wait_status(s, cust, "closed")
        assert conversation.closed_reason == "flow Hours ended"
        _, sent = await wait_replies(s, cust, 1)
        assert texts(sent) == ["We are closed, Kenji. Bye!"]
        assert await lifecycle(s, conversation.id) == ["flow_started", "closed"]
        [run] = await runs(s, conversation.id)
        assert run.status == "ended"
    finally:
        await close_stack(s)


async def test_buttons_set_variable_condition_and_route_to_an_agent(db_url, tmp_path):
    definition = doc(
        {
            "id": "Ask",
            "type": "collect_input",
            "prompt": "Hi {{contact.name}}! What about?",
            "input": "buttons",
            "variable": "topic",
            "choices": [{"id": "bill", "title": "Billing"}, {"id": "tech", "title": "Technical"}],
        },
        {
            "id": "Mark",
            "type": "set_variable",
            "assignments": [{"variable": "vip", "value": "yes"}],
        },
        {
            "id": "Check",
            "type": "condition",
            "rules": [{"variable": "topic", "op": "equals", "value": "bill", "exit": "billing"}],
        },
        {
            "id": "To_Aiko",
            "type": "route_to",
            "target": "agent",
            "agent": "aiko@acme.test",
            "queue": "Sales",
            "priority": 7,
        },
        {"id": "To_Support", "type": "route_to", "queue": "Support"},
        edges=[
            ("Start", "next", "Ask"),
            ("Ask", "success", "Mark"),
            ("Ask", "invalid", "To_Support"),
            ("Mark", "next", "Check"),
            ("Check", "billing", "To_Aiko"),
            ("Check", "else", "To_Support"),
        ],
    )
    s = await flow_stack(db_url, tmp_path, flows=[{"name": "Buttons", "definition": definition}])
    try:
        async with s.runtime.db.write() as session:
            aiko = await session.scalar(select(User).where(User.email == "aiko@acme.test"))
            token = await create_token(session, aiko.workspace_id, "agent", "aiko", aiko.id)
        presence = await s.client.put(
            "/api/v1/agents/me/presence",
            json={"status": "available"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert presence.status_code == 200, presence.text
        cust = new_customer("Mina")
        await says(s, cust, "hello")
        _, sent = await wait_replies(s, cust, 1)
        assert sent[0]["interactive"]["type"] == "button"
        assert sent[0]["interactive"]["body"]["text"] == "Hi Mina! What about?"
        await says(s, cust, interactive=payloads.button_reply("bill", "Billing"))
        conversation = await wait_status(s, cust, "offered")
        assert conversation.offered_agent_id == aiko.id
        assert conversation.priority == 7
        assert await queue_name(s, conversation) == "Sales"
        [run] = await runs(s, conversation.id)
        assert run.variables["topic"] == "bill" and run.variables["vip"] == "yes"
    finally:
        await close_stack(s)


async def test_taking_a_conversation_out_of_its_flow_stops_the_run(stack):
    cust = new_customer()
    await says(stack, cust, "hi")
    conversation, _ = await wait_replies(stack, cust, 2)
    queues = {q["name"]: q["id"] for q in (await stack.api("GET", "/api/v1/queues")).json()}
    moved = await stack.api(
        "POST",
        f"/api/v1/conversations/{conversation.id}/transfer",
        json={"queue_id": queues["Support"]},
    )
    assert moved.status_code == 200, moved.text
    run = await wait_run(stack, conversation.id, "interrupted")
    assert run.wait_kind is None
    await says(stack, cust, "1")  # now for the agent, not for the flow
    await asyncio.sleep(0.3)
    assert len((await wait_replies(stack, cust, 2))[1]) == 2
    assert (await conversation_of(stack, cust)).status == "queued"


# --------------------------------------------------------------------------- loop guard


async def test_flows_that_route_to_each_other_forever_are_stopped(db_url, tmp_path):
    ping = doc(
        {"id": "Hop", "type": "route_to", "target": "flow", "flow": "Pong"},
        edges=[("Start", "next", "Hop")],
    )
    pong = {
        "nodes": [
            {"id": "Start", "type": "start", "callable": True},
            {"id": "Hop", "type": "route_to", "target": "flow", "flow": "Ping"},
        ],
        "edges": [{"from": "Start", "exit": "next", "to": "Hop"}],
    }
    s = await flow_stack(
        db_url,
        tmp_path,
        flows=[{"name": "Ping", "definition": ping}, {"name": "Pong", "definition": pong}],
        default_queue="Support",
    )
    try:
        cust = new_customer()
        await says(s, cust, "hi")
        conversation = await wait_status(s, cust, "queued")
        assert await queue_name(s, conversation) == "Support"  # the number's default queue
        found = await runs(s, conversation.id)
        assert found[-1].status == "failed" and "loops" in found[-1].error
        assert {r.status for r in found[:-1]} == {"handed_off"}
        assert len(found) <= 60
        assert await lifecycle(s, conversation.id) == ["flow_started", "flow_failed", "queued"]
    finally:
        await close_stack(s)


# --------------------------------------------------------------------------- HTTP Request


def order_api() -> FastAPI:
    api = FastAPI()

    @api.get("/orders/{order}")
    async def order(order: str):
        if order == "E500":
            return JSONResponse({"error": "database down"}, status_code=500)
        if order == "SLOW":
            await asyncio.sleep(3)
        return {"order": {"id": order, "status": "shipped", "items": [{"name": "Green tea"}]}}

    return api


async def test_http_request_success_error_and_timeout(db_url, tmp_path):
    server = await ServedApp(order_api()).start()
    definition = doc(
        {
            "id": "Ask",
            "type": "collect_input",
            "prompt": "Your order number?",
            "variable": "order",
            "validation": "regex",
            "pattern": "[A-Z0-9]{2,8}",
        },
        {
            "id": "Lookup",
            "type": "http_request",
            "url": server.url + "/orders/{{order}}",
            "headers": {"X-Customer": "{{contact.wa_id}}"},
            "timeout_seconds": 0.5,
            "map": {"status": "order.status", "first_item": "order.items[0].name"},
        },
        {
            "id": "Found",
            "type": "send_media",
            "text": "Order {{order}} ({{first_item}}) is {{status}}.",
        },
        {"id": "Done", "type": "end"},
        {
            "id": "Sorry",
            "type": "send_media",
            "text": "Sorry, we could not check ({{http.error}}).",
        },
        {"id": "Human", "type": "route_to", "queue": "Support"},
        edges=[
            ("Start", "next", "Ask"),
            ("Ask", "success", "Lookup"),
            ("Ask", "invalid", "Human"),
            ("Lookup", "success", "Found"),
            ("Lookup", "failure", "Sorry"),
            ("Found", "next", "Done"),
            ("Sorry", "next", "Human"),
        ],
    )
    s = await flow_stack(db_url, tmp_path, flows=[{"name": "Orders", "definition": definition}])
    try:
        ok, broken, slow = new_customer(), new_customer(), new_customer()
        for cust in (ok, broken, slow):
            await says(s, cust, "hi")
            await wait_replies(s, cust, 1)
        await says(s, ok, "A7")
        await says(s, broken, "E500")
        await says(s, slow, "SLOW")

        _, sent = await wait_replies(s, ok, 2)
        assert texts(sent)[1] == "Order A7 (Green tea) is shipped."
        await wait_status(s, ok, "closed")

        _, sent = await wait_replies(s, broken, 2)
        assert texts(sent)[1] == "Sorry, we could not check (HTTP 500)."
        await wait_status(s, broken, "queued")

        _, sent = await wait_replies(s, slow, 2)
        assert texts(sent)[1] == "Sorry, we could not check (no answer within 0.5 s)."
        conversation = await wait_status(s, slow, "queued")
        async with s.runtime.db.read() as session:
            step = await session.scalar(
                select(FlowStep).where(
                    FlowStep.conversation_id == conversation.id, FlowStep.node_id == "Lookup"
                )
            )
            pending = (
                await session.scalars(
                    select(Timer).where(Timer.kind == "flow_http", Timer.state == "pending")
                )
            ).all()
        assert step.result == "failure" and step.detail["error"] == "no answer within 0.5 s"
        assert pending == []  # every in-flight guard was cancelled by its answer
    finally:
        await close_stack(s)
        await server.stop()


async def test_an_http_request_lost_in_a_restart_is_sent_again(db_url, tmp_path):
    calls = []
    api = FastAPI()

    @api.get("/ping")
    async def ping():
        calls.append(1)
        return {"ok": True}

    server = await ServedApp(api).start()
    definition = doc(
        {
            "id": "Call",
            "type": "http_request",
            "url": server.url + "/ping",
            "timeout_seconds": 30,
            "map": {"ok": "ok"},
        },
        {"id": "Yes", "type": "route_to", "queue": "Sales"},
        {"id": "No", "type": "route_to", "queue": "Support"},
        edges=[("Start", "next", "Call"), ("Call", "success", "Yes"), ("Call", "failure", "No")],
    )
    first = await flow_stack(db_url, tmp_path, flows=[{"name": "Ping", "definition": definition}])
    # The process dies right after committing "waiting for the HTTP answer".
    first.runtime.flows._chain_http = _never  # type: ignore[method-assign]
    cust = new_customer()
    await says(first, cust, "hi")
    conversation = await wait_status(first, cust, "in_flow")
    run = await wait_run(first, conversation.id, "waiting")
    assert run.wait_kind == "http" and calls == []
    await close_stack(first)

    second = await flow_stack(db_url, tmp_path, flows=[{"name": "Ping", "definition": definition}])
    try:
        later = datetime.now(UTC) + timedelta(seconds=61)
        assert await second.runtime.timers.fire_due(now=later) == 1
        conversation = await wait_status(second, cust, "queued")
        assert await queue_name(second, conversation) == "Sales"
        assert len(calls) == 1
        async with second.runtime.db.read() as session:
            guards = (
                await session.scalars(select(Timer.state).where(Timer.kind == "flow_http"))
            ).all()
        assert sorted(guards) == ["cancelled", "fired"]  # the retry had its own guard
    finally:
        await close_stack(second)
        await server.stop()


async def _never(*args, **kwargs):
    return None


async def test_the_japanese_guide_and_what_the_start_exposes(db_url, tmp_path):
    ja = guide_flow([PHONE_NUMBER_ID], language="ja")
    ja["nodes"][1]["text"] = (
        "{{contact.name}}様、{{message.text}}とのこと。広告「{{referral.headline | なし}}」"
        "（{{referral.source_type}}）から。"
    )
    s = await flow_stack(db_url, tmp_path, flows=[{"name": "Japanese", "definition": ja}])
    try:
        cust = new_customer("花子")
        message = payloads.inbound_message(
            cust,
            "text",
            payloads.text("注文について"),
            referral_=payloads.referral(headline="秋のセール"),
        )
        response = await s.post_webhook(payloads.message_webhook(NUMBER, cust, message))
        assert response.status_code == 200
        _, sent = await wait_replies(s, cust, 2)
        assert texts(sent) == [
            "花子様、注文についてとのこと。広告「秋のセール」（ad）から。",
            "営業 🧾 は 1️⃣ を、サポート 🙋🏼‍♂️ は 2️⃣ を押してください",
        ]
        await says(s, cust, "２")  # full width
        conversation = await wait_status(s, cust, "queued")
        assert await queue_name(s, conversation) == "Support"
        [run] = await runs(s, conversation.id)
        assert run.variables["contact.wa_id"] == cust["wa_id"]
        assert run.variables["number.phone_number_id"] == PHONE_NUMBER_ID
        assert run.variables["flow.name"] == "Japanese" and run.variables["flow.version"] == 1
    finally:
        await close_stack(s)


async def test_a_reaction_to_the_question_is_not_an_answer(stack):
    cust = new_customer()
    await says(stack, cust, "hi")
    conversation, _ = await wait_replies(stack, cust, 2)
    await says(stack, cust, reaction=payloads.reaction("wamid.question", "👍"))
    await asyncio.sleep(0.3)
    [run] = await runs(stack, conversation.id)
    assert (run.status, run.retries, run.wait_seq) == ("waiting", 0, 1)
    await says(stack, cust, "1")
    assert await queue_name(stack, await wait_status(stack, cust, "queued")) == "Sales"
