"""Media upload/lookup/download, templates' life cycle, numbers, and the phone page."""

from __future__ import annotations

import hashlib

import pytest

PDF = b"%PDF-1.4\n" + b"0" * 2048


async def _upload(sim, data: bytes, mime: str, *, name: str = "f", declared: str | None = None):
    return await sim.http.post(
        f"/{sim.graph}/{sim.number.phone_number_id}/media",
        headers=sim.auth(),
        data={"messaging_product": "whatsapp", "type": declared or mime},
        files={"file": (name, data, mime)},
    )


async def test_upload_lookup_download(sim) -> None:
    upload = await _upload(sim, PDF, "application/pdf", name="terms.pdf")
    assert upload.status_code == 200, upload.text
    media_id = upload.json()["id"]
    assert media_id.isdigit()

    info = await sim.http.get(f"/{sim.graph}/{media_id}", headers=sim.auth())
    assert info.status_code == 200
    body = info.json()
    assert body == {
        "messaging_product": "whatsapp",
        "url": body["url"],
        "mime_type": "application/pdf",
        "sha256": hashlib.sha256(PDF).hexdigest(),
        "file_size": len(PDF),
        "id": media_id,
    }
    assert body["url"].startswith(sim.config.public_url + "/_media/")

    assert (await sim.http.get(body["url"])).status_code == 401
    assert (
        await sim.http.get(body["url"], headers={"Authorization": "Bearer x"})
    ).status_code == 401
    assert (await sim.http.get(body["url"], headers=sim.auth(sim.other))).status_code == 401
    download = await sim.http.get(body["url"], headers=sim.auth())
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["content-type"].startswith("application/pdf")

    await sim.http.post("/_sim/clock", json={"advance_seconds": 3600})
    assert (await sim.http.get(body["url"], headers=sim.auth())).status_code == 404
    fresh = (await sim.http.get(f"/{sim.graph}/{media_id}", headers=sim.auth())).json()
    assert (await sim.http.get(fresh["url"], headers=sim.auth())).status_code == 200

    other_waba = await sim.http.get(f"/{sim.graph}/{media_id}", headers=sim.auth(sim.other))
    assert other_waba.status_code == 400 and other_waba.json()["error"]["code"] == 100
    no_token = await sim.http.get(f"/{sim.graph}/{media_id}")
    assert no_token.status_code == 401

    deleted = await sim.http.delete(f"/{sim.graph}/{media_id}", headers=sim.auth())
    assert deleted.json() == {"success": True}
    gone = await sim.http.get(f"/{sim.graph}/{media_id}", headers=sim.auth())
    assert gone.status_code == 400


@pytest.mark.parametrize(
    ("data", "mime", "mentions"),
    [
        (b"GIF89a", "image/gif", "image/gif"),
        (b"\xff" * (5 * 1024 * 1024 + 1), "image/jpeg", "limit"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * (100 * 1024), "image/webp", "limit"),
        (b"", "image/png", "empty"),
    ],
    ids=["unsupported_type", "image_over_5mb", "static_sticker_over_100kb", "empty"],
)
async def test_upload_limits(sim, data, mime, mentions) -> None:
    response = await _upload(sim, data, mime)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 131053 and mentions in error["error_data"]["details"]


async def test_upload_needs_product_and_file(sim) -> None:
    url = f"/{sim.graph}/{sim.number.phone_number_id}/media"
    no_product = await sim.http.post(
        url,
        headers=sim.auth(),
        data={"type": "image/png"},
        files={"file": ("a.png", b"x", "image/png")},
    )
    assert no_product.json()["error"]["code"] == 131008
    no_file = await sim.http.post(
        url,
        headers=sim.auth(),
        data={"messaging_product": "whatsapp", "x": "y"},
        files={"other": ("a.png", b"x", "image/png")},
    )
    assert no_file.json()["error"]["code"] == 131008
    no_auth = await sim.http.post(
        url, data={"messaging_product": "whatsapp"}, files={"file": ("a.png", b"x", "image/png")}
    )
    assert no_auth.status_code == 401


def _templates_url(sim) -> str:
    return f"/{sim.graph}/{sim.number.waba_id}/message_templates"


