"""Customers' side: every message type reaches the webhook correctly shaped and signed."""

from __future__ import annotations

import asyncio
import base64
import hashlib

import pytest

from tests.helpers import reached_the_product

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5E"
    "rkJggg=="
)
WEBP_ANIMATED = b"RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x02ANIM" + b"\x00" * 64


def _value(received) -> dict:
    return received.body["entry"][0]["changes"][0]["value"]


MEDIA_CASES = [
    ("image", {"mime_type": "image/png", "caption": "my receipt"}, PNG),
    ("video", {"mime_type": "video/mp4", "caption": "unboxing"}, b"\x00\x00\x00\x18ftypmp42"),
    ("audio", {"mime_type": "audio/ogg", "voice": True}, b"OggS\x00voice"),
    (
        "document",
        {"mime_type": "application/pdf", "filename": "invoice.pdf", "caption": "invoice"},
        b"%PDF-1.4 fake",
    ),
    ("sticker", {"mime_type": "image/webp"}, WEBP_ANIMATED),
]


async def test_text_message_is_signed_and_shaped(sim) -> None:
    customer = await sim.new_customer(
        wa_id="+81 90-1234-5678", name="Taro Yamada", username="taro.y"
    )
    assert customer["user_id"].startswith("JP.") and customer["country"] == "JP"
    result = await sim.says(customer, {"type": "text", "text": "こんにちは"})
    assert result["delivered"] is True and result["status_code"] == 200

    received = sim.receiver.delivery_of(result["wamid"])
    assert received.signature_ok
    assert received.signature.startswith("sha256=")
    assert received.body["object"] == "whatsapp_business_account"
    assert received.body["entry"][0]["id"] == sim.number.waba_id
    value = _value(received)
    assert value["messaging_product"] == "whatsapp"
    assert value["metadata"] == {
        "display_phone_number": "15550100",
        "phone_number_id": sim.number.phone_number_id,
    }
    assert value["contacts"] == [
        {
            "profile": {"name": "Taro Yamada", "username": "taro.y"},
            "wa_id": "819012345678",
            "user_id": customer["user_id"],
        }
    ]
    msg = value["messages"][0]
    assert msg["id"] == result["wamid"] and msg["id"].startswith("wamid.")
    assert msg["from"] == "819012345678" and msg["from_user_id"] == customer["user_id"]
    assert msg["timestamp"].isdigit()
    assert msg["type"] == "text" and msg["text"] == {"body": "こんにちは"}


async def test_username_only_customer_has_no_wa_id_or_from(sim) -> None:
    customer = await sim.new_customer(username="@jane.d", name="Jane", country="us")
    assert customer["wa_id"] is None and customer["user_id"].startswith("US.")
    result = await sim.says(customer, {"type": "text", "text": "hello"})
    value = _value(sim.receiver.delivery_of(result["wamid"]))
    assert value["contacts"] == [
        {"profile": {"name": "Jane", "username": "jane.d"}, "user_id": customer["user_id"]}
    ]
    msg = value["messages"][0]
    assert "from" not in msg and msg["from_user_id"] == customer["user_id"]


async def test_chosen_bsuid_and_lookup_by_phone_or_username(sim) -> None:
    customer = await sim.new_customer(wa_id="447700900123", user_id="GB.12345ABC")
    assert customer["user_id"] == "GB.12345ABC"
    for key in ("GB.12345ABC", "447700900123", "+447700900123"):
        response = await sim.http.get(f"/_sim/customers/{key}")
        assert response.json()["user_id"] == "GB.12345ABC"
    again = await sim.new_customer(wa_id="447700900123")
    assert again["user_id"] == "GB.12345ABC"  # same person, not a second customer
    bad = await sim.http.post("/_sim/customers", json={"name": "nobody"})
    assert bad.status_code == 422
    listed = (await sim.http.get("/_sim/customers")).json()["customers"]
    assert [c["user_id"] for c in listed] == ["GB.12345ABC"]


