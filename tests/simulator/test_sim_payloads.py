"""The pure builders benchmarks import: shapes, without a running app."""

from __future__ import annotations

import json

from madoguchi.simulator import payloads, signing
from madoguchi.simulator.delivery import encode

NUMBER = {
    "phone_number_id": "100000000000001",
    "display_phone_number": "+1 555 0100",
    "waba_id": "200000000000001",
}
PHONE_CUSTOMER = {"wa_id": "81901234567", "user_id": "JP.70211330012345", "name": "Taro"}
USERNAME_CUSTOMER = {"user_id": "US.13491208655302741918", "name": "Jane", "username": "jane.d"}


def test_message_webhook_for_a_customer_with_a_phone() -> None:
    message = payloads.inbound_message(
        PHONE_CUSTOMER, "text", payloads.text("hello"), timestamp=1_800_000_000
    )
    body = payloads.message_webhook(NUMBER, PHONE_CUSTOMER, message)

    assert body["object"] == "whatsapp_business_account"
    entry = body["entry"][0]
    assert entry["id"] == "200000000000001"
    change = entry["changes"][0]
    assert change["field"] == "messages"
    value = change["value"]
    assert value["messaging_product"] == "whatsapp"
    assert value["metadata"] == {
        "display_phone_number": "15550100",
        "phone_number_id": "100000000000001",
    }
    assert value["contacts"] == [
        {"profile": {"name": "Taro"}, "wa_id": "81901234567", "user_id": "JP.70211330012345"}
    ]
    msg = value["messages"][0]
    assert msg["from"] == "81901234567"
    assert msg["from_user_id"] == "JP.70211330012345"
    assert msg["timestamp"] == "1800000000"
    assert msg["type"] == "text" and msg["text"] == {"body": "hello"}
    assert msg["id"].startswith("wamid.HBgL")


def test_username_only_customer_has_no_phone_anywhere() -> None:
    message = payloads.inbound_message(USERNAME_CUSTOMER, "text", payloads.text("hi"))
    value = payloads.message_webhook(NUMBER, USERNAME_CUSTOMER, message)["entry"][0]["changes"][0][
        "value"
    ]
    assert value["contacts"][0] == {
        "profile": {"name": "Jane", "username": "jane.d"},
        "user_id": "US.13491208655302741918",
    }
    assert "from" not in value["messages"][0]
    assert value["messages"][0]["from_user_id"] == "US.13491208655302741918"


def test_message_objects() -> None:
    assert payloads.media("123", "audio/ogg; codecs=opus", "abc=", voice=True) == {
        "mime_type": "audio/ogg; codecs=opus",
        "sha256": "abc=",
        "id": "123",
        "voice": True,
    }
    assert payloads.reaction("wamid.X", None) == {"message_id": "wamid.X"}
    assert payloads.reaction("wamid.X", "👍") == {"message_id": "wamid.X", "emoji": "👍"}
    assert payloads.button_reply("yes", "Yes") == {
        "type": "button_reply",
        "button_reply": {"id": "yes", "title": "Yes"},
    }
    assert payloads.list_reply("r1", "Row", "More")["list_reply"]["description"] == "More"
    card = payloads.contact_card("Hanako Sato", phone="+81 80 1111 2222", wa_id="818011112222")
    assert card["name"]["formatted_name"] == "Hanako Sato"
    assert card["phones"][0]["wa_id"] == "818011112222"
    ref = payloads.referral()
    assert ref["source_type"] == "ad" and ref["ctwa_clid"]
    reply = payloads.inbound_message(
        PHONE_CUSTOMER, "request_welcome", context_=payloads.context("wamid.A", "15550100")
    )
    assert reply["type"] == "request_welcome" and "request_welcome" not in reply
    assert reply["context"] == {"from": "15550100", "id": "wamid.A"}


def test_status_webhook_with_pricing_and_errors() -> None:
    ok = payloads.status_webhook(
        NUMBER,
        "wamid.A",
        "delivered",
        PHONE_CUSTOMER,
        timestamp=1_800_000_000,
        pricing=payloads.pricing("MARKETING"),
    )
    status = ok["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert status == {
        "id": "wamid.A",
        "status": "delivered",
        "timestamp": "1800000000",
        "recipient_id": "81901234567",
        "recipient_user_id": "JP.70211330012345",
        "pricing": {
            "billable": True,
            "pricing_model": "PMP",
            "category": "marketing",
            "type": "regular",
        },
    }
    failed = payloads.status_webhook(
        NUMBER,
        "wamid.B",
        "failed",
        USERNAME_CUSTOMER,
        errors=[payloads.error(131026, "Message undeliverable")],
    )
    status = failed["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert "recipient_id" not in status
    assert status["errors"][0]["code"] == 131026
    assert status["errors"][0]["error_data"]["details"]


def test_template_status_webhook() -> None:
    body = payloads.template_status_webhook(
        "200000000000001",
        template_id="987654321",
        name="order_ready",
        language="en_US",
        event="REJECTED",
        reason="INVALID_FORMAT",
        category="UTILITY",
        time_=1_800_000_000,
    )
    entry = body["entry"][0]
    assert entry["time"] == 1_800_000_000
    change = entry["changes"][0]
    assert change["field"] == "message_template_status_update"
    assert change["value"] == {
        "event": "REJECTED",
        "message_template_id": 987654321,
        "message_template_name": "order_ready",
        "message_template_language": "en_US",
        "reason": "INVALID_FORMAT",
        "message_template_category": "UTILITY",
    }


def test_signature_over_the_exact_bytes() -> None:
    body = payloads.message_webhook(
        NUMBER,
        PHONE_CUSTOMER,
        payloads.inbound_message(PHONE_CUSTOMER, "text", payloads.text("こんにちは 👋")),
    )
    raw = encode(body)
    assert b"\\u3053" in raw  # non-ASCII escaped, as Meta sends it
    assert json.loads(raw) == body
    header = signing.signature(raw, "secret")
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert signing.verify(raw, "secret", header)
    assert not signing.verify(raw + b" ", "secret", header)
    assert not signing.verify(raw, "other", header)
    assert not signing.verify(raw, "secret", None)


def test_wamids_are_unique() -> None:
    ids = {payloads.new_wamid("81901234567") for _ in range(1000)}
    assert len(ids) == 1000