async def test_template_approved_then_usable(sim) -> None:
    response = await sim.http.post(
        _templates_url(sim),
        headers=sim.auth(),
        json={
            "name": "visit_reminder",
            "language": "ja",
            "category": "utility",
            "components": [
                {
                    "type": "BODY",
                    "text": "{{1}}様、明日{{2}}にお待ちしております。",
                    "example": {"body_text": [["田中", "10:00"]]},
                },
                {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "変更したい"}]},
            ],
        },
    )
    assert response.status_code == 200, response.text
    created = response.json()
    assert created["status"] == "PENDING" and created["category"] == "UTILITY"

    event = await sim.wait_for(lambda: sim.receiver.values("message_template_status_update"))
    assert event[0] == {
        "event": "APPROVED",
        "message_template_id": int(created["id"]),
        "message_template_name": "visit_reminder",
        "message_template_language": "ja",
        "reason": "NONE",
        "message_template_category": "UTILITY",
    }
    assert all(d.signature_ok for d in sim.receiver.deliveries)

    customer = await sim.new_customer()
    wamid = await sim.send_ok(
        {
            "to": customer["wa_id"],
            "type": "template",
            "template": {
                "name": "visit_reminder",
                "language": {"code": "ja"},
                "components": [
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "text": "山田"},
                            {"type": "text", "text": "15:00"},
                        ],
                    }
                ],
            },
        }
    )
    thread = await sim.thread(customer)
    assert thread["messages"][0]["rendered"]["body"] == "山田様、明日15:00にお待ちしております。"
    await sim.statuses_reach(wamid, "delivered")


async def test_template_rejected(sim) -> None:
    response = await sim.http.post(
        _templates_url(sim),
        headers=sim.auth(),
        json={
            "name": "please_reject_me",
            "language": "en_US",
            "category": "MARKETING",
            "components": [{"type": "BODY", "text": "Buy now"}],
        },
    )
    assert response.json()["status"] == "PENDING"
    event = await sim.wait_for(lambda: sim.receiver.values("message_template_status_update"))
    assert event[0]["event"] == "REJECTED"
    assert event[0]["reason"] == sim.config.template_reject_reason
    listed = (
        await sim.http.get(
            _templates_url(sim), headers=sim.auth(), params={"name": "please_reject_me"}
        )
    ).json()
    assert listed["data"][0]["status"] == "REJECTED"
    assert listed["data"][0]["rejected_reason"] == sim.config.template_reject_reason


