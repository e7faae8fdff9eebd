"""Meta's side: sends are validated as Meta would, and statuses follow."""

from __future__ import annotations

import asyncio
import copy

import pytest

DAY = 24 * 3600
LINK = "https://example.com/files/picture.jpg"


def _button_message(n: int = 2, title: str = "Yes") -> dict:
    return {
        "type": "button",
        "body": {"text": "Choose"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": f"b{i}", "title": f"{title}{i}"}}
                for i in range(n)
            ]
        },
    }


def _list_message(rows: int = 2, **row_fields: str) -> dict:
    return {
        "type": "list",
        "header": {"type": "text", "text": "Help"},
        "body": {"text": "Pick a topic"},
        "footer": {"text": "Madoguchi"},
        "action": {
            "button": "Topics",
            "sections": [
                {
                    "title": "All",
                    "rows": [
                        {
                            "id": f"r{i}",
                            "title": row_fields.get("title", f"Row {i}"),
                            "description": row_fields.get("description", "more"),
                        }
                        for i in range(rows)
                    ],
                }
            ],
        },
    }


SENDS = {
    "text": {"type": "text", "text": {"body": "Hello from the counter", "preview_url": False}},
    "image_link": {"type": "image", "image": {"link": LINK, "caption": "look"}},
    "video_link": {"type": "video", "video": {"link": "https://example.com/v.mp4"}},
    "audio_link": {"type": "audio", "audio": {"link": "https://example.com/a.ogg"}},
    "document_link": {
        "type": "document",
        "document": {"link": "https://example.com/d.pdf", "filename": "terms.pdf"},
    },
    "sticker_link": {"type": "sticker", "sticker": {"link": "https://example.com/s.webp"}},
    "location": {
        "type": "location",
        "location": {"latitude": 35.68, "longitude": 139.76, "name": "Counter", "address": "Tokyo"},
    },
    "contacts": {
        "type": "contacts",
        "contacts": [{"name": {"formatted_name": "Support"}, "phones": [{"phone": "+15550100"}]}],
    },
    "buttons": {"type": "interactive", "interactive": _button_message(3)},
    "list": {"type": "interactive", "interactive": _list_message(10)},
    "cta_url": {
        "type": "interactive",
        "interactive": {
            "type": "cta_url",
            "body": {"text": "See your order"},
            "action": {
                "name": "cta_url",
                "parameters": {"display_text": "Open", "url": "https://example.com/o/1"},
            },
        },
    },
    "template": {
        "type": "template",
        "template": {"name": "spring_sale", "language": {"code": "ja"}},
    },
}


async def _customer_in_window(sim) -> dict:
    customer = await sim.new_customer()
    await sim.says(customer, {"type": "text", "text": "hi"})
    return customer