@pytest.mark.parametrize(("kind", "extra", "data"), MEDIA_CASES, ids=[c[0] for c in MEDIA_CASES])
async def test_media_messages_carry_a_downloadable_media_id(sim, kind, extra, data) -> None:
    customer = await sim.new_customer()
    spec = {"type": kind, "file_b64": base64.b64encode(data).decode(), **extra}
    result = await sim.says(customer, spec)
    assert result["delivered"]
    received = sim.receiver.delivery_of(result["wamid"])
    assert received.signature_ok
    msg = _value(received)["messages"][0]
    assert msg["type"] == kind
    obj = msg[kind]
    assert obj["sha256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert obj["mime_type"].startswith(extra["mime_type"])
    if "caption" in extra:
        assert obj["caption"] == extra["caption"]
    if kind == "document":
        assert obj["filename"] == "invoice.pdf"
    if kind == "audio":
        assert obj["voice"] is True and obj["mime_type"] == "audio/ogg; codecs=opus"
    if kind == "sticker":
        assert obj["animated"] is True

    info = await sim.http.get(f"/{sim.graph}/{obj['id']}", headers=sim.auth())
    assert info.status_code == 200
    assert info.json()["sha256"] == hashlib.sha256(data).hexdigest()
    download = await sim.http.get(info.json()["url"], headers=sim.auth())
    assert download.status_code == 200 and download.content == data


async def test_location_contacts_welcome_and_unsupported(sim) -> None:
    customer = await sim.new_customer()
    loc = await sim.says(
        customer,
        {"type": "location", "latitude": 35.6812, "longitude": 139.7671, "name": "Tokyo Station"},
    )
    msg = _value(sim.receiver.delivery_of(loc["wamid"]))["messages"][0]
    assert msg["location"] == {"latitude": 35.6812, "longitude": 139.7671, "name": "Tokyo Station"}

    card = await sim.says(
        customer, {"type": "contacts", "name": "Hanako Sato", "phone": "+81 80 1111 2222"}
    )
    msg = _value(sim.receiver.delivery_of(card["wamid"]))["messages"][0]
    assert msg["contacts"][0]["name"]["formatted_name"] == "Hanako Sato"
    assert msg["contacts"][0]["phones"][0]["phone"] == "+81 80 1111 2222"

    welcome = await sim.says(customer, {"type": "request_welcome"})
    msg = _value(sim.receiver.delivery_of(welcome["wamid"]))["messages"][0]
    assert msg["type"] == "request_welcome"

    odd = await sim.says(customer, {"type": "unsupported"})
    msg = _value(sim.receiver.delivery_of(odd["wamid"]))["messages"][0]
    assert msg["type"] == "unsupported" and msg["errors"][0]["code"] == 131051


async def test_reply_reaction_and_its_removal(sim) -> None:
    customer = await sim.new_customer()
    first = await sim.says(customer, {"type": "text", "text": "first"})
    reply = await sim.says(
        customer, {"type": "text", "text": "about that", "reply_to": first["wamid"]}
    )
    msg = _value(sim.receiver.delivery_of(reply["wamid"]))["messages"][0]
    assert msg["context"] == {"from": customer["wa_id"], "id": first["wamid"]}

    business = await sim.send_ok(
        {"to": customer["wa_id"], "type": "text", "text": {"body": "How can we help?"}}
    )
    reacted = await sim.says(
        customer, {"type": "reaction", "message_wamid": business, "emoji": "👍"}
    )
    msg = _value(sim.receiver.delivery_of(reacted["wamid"]))["messages"][0]
    assert msg["type"] == "reaction"
    assert msg["reaction"] == {"message_id": business, "emoji": "👍"}
    removed = await sim.says(customer, {"type": "reaction", "message_wamid": business, "emoji": ""})
    msg = _value(sim.receiver.delivery_of(removed["wamid"]))["messages"][0]
    assert msg["reaction"] == {"message_id": business}

    bad = await sim.http.post(
        f"/_sim/customers/{customer['user_id']}/messages",
        json={"type": "reaction", "message_wamid": "wamid.nope", "emoji": "👍"},
    )
    assert bad.status_code == 422


async def test_referral_from_an_ad(sim) -> None:
    customer = await sim.new_customer()
    result = await sim.says(
        customer,
        {"type": "text", "text": "Is this still on sale?", "referral": {"headline": "Spring sale"}},
    )
    msg = _value(sim.receiver.delivery_of(result["wamid"]))["messages"][0]
    assert msg["referral"]["source_type"] == "ad"
    assert msg["referral"]["headline"] == "Spring sale"
    assert msg["referral"]["ctwa_clid"]
    # the free entry point window makes business replies free
    wamid = await sim.send_ok({"to": customer["wa_id"], "type": "text", "text": {"body": "Yes!"}})
    await sim.statuses_reach(wamid, "sent")
    sent = sim.receiver.statuses(wamid)[0]
    assert sent["pricing"]["type"] == "free_entry_point"
    assert sent["pricing"]["billable"] is False
    assert sent["conversation"]["origin"]["type"] == "referral_conversion"


async def test_taps_on_buttons_lists_and_template_quick_replies(sim) -> None:
    customer = await sim.new_customer()
    await sim.says(customer, {"type": "text", "text": "hi"})
    buttons = await sim.send_ok(
        {
            "to": customer["wa_id"],
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": "Sales or support?"},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": "sales", "title": "Sales"}},
                        {"type": "reply", "reply": {"id": "support", "title": "Support"}},
                    ]
                },
            },
        }
    )
    tap = await sim.says(
        customer, {"type": "button_reply", "message_wamid": buttons, "button_id": "support"}
    )
    msg = _value(sim.receiver.delivery_of(tap["wamid"]))["messages"][0]
    assert msg["type"] == "interactive"
    assert msg["interactive"] == {
        "type": "button_reply",
        "button_reply": {"id": "support", "title": "Support"},
    }
    assert msg["context"] == {"from": "15550100", "id": buttons}

    menu = await sim.send_ok(
        {
            "to": customer["wa_id"],
            "type": "interactive",
            "interactive": {
                "type": "list",
                "body": {"text": "Pick one"},
                "action": {
                    "button": "Menu",
                    "sections": [
                        {
                            "title": "Help",
                            "rows": [
                                {
                                    "id": "billing",
                                    "title": "Billing",
                                    "description": "Invoices and payments",
                                },
                                {"id": "other", "title": "Other"},
                            ],
                        }
                    ],
                },
            },
        }
    )
    row = await sim.says(
        customer, {"type": "list_reply", "message_wamid": menu, "row_id": "billing"}
    )
    msg = _value(sim.receiver.delivery_of(row["wamid"]))["messages"][0]
    assert msg["interactive"]["list_reply"] == {
        "id": "billing",
        "title": "Billing",
        "description": "Invoices and payments",
    }

    template = await sim.send_ok(
        {
            "to": customer["wa_id"],
            "type": "template",
            "template": {
                "name": "order_ready",
                "language": {"code": "en_US"},
                "components": [
                    {"type": "header", "parameters": [{"type": "text", "text": "A-7"}]},
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "text": "Taro"},
                            {"type": "text", "text": "A-7"},
                        ],
                    },
                    {
                        "type": "button",
                        "sub_type": "quick_reply",
                        "index": "0",
                        "parameters": [{"type": "payload", "payload": "TRACK_A7"}],
                    },
                    {
                        "type": "button",
                        "sub_type": "url",
                        "index": "2",
                        "parameters": [{"type": "text", "text": "A-7"}],
                    },
                ],
            },
        }
    )
    quick = await sim.says(customer, {"type": "button", "message_wamid": template, "index": 0})
    msg = _value(sim.receiver.delivery_of(quick["wamid"]))["messages"][0]
    assert msg["type"] == "button"
    assert msg["button"] == {"payload": "TRACK_A7", "text": "Track it"}
    assert msg["context"]["id"] == template
    other = await sim.says(
        customer, {"type": "button", "message_wamid": template, "text": "Stop updates"}
    )
    msg = _value(sim.receiver.delivery_of(other["wamid"]))["messages"][0]
    assert msg["button"] == {"payload": "Stop updates", "text": "Stop updates"}

    wrong = await sim.http.post(
        f"/_sim/customers/{customer['user_id']}/messages",
        json={"type": "button_reply", "message_wamid": menu, "button_id": "x"},
    )
    assert wrong.status_code == 422