@pytest.mark.parametrize(
    ("changes", "code", "mentions"),
    [
        ({"name": "Bad Name"}, 100, "name"),
        ({"name": None}, 131008, "name"),
        ({"category": "PROMO"}, 100, "category"),
        ({"language": "english"}, 100, "language"),
        ({"components": []}, 131008, "components"),
        ({"components": [{"type": "BODY", "text": "Hi {{1}}"}]}, 100, "example"),
        (
            {
                "components": [
                    {"type": "BODY", "text": "Hi {{2}}", "example": {"body_text": [["x"]]}}
                ]
            },
            100,
            "sequence",
        ),
        ({"components": [{"type": "FOOTER", "text": "only a footer"}]}, 131008, "BODY"),
        (
            {
                "components": [
                    {"type": "HEADER", "format": "TEXT", "text": "h" * 61},
                    {"type": "BODY", "text": "b"},
                ]
            },
            100,
            "60",
        ),
    ],
    ids=[
        "uppercase_name",
        "no_name",
        "bad_category",
        "bad_language",
        "no_components",
        "no_example",
        "not_sequential",
        "no_body",
        "long_header",
    ],
)
async def test_template_validation(sim, changes, code, mentions) -> None:
    body = {
        "name": "ok_name",
        "language": "en_US",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Hello"}],
    }
    body.update(changes)
    body = {k: v for k, v in body.items() if v is not None}
    response = await sim.http.post(_templates_url(sim), headers=sim.auth(), json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == code and mentions in error["error_data"]["details"]


async def test_template_list_paging_and_delete(sim) -> None:
    url = _templates_url(sim)
    first = (await sim.http.get(url, headers=sim.auth(), params={"limit": 2})).json()
    assert [t["name"] for t in first["data"]] == ["order_ready", "spring_sale"]
    assert first["data"][0]["status"] == "APPROVED"
    assert first["data"][0]["components"][1]["type"] == "BODY"
    assert set(first["paging"]["cursors"]) == {"before", "after"}
    second = (await sim.http.get(first["paging"]["next"], headers=sim.auth())).json()
    assert [t["name"] for t in second["data"]] == ["login_code"]
    assert "next" not in second["paging"] and "previous" in second["paging"]

    duplicate = await sim.http.post(
        url,
        headers=sim.auth(),
        json={
            "name": "spring_sale",
            "language": "ja",
            "category": "MARKETING",
            "components": [{"type": "BODY", "text": "again"}],
        },
    )
    assert duplicate.status_code == 400

    assert (
        await sim.http.delete(url, headers=sim.auth(), params={"name": "spring_sale"})
    ).json() == {"success": True}
    assert (
        await sim.http.delete(url, headers=sim.auth(), params={"name": "spring_sale"})
    ).status_code == 400
    names = [t["name"] for t in (await sim.http.get(url, headers=sim.auth())).json()["data"]]
    assert names == ["order_ready", "login_code"]

    other = await sim.http.get(url, headers=sim.auth(sim.other))
    assert other.status_code == 401
    assert (
        await sim.http.get(
            f"/{sim.graph}/{sim.other.waba_id}/message_templates", headers=sim.auth(sim.other)
        )
    ).json()["data"] == []


async def test_template_status_control(sim) -> None:
    templates = (await sim.http.get("/_sim/templates")).json()["templates"]
    order = next(t for t in templates if t["name"] == "order_ready")
    response = await sim.http.post(
        f"/_sim/templates/{order['id']}/status", json={"status": "PAUSED", "reason": "LOW_QUALITY"}
    )
    assert response.json()["status"] == "PAUSED"
    event = sim.receiver.values("message_template_status_update")[0]
    assert event["event"] == "PAUSED" and event["reason"] == "LOW_QUALITY"
    customer = await sim.new_customer()
    refused = await sim.send(
        {
            "to": customer["wa_id"],
            "type": "template",
            "template": {"name": "order_ready", "language": {"code": "en_US"}},
        }
    )
    assert refused.json()["error"]["code"] == 132015


async def test_phone_number_and_account_info(sim) -> None:
    info = (
        await sim.http.get(f"/{sim.graph}/{sim.number.phone_number_id}", headers=sim.auth())
    ).json()
    assert info["display_phone_number"] == "+1 555 0100"
    assert info["verified_name"] == "Madoguchi Demo"
    assert info["quality_rating"] == "GREEN"
    assert info["messaging_limit_tier"] and info["throughput"] == {"level": "STANDARD"}
    numbers = (
        await sim.http.get(f"/{sim.graph}/{sim.number.waba_id}/phone_numbers", headers=sim.auth())
    ).json()["data"]
    assert {n["id"] for n in numbers} == {sim.number.phone_number_id, sim.slow.phone_number_id}
    subscribed = await sim.http.post(
        f"/{sim.graph}/{sim.number.waba_id}/subscribed_apps", headers=sim.auth()
    )
    assert subscribed.json() == {"success": True}
    registered = await sim.http.post(
        f"/{sim.graph}/{sim.number.phone_number_id}/register",
        headers=sim.auth(),
        json={"messaging_product": "whatsapp", "pin": "123456"},
    )
    assert registered.json() == {"success": True}
    missing = await sim.http.get(f"/{sim.graph}/424242", headers=sim.auth())
    assert missing.status_code == 400 and missing.json()["error"]["error_subcode"] == 33


async def test_phone_page_and_static_files(sim) -> None:
    await sim.new_customer(wa_id="819012340000", name="Taro Yamada")
    page = await sim.http.get("/")
    assert page.status_code == 200
    assert "Business number" in page.text and "Taro Yamada" in page.text
    assert '<label for="text"' in page.text
    script = await sim.http.get("/static/phone.js")
    assert script.status_code == 200 and "refreshThread" in script.text
    assert (await sim.http.get("/static/phone.css")).status_code == 200
    assert (await sim.http.get("/_sim/health")).json() == {"ok": True}
    config = (await sim.http.get("/_sim/config")).json()
    assert config["graph_base_url"].endswith("/v26.0")
