"""``/webhooks/whatsapp`` through real HTTP on both databases: every fixture delivery
stored with its content, bad signatures and bodies refused with nothing stored,
duplicates and out-of-order statuses harmless."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import func, select

from madoguchi.services.channel.webhook_journal import list_rejected, retry_deliveries
from madoguchi.store.models import (
    AccountEventRecord,
    Conversation,
    Message,
    MessageStatusEvent,
    RejectedUpdateRecord,
    WebhookDelivery,
)
from tests.conftest import FIXTURES, fixture_payload, signed_headers
from tests.helpers import eventually

MESSAGE_FIXTURES = sorted(p.name for p in FIXTURES.glob("message_*.json"))


async def count(stack, model) -> int:
    async with stack.runtime.db.read() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def messages(stack) -> list[dict]:
    convs = (await stack.api("GET", "/api/v1/conversations")).json()
    out = []
    for conv in convs:
        out += (await stack.api("GET", f"/api/v1/conversations/{conv['id']}/messages")).json()
    return out


async def test_verification_handshake(stack):
    ok = await stack.client.get(
        "/webhooks/whatsapp",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": "test-verify-token",
            "hub.challenge": "1158201444",
        },
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    wrong = await stack.client.get(
        "/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"},
    )
    assert wrong.status_code == 403
    missing = await stack.client.get("/webhooks/whatsapp", params={"hub.mode": "subscribe"})
    assert missing.status_code == 400


@pytest.mark.parametrize("name", MESSAGE_FIXTURES)
async def test_every_message_type_is_stored_with_its_content(stack, name):
    payload = fixture_payload(name)
    response = await stack.post_webhook(payload)
    assert response.status_code == 200, response.text
    stored = await messages(stack)
    raw_messages = [
        m for e in payload["entry"] for c in e["changes"] for m in c["value"].get("messages", [])
    ]
    assert {m["wamid"] for m in stored} == {m["id"] for m in raw_messages}
    for raw in raw_messages:
        got = next(m for m in stored if m["wamid"] == raw["id"])
        expected_type = "unsupported" if raw["type"] == "unknown" else raw["type"]
        assert got["direction"] == "inbound" and got["type"] == expected_type
        assert got["status"] == "received"
        if raw["type"] in raw and raw["type"] not in ("contacts",):
            # the type's own object is kept as received
            assert got["content"] == raw[raw["type"]]
        if raw["type"] == "text":
            assert got["text"] == raw["text"]["body"]
        if raw.get("context", {}).get("id"):
            assert got["reply_to_wamid"] == raw["context"]["id"]
        if raw.get("context", {}).get("forwarded"):
            assert got["forwarded"] is True
        if raw.get("referral"):
            assert got["referral"] == raw["referral"]
        if raw.get("errors"):
            assert got["error_code"] == raw["errors"][0]["code"]
        if raw["type"] in ("image", "audio", "video", "document", "sticker"):
            assert got["media"]["status"] == "pending"
            assert got["media"]["kind"] == raw["type"]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("message_interactive_button_reply.json", "button_reply"),
        ("message_interactive_list_reply.json", "list_reply"),
        ("message_button.json", "button"),
        ("message_image.json", "caption"),
    ],
)
async def test_plain_text_rendering(stack, name, text):
    payload = fixture_payload(name)
    raw = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    assert (await stack.post_webhook(payload)).status_code == 200
    [got] = await messages(stack)
    expected = {
        "button_reply": lambda: raw["interactive"]["button_reply"]["title"],
        "list_reply": lambda: raw["interactive"]["list_reply"]["title"],
        "button": lambda: raw["button"]["text"],
        "caption": lambda: raw["image"]["caption"],
    }[text]()
    assert got["text"] == expected


async def test_reaction_removal_has_no_text(stack):
    await stack.post_webhook(fixture_payload("message_reaction.json"))
    await stack.post_webhook(fixture_payload("message_reaction_removed.json"))
    stored = await messages(stack)
    by_text = sorted((m["text"] or "") for m in stored)
    assert by_text[0] == "" and by_text[1] != ""


async def test_username_only_user_becomes_a_contact_without_phone(stack):
    assert (
        await stack.post_webhook(fixture_payload("message_username_only.json"))
    ).status_code == 200
    [conv] = (await stack.api("GET", "/api/v1/conversations")).json()
    assert conv["contact"]["wa_id"] is None
    assert conv["contact"]["user_id"] == "JP.80311440023456"
    assert conv["contact"]["username"]


async def test_multi_entry_delivery(stack):
    response = await stack.post_webhook(fixture_payload("multi_delivery.json"))
    assert response.status_code == 200
    delivery = await stack.delivery(response)
    assert delivery.state == "done" and delivery.messages_stored == 3
    assert await count(stack, Message) == 3
    # its template approval names a WABA this workspace does not have: kept, unrouted
    assert delivery.unrouted_count == 1
    assert await count(stack, AccountEventRecord) == 0


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Content-Type": "application/json"}, 401),
        ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, 403),
        ({"X-Hub-Signature-256": "md5=abc"}, 403),
        ({"X-Hub-Signature-256": "sha256=not-hex"}, 403),
    ],
)
async def test_bad_or_missing_signature_stores_nothing(stack, headers, status):
    body = json.dumps(fixture_payload("message_text.json")).encode()
    response = await stack.post_webhook(body, headers=headers)
    assert response.status_code == status
    assert "X-Hub-Signature-256" in response.json()["detail"]
    assert await count(stack, WebhookDelivery) == 0
    assert await count(stack, Message) == 0


async def test_signature_with_another_secret_is_refused(stack):
    body = json.dumps(fixture_payload("message_text.json")).encode()
    response = await stack.post_webhook(body, headers=signed_headers(body, "another-secret"))
    assert response.status_code == 403
    assert await count(stack, Message) == 0


async def test_signature_covers_exact_bytes(stack):
    body = json.dumps(fixture_payload("message_text.json")).encode()
    headers = signed_headers(body)
    response = await stack.post_webhook(body + b" ", headers=headers)
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[]", "must be an object"),
        (json.dumps({"object": "page", "entry": []}).encode(), "object"),
        (json.dumps({"object": "whatsapp_business_account"}).encode(), "entry"),
    ],
)
async def test_malformed_bodies_get_a_clear_4xx(stack, body, needle):
    response = await stack.post_webhook(body)
    assert response.status_code == 400
    assert needle in response.json()["detail"]
    assert await count(stack, WebhookDelivery) == 0


async def test_one_bad_update_is_kept_aside_and_the_rest_of_the_delivery_stored(stack):
    """Meta retries a refused delivery for days, then drops it with every update in it:
    once the signature holds, the delivery is acknowledged, what parses is stored and
    each update that does not is kept with its exact JSON and the reason."""
    payload = fixture_payload("multi_delivery.json")
    messages = payload["entry"][0]["changes"][0]["value"]["messages"]
    bad = {  # seen from Meta: an interactive message without its object, errors beside it
        "from": messages[0]["from"],
        "id": "wamid.BROKEN",
        "timestamp": messages[0]["timestamp"],
        "type": "interactive",
        "errors": [{"code": 131051, "title": "Message type unknown"}],
    }
    messages.append(bad)
    response = await stack.post_webhook(payload)
    assert response.status_code == 200, response.text
    [rejected] = response.json()["rejected"]
    assert rejected["path"].endswith(f"messages[{len(messages) - 1}]")
    assert "interactive" in rejected["reason"]
    assert await count(stack, Message) == len(messages) - 1
    async with stack.runtime.db.read() as session:
        [kept] = (await session.scalars(select(RejectedUpdateRecord))).all()
        row = await session.get(WebhookDelivery, response.json()["delivery_id"])
    assert json.loads(kept.raw) == bad
    assert "is required for a 'interactive' message" in kept.reason
    assert kept.delivery_id == row.id and row.state == "done"
    assert "1 update(s) rejected" in row.last_error

    # Retriable (after a parser fix): processed again, nothing stored twice.
    assert await retry_deliveries(stack.runtime.db, [row.id]) == [row.id]
    stack.runtime.processor.wake()
    async with asyncio.timeout(30):
        await stack.runtime.processor.wait_idle()
    assert await count(stack, Message) == len(messages) - 1
    assert [r.path for r in await list_rejected(stack.runtime.db, 10)] == [rejected["path"]]


async def test_a_deeply_nested_signed_body_is_a_clear_400(stack):
    depth = 100_000
    body = b'{"object": "whatsapp_business_account", "entry": ' + b"[" * depth + b"]" * depth
    body += b"}"
    response = await stack.post_webhook(body)
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


async def test_duplicate_delivery_changes_nothing(stack):
    payload = fixture_payload("multi_delivery.json")
    first = await stack.post_webhook(payload)
    second = await stack.post_webhook(payload)
    assert first.status_code == second.status_code == 200
    assert (await stack.delivery(second)).messages_stored == 0
    assert (await stack.delivery(second)).duplicates >= 3
    assert await count(stack, Message) == 3
    assert await count(stack, Conversation) == (await stack.delivery(first)).messages_stored - 1
    assert await count(stack, WebhookDelivery) == 2  # the raw log keeps both


async def test_unknown_number_is_acknowledged_and_kept_unrouted(stack):
    payload = fixture_payload("message_text.json")
    payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999"
    response = await stack.post_webhook(payload)
    assert response.status_code == 200 and (await stack.delivery(response)).unrouted_count == 1
    assert await count(stack, Message) == 0
    async with stack.runtime.db.read() as session:
        delivery = await session.scalar(select(WebhookDelivery))
    assert delivery.workspace_id is None and delivery.unrouted_count == 1


async def test_other_fields_are_stored_as_typed_events(stack):
    names = [
        "template_status_update.json",
        "template_quality_update.json",
        "phone_number_quality_update.json",
        "account_update.json",
        "user_id_update.json",
        "unknown_field.json",
    ]
    seen = []
    stack.runtime.bus.subscribe(None, lambda e: _collect(seen, e))
    for name in names:
        assert (await stack.post_webhook(fixture_payload(name))).status_code == 200
    async with stack.runtime.db.read() as session:
        kinds = set((await session.scalars(select(AccountEventRecord.kind))).all())
    assert {
        "TemplateStatusUpdate",
        "TemplateQualityUpdate",
        "PhoneNumberQualityUpdate",
        "AccountUpdate",
        "UserIdUpdate",
        "UnknownFieldEvent",
    } <= kinds

    # The bus hands events to subscribers in tasks of their own: wait for that one.
    async def template_event_seen():
        return "TemplateStatusUpdate" in {e.kind for e in seen if e.name == "account.event"}

    await eventually(template_event_seen)


async def _collect(into, event):
    into.append(event)


async def test_status_for_unknown_wamid_is_kept(stack):
    assert (await stack.post_webhook(fixture_payload("status_sent.json"))).status_code == 200
    async with stack.runtime.db.read() as session:
        record = await session.scalar(select(MessageStatusEvent))
    assert record.message_id is None and record.status == "sent"


async def test_the_acknowledgement_has_the_security_headers_and_a_json_body(stack):
    """Meta's POST is answered before the API's middleware: the answer still carries what
    every response carries."""
    body = json.dumps(fixture_payload("message_text.json")).encode()
    response = await stack.client.post(
        "/webhooks/whatsapp", content=body, headers=signed_headers(body)
    )
    assert response.status_code == 200 and response.json()["received"] == 1
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    refused = await stack.client.post(
        "/webhooks/whatsapp", content=body, headers=signed_headers(body, "another-secret")
    )
    assert refused.status_code == 403 and "does not match" in refused.json()["detail"]
    assert refused.headers["x-content-type-options"] == "nosniff"