@pytest.mark.parametrize("name", list(SENDS))
async def test_each_type_is_accepted_and_statuses_follow(sim, name) -> None:
    customer = await _customer_in_window(sim)
    response = await sim.send(
        {"recipient_type": "individual", "to": customer["wa_id"], **SENDS[name]}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": customer["wa_id"], "wa_id": customer["wa_id"]}]
    wamid = body["messages"][0]["id"]
    assert wamid.startswith("wamid.") and body["messages"][0]["message_status"] == "accepted"

    assert await sim.statuses_reach(wamid, "sent", "delivered") == ["sent", "delivered"]
    opened = await sim.http.post(f"/_sim/customers/{customer['user_id']}/open", json={})
    assert opened.json()["read"] == [wamid]
    await sim.statuses_reach(wamid, "read")
    statuses = sim.receiver.statuses(wamid)
    assert all(s["recipient_id"] == customer["wa_id"] for s in statuses)
    assert all(s["recipient_user_id"] == customer["user_id"] for s in statuses)
    assert all(int(s["timestamp"]) > 0 for s in statuses)
    pricing = statuses[0]["pricing"]
    if name == "template":
        assert pricing == {
            "billable": True,
            "pricing_model": "PMP",
            "category": "marketing",
            "type": "regular",
        }
    else:
        assert pricing["category"] == "service" and pricing["billable"] is False
    thread = await sim.thread(customer)
    assert thread["messages"][-1]["status"] == "read"


async def test_send_by_uploaded_media_id(sim) -> None:
    customer = await _customer_in_window(sim)
    upload = await sim.http.post(
        f"/{sim.graph}/{sim.number.phone_number_id}/media",
        headers=sim.auth(),
        data={"messaging_product": "whatsapp", "type": "image/png"},
        files={"file": ("p.png", b"\x89PNG fake", "image/png")},
    )
    media_id = upload.json()["id"]
    wamid = await sim.send_ok(
        {"to": customer["wa_id"], "type": "image", "image": {"id": media_id, "caption": "here"}}
    )
    await sim.statuses_reach(wamid, "delivered")
    unknown = await sim.send({"to": customer["wa_id"], "type": "image", "image": {"id": "123456"}})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == 131009


async def test_send_to_a_bsuid_recipient(sim) -> None:
    customer = await sim.new_customer(username="jane.d", country="US", name="Jane")
    await sim.says(customer, {"type": "text", "text": "hi"})
    response = await sim.send(
        {"recipient": customer["user_id"], "type": "text", "text": {"body": "Hi Jane"}}
    )
    assert response.status_code == 200
    assert response.json()["contacts"] == [
        {"input": customer["user_id"], "user_id": customer["user_id"]}
    ]
    wamid = response.json()["messages"][0]["id"]
    await sim.statuses_reach(wamid, "delivered")
    status = sim.receiver.statuses(wamid)[0]
    assert "recipient_id" not in status and status["recipient_user_id"] == customer["user_id"]


async def test_unknown_recipient_fails_by_webhook_with_131026(sim) -> None:
    response = await sim.send(
        {
            "to": "15550009999",
            "type": "template",
            "template": {"name": "spring_sale", "language": {"code": "ja"}},
        }
    )
    assert response.status_code == 200
    wamid = response.json()["messages"][0]["id"]
    await sim.statuses_reach(wamid, "failed")
    failed = sim.receiver.statuses(wamid)[0]
    assert failed["recipient_id"] == "15550009999"
    assert failed["errors"][0]["code"] == 131026
    assert failed["errors"][0]["error_data"]["details"]
    assert "pricing" not in failed


async def test_mark_read_and_typing_indicator(sim) -> None:
    customer = await sim.new_customer()
    first = await sim.says(customer, {"type": "text", "text": "one"})
    second = await sim.says(customer, {"type": "text", "text": "two"})
    response = await sim.send(
        {"status": "read", "message_id": second["wamid"], "typing_indicator": {"type": "text"}}
    )
    assert response.status_code == 200 and response.json() == {"success": True}
    thread = await sim.thread(customer)
    assert [m["status"] for m in thread["messages"]] == ["read", "read"]
    assert thread["typing"] is True
    await sim.send_ok({"to": customer["wa_id"], "type": "text", "text": {"body": "answer"}})
    assert (await sim.thread(customer))["typing"] is False
    bad = await sim.send({"status": "read", "message_id": "wamid.unknown"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == 100
    assert first["wamid"] != second["wamid"]


async def test_viewing_the_chat_reads_new_messages(sim) -> None:
    customer = await _customer_in_window(sim)
    await sim.thread(customer, viewing=True)
    wamid = await sim.send_ok({"to": customer["wa_id"], "type": "text", "text": {"body": "hi"}})
    await sim.statuses_reach(wamid, "read")


def _mutate(path: str, value):
    def apply(body: dict) -> dict:
        body = copy.deepcopy(body)
        *parents, last = path.split(".")
        node = body
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        if value is KeyError:
            del node[last]
        elif last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value
        return body

    return apply


TEXT = SENDS["text"]
LIST = {"type": "interactive", "interactive": _list_message(2)}
BUTTONS = {"type": "interactive", "interactive": _button_message(2)}
INVALID = [
    (
        "no_messaging_product",
        TEXT,
        _mutate("messaging_product", KeyError),
        131008,
        "messaging_product",
    ),
    ("wrong_product", TEXT, _mutate("messaging_product", "sms"), 100, "messaging_product"),
    ("no_recipient", TEXT, _mutate("to", KeyError), 131008, "to"),
    ("bad_phone", TEXT, _mutate("to", "call me maybe"), 131009, "to"),
    (
        "bad_bsuid",
        TEXT,
        lambda b: {**{k: v for k, v in b.items() if k != "to"}, "recipient": "not-a-bsuid"},
        131009,
        "recipient",
    ),
    ("bad_type", TEXT, _mutate("type", "hologram"), 100, "type"),
    ("missing_object", TEXT, _mutate("text", KeyError), 131008, "text"),
    ("empty_body", TEXT, _mutate("text.body", ""), 131008, "text.body"),
    ("text_too_long", TEXT, _mutate("text.body", "x" * 4097), 100, "4096"),
    ("caption_too_long", SENDS["image_link"], _mutate("image.caption", "c" * 1025), 100, "1024"),
    (
        "http_link",
        SENDS["image_link"],
        _mutate("image.link", "http://example.com/a.jpg"),
        131009,
        "image.link",
    ),
    ("no_media", SENDS["image_link"], _mutate("image.link", KeyError), 131008, "image.id"),
    ("audio_caption", SENDS["audio_link"], _mutate("audio.caption", "no"), 100, "caption"),
    ("bad_latitude", SENDS["location"], _mutate("location.latitude", 123), 131009, "latitude"),
    (
        "contact_without_name",
        SENDS["contacts"],
        _mutate("contacts.0", {"phones": []}),
        131008,
        "contacts[0].name",
    ),
    (
        "four_buttons",
        {"type": "interactive", "interactive": _button_message(4)},
        lambda b: b,
        131009,
        "buttons",
    ),
    (
        "zero_buttons",
        {"type": "interactive", "interactive": _button_message(0)},
        lambda b: b,
        131009,
        "buttons",
    ),
    (
        "long_button_title",
        {"type": "interactive", "interactive": _button_message(1, "T" * 20)},
        lambda b: b,
        100,
        "title",
    ),
    (
        "eleven_rows",
        {"type": "interactive", "interactive": _list_message(11)},
        lambda b: b,
        131009,
        "10 rows",
    ),
    (
        "long_row_title",
        {"type": "interactive", "interactive": _list_message(1, title="R" * 25)},
        lambda b: b,
        100,
        "title",
    ),
    (
        "long_row_description",
        {"type": "interactive", "interactive": _list_message(1, description="d" * 73)},
        lambda b: b,
        100,
        "description",
    ),
    ("long_header", LIST, _mutate("interactive.header.text", "h" * 61), 100, "header.text"),
    ("long_footer", LIST, _mutate("interactive.footer.text", "f" * 61), 100, "footer.text"),
    ("long_list_body", LIST, _mutate("interactive.body.text", "b" * 1025), 100, "body.text"),
    (
        "long_list_button",
        LIST,
        _mutate("interactive.action.button", "B" * 21),
        100,
        "action.button",
    ),
    ("no_body", BUTTONS, _mutate("interactive.body", KeyError), 131008, "interactive.body"),
    (
        "cta_without_url",
        SENDS["cta_url"],
        _mutate("interactive.action.parameters.url", KeyError),
        131008,
        "url",
    ),
    (
        "template_without_language",
        SENDS["template"],
        _mutate("template.language", KeyError),
        131008,
        "template.language",
    ),
    (
        "reaction_without_emoji",
        {"type": "reaction", "reaction": {"message_id": "wamid.x"}},
        lambda b: b,
        131008,
        "reaction.emoji",
    ),
]


@pytest.mark.parametrize(
    ("name", "base", "mutate", "code", "mentions"), INVALID, ids=[case[0] for case in INVALID]
)
async def test_validation_errors(sim, name, base, mutate, code, mentions) -> None:
    customer = await _customer_in_window(sim)
    body = mutate({"messaging_product": "whatsapp", "to": customer["wa_id"], **base})
    response = await sim.http.post(
        f"/{sim.graph}/{sim.number.phone_number_id}/messages", json=body, headers=sim.auth()
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["type"] == "OAuthException"
    assert error["message"].startswith(f"(#{code})")
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert mentions in error["error_data"]["details"]
    assert error["fbtrace_id"]


async def test_not_json(sim) -> None:
    response = await sim.http.post(
        f"/{sim.graph}/{sim.number.phone_number_id}/messages", content=b"{oops", headers=sim.auth()
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == 100


async def test_template_errors(sim) -> None:
    customer = await _customer_in_window(sim)

    async def send_template(template: dict) -> dict:
        response = await sim.send(
            {"to": customer["wa_id"], "type": "template", "template": template}
        )
        return {"status": response.status_code, **response.json()}

    missing = await send_template({"name": "nope", "language": {"code": "en_US"}})
    assert missing["status"] == 404 and missing["error"]["code"] == 132001
    wrong_language = await send_template({"name": "spring_sale", "language": {"code": "en_US"}})
    assert wrong_language["error"]["code"] == 132001
    too_few = await send_template(
        {
            "name": "order_ready",
            "language": {"code": "en_US"},
            "components": [
                {"type": "header", "parameters": [{"type": "text", "text": "A-1"}]},
                {"type": "body", "parameters": [{"type": "text", "text": "Taro"}]},
            ],
        }
    )
    assert too_few["status"] == 400 and too_few["error"]["code"] == 132000
    assert "body" in too_few["error"]["error_data"]["details"]

    pending = await sim.http.post(
        f"/{sim.graph}/{sim.number.waba_id}/message_templates",
        headers=sim.auth(),
        json={
            "name": "fresh_one",
            "language": "en_US",
            "category": "UTILITY",
            "components": [{"type": "BODY", "text": "Thanks!"}],
        },
    )
    assert pending.json()["status"] == "PENDING"
    not_yet = await send_template({"name": "fresh_one", "language": {"code": "en_US"}})
    assert not_yet["error"]["code"] == 132001


async def test_authentication_template_cannot_go_to_a_bsuid(sim) -> None:
    customer = await sim.new_customer()
    code = {
        "name": "login_code",
        "language": {"code": "en_US"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "123456"}]},
            {
                "type": "button",
                "sub_type": "url",
                "index": "0",
                "parameters": [{"type": "text", "text": "123456"}],
            },
        ],
    }
    refused = await sim.send(
        {"recipient": customer["user_id"], "type": "template", "template": code}
    )
    assert refused.status_code == 400 and refused.json()["error"]["code"] == 131062
    wamid = await sim.send_ok({"to": customer["wa_id"], "type": "template", "template": code})
    await sim.statuses_reach(wamid, "delivered")
    assert sim.receiver.statuses(wamid)[0]["pricing"]["category"] == "authentication"


async def test_customer_service_window(sim) -> None:
    customer = await _customer_in_window(sim)
    text = {"to": customer["wa_id"], "type": "text", "text": {"body": "still there?"}}

    await sim.http.post("/_sim/clock", json={"advance_seconds": DAY - 1})
    inside = await sim.send_ok(text)
    await sim.statuses_reach(inside, "delivered")

    await sim.http.post("/_sim/clock", json={"advance_seconds": 2})
    outside = await sim.send_ok(text)  # accepted, then fails like the Cloud API
    await sim.statuses_reach(outside, "failed")
    failed = sim.receiver.statuses(outside)[0]
    assert failed["errors"][0]["code"] == 131047
    assert (await sim.thread(customer))["window_open"] is False

    # templates are allowed outside the window; a utility one is then billable
    template = await sim.send_ok(
        {
            "to": customer["wa_id"],
            "type": "template",
            "template": {
                "name": "order_ready",
                "language": {"code": "en_US"},
                "components": [
                    {"type": "header", "parameters": [{"type": "text", "text": "A-1"}]},
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "text": "Taro"},
                            {"type": "text", "text": "A-1"},
                        ],
                    },
                    {
                        "type": "button",
                        "sub_type": "url",
                        "index": "2",
                        "parameters": [{"type": "text", "text": "A-1"}],
                    },
                ],
            },
        }
    )
    await sim.statuses_reach(template, "delivered")
    assert sim.receiver.statuses(template)[0]["pricing"] == {
        "billable": True,
        "pricing_model": "PMP",
        "category": "utility",
        "type": "regular",
    }

    # the customer writes again: the window reopens
    await sim.says(customer, {"type": "text", "text": "back"})
    again = await sim.send_ok(text)
    await sim.statuses_reach(again, "delivered")