async def test_a_test_waits_for_the_retry_that_delivers_a_customers_message(sim) -> None:
    """The first attempt failed (as one timing out on a busy machine would): the
    suite's ``reached_the_product`` waits for the retry instead of failing."""
    customer = await sim.new_customer()
    sim.receiver.answers.extend([503])
    said = await sim.says(customer, {"type": "text", "text": "hello?"})
    assert said["delivered"] is False
    assert await reached_the_product(sim.http, said) is said
    answered = [
        d.answered
        for d in sim.receiver.deliveries
        if _value(d).get("messages", [{}])[0].get("id") == said["wamid"]
    ]
    assert answered == [503, 200]


async def test_retry_when_the_receiver_fails_then_recovers(sim) -> None:
    customer = await sim.new_customer()
    sim.receiver.answers.extend([500, 503])
    result = await sim.says(customer, {"type": "text", "text": "are you there?"})
    assert result["delivered"] is False and result["status_code"] == 500

    def attempts() -> list:
        return [
            d
            for d in sim.receiver.deliveries
            if d.body["entry"][0]["changes"][0]["value"].get("messages", [{}])[0].get("id")
            == result["wamid"]
        ]

    got = await sim.wait_for(lambda: len(attempts()) == 3 and attempts())
    assert [d.answered for d in got] == [500, 503, 200]
    assert len({d.raw for d in got}) == 1  # the same bytes every time
    log = (await sim.http.get("/_sim/deliveries", params={"kind": "message"})).json()
    entry = next(d for d in log["deliveries"] if d["id"] == result["delivery_id"])
    assert entry["state"] == "delivered"
    assert [a["status_code"] for a in entry["attempts"]] == [500, 503, 200]
    thread = await sim.thread(customer)
    assert thread["messages"][0]["status"] == "delivered"  # the customer's double tick