async def test_window_never_opened(sim) -> None:
    customer = await sim.new_customer()
    wamid = await sim.send_ok(
        {"to": customer["wa_id"], "type": "text", "text": {"body": "cold message"}}
    )
    await sim.statuses_reach(wamid, "failed")
    assert sim.receiver.statuses(wamid)[0]["errors"][0]["code"] == 131047


async def test_throughput_limit(sim) -> None:
    customer = await sim.new_customer()
    await sim.says(
        customer, {"type": "text", "text": "hi", "phone_number_id": sim.slow.phone_number_id}
    )
    body = {"to": customer["wa_id"], "type": "text", "text": {"body": "burst"}}
    responses = await asyncio.gather(*[sim.send(body, sim.slow) for _ in range(5)])
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 200, 200, 400, 400]
    limited = next(r for r in responses if r.status_code == 400).json()["error"]
    assert limited["code"] == 130429
    await asyncio.sleep(1.05)
    assert (await sim.send(body, sim.slow)).status_code == 200


async def test_bearer_token(sim) -> None:
    body = {
        "messaging_product": "whatsapp",
        "to": "81901234567",
        "type": "text",
        "text": {"body": "x"},
    }
    url = f"/{sim.graph}/{sim.number.phone_number_id}/messages"
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {sim.slow.access_token}"},
    ):
        response = await sim.http.post(url, json=body, headers=headers)
        assert response.status_code == 401
        error = response.json()["error"]
        assert error["code"] == 190 and error["type"] == "OAuthException"
    unknown = await sim.http.post(f"/{sim.graph}/999999/messages", json=body, headers=sim.auth())
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == 100
    bad_version = await sim.http.post(
        f"/latest/{sim.number.phone_number_id}/messages", json=body, headers=sim.auth()
    )
    assert bad_version.status_code == 400
    older = await sim.http.post(
        f"/v25.0/{sim.number.phone_number_id}/messages", json=body, headers=sim.auth()
    )
    assert older.status_code == 200


async def test_faults(sim) -> None:
    customer = await _customer_in_window(sim)
    body = {"to": customer["wa_id"], "type": "text", "text": {"body": "x"}}
    await sim.http.post(
        "/_sim/faults",
        json={"phone_number_id": sim.number.phone_number_id, "code": 130429, "count": 2},
    )
    for _ in range(2):
        response = await sim.send(body)
        assert response.status_code == 400 and response.json()["error"]["code"] == 130429
    assert (await sim.send(body)).status_code == 200

    await sim.http.post("/_sim/faults", json={"code": 500})
    response = await sim.send(body)
    assert response.status_code == 500 and response.text == "Internal Server Error"

    await sim.http.post("/_sim/faults", json={"code": 131000})
    response = await sim.send(body)
    assert response.status_code == 500 and response.json()["error"]["code"] == 131000

    await sim.http.post("/_sim/faults", json={"code": 131056})
    response = await sim.send(body)
    assert response.status_code == 400 and response.json()["error"]["code"] == 131056

    await sim.http.post("/_sim/faults", json={"code": 131049, "mode": "webhook"})
    wamid = await sim.send_ok(body)
    await sim.statuses_reach(wamid, "failed")
    assert sim.receiver.statuses(wamid)[0]["errors"][0]["code"] == 131049
    assert (await sim.http.get("/_sim/faults")).json() == {"faults": {}}