async def test_gives_up_after_max_attempts(sim) -> None:
    customer = await sim.new_customer()
    sim.receiver.answers.extend([500] * sim.config.delivery_max_attempts)
    result = await sim.says(customer, {"type": "text", "text": "hello?"})

    async def state() -> str:
        log = (await sim.http.get("/_sim/deliveries")).json()["deliveries"]
        return next(d for d in log if d["id"] == result["delivery_id"])["state"]

    for _ in range(200):
        if await state() == "gave_up":
            break
        await asyncio.sleep(0.02)
    assert await state() == "gave_up"
    assert len(sim.receiver.deliveries) == sim.config.delivery_max_attempts


async def test_redeliver_sends_a_duplicate(sim) -> None:
    customer = await sim.new_customer()
    result = await sim.says(customer, {"type": "text", "text": "once"})
    response = await sim.http.post(f"/_sim/deliveries/{result['delivery_id']}/redeliver")
    assert response.status_code == 200 and response.json()["state"] == "delivered"
    copies = [
        d
        for d in sim.receiver.deliveries
        if d.body["entry"][0]["changes"][0]["value"]["messages"][0]["id"] == result["wamid"]
    ]
    assert len(copies) == 2 and copies[0].raw == copies[1].raw


async def test_webhook_verification_handshake(sim) -> None:
    response = await sim.http.post("/_sim/webhook/verify")
    assert response.json()["ok"] is True


async def test_unknown_customer_and_number(sim) -> None:
    assert (await sim.http.get("/_sim/customers/JP.000")).status_code == 404
    customer = await sim.new_customer()
    response = await sim.http.post(
        f"/_sim/customers/{customer['user_id']}/messages",
        json={"type": "text", "text": "x", "phone_number_id": "999"},
    )
    assert response.status_code == 404
    response = await sim.http.post(
        f"/_sim/customers/{customer['user_id']}/messages", json={"type": "hologram"}
    )
    assert response.status_code == 422