async def test_sent_log_records_every_business_request(sim) -> None:
    customer = await _customer_in_window(sim)
    await sim.send_ok(
        {
            "to": customer["wa_id"],
            "type": "text",
            "text": {"body": "logged"},
            "biz_opaque_callback_data": "ticket-42",
        }
    )
    await sim.send({"to": customer["wa_id"], "type": "text", "text": {"body": ""}})
    log = (await sim.http.get("/_sim/sent", params={"path_contains": "/messages"})).json()
    requests = log["requests"]
    assert [r["status_code"] for r in requests] == [200, 400]
    assert requests[0]["body"]["text"]["body"] == "logged"
    assert requests[0]["token"] == sim.number.access_token
    assert requests[0]["phone_number_id"] == sim.number.phone_number_id
    assert requests[0]["response"]["messages"][0]["id"].startswith("wamid.")
    assert requests[1]["response"]["error"]["code"] == 131008
    since = requests[0]["seq"]
    later = (await sim.http.get("/_sim/sent", params={"since": since})).json()["requests"]
    assert [r["seq"] for r in later] == [since + 1]
    wamid = requests[0]["response"]["messages"][0]["id"]
    await sim.statuses_reach(wamid, "sent")
    assert sim.receiver.statuses(wamid)[0]["biz_opaque_callback_data"] == "ticket-42"
