"""Settings that change behaviour, each on a simulator of its own."""

from __future__ import annotations

import asyncio

import httpx

TOKEN = {"Authorization": "Bearer sim-token-demo"}
SEND = "/v26.0/100000000000001/messages"


async def test_sync_window_errors(start_sim) -> None:
    url = start_sim(webhook_url=None, window_error_mode="sync")
    async with httpx.AsyncClient(base_url=url) as http:
        await http.post("/_sim/customers", json={"wa_id": "81901234567"})
        said = await http.post(
            "/_sim/customers/81901234567/messages", json={"type": "text", "text": "hi"}
        )
        assert said.json()["delivery_state"] == "skipped"
        body = {
            "messaging_product": "whatsapp",
            "to": "81901234567",
            "type": "text",
            "text": {"body": "reply"},
        }
        assert (await http.post(SEND, json=body, headers=TOKEN)).status_code == 200
        await http.post("/_sim/clock", json={"advance_seconds": 24 * 3600 + 1})
        late = await http.post(SEND, json=body, headers=TOKEN)
        assert late.status_code == 400
        assert late.json()["error"]["code"] == 131047


async def test_unreachable_webhook_is_retried_then_given_up(start_sim) -> None:
    url = start_sim(webhook_url="http://127.0.0.1:9/webhooks/whatsapp")
    async with httpx.AsyncClient(base_url=url) as http:
        await http.post("/_sim/customers", json={"wa_id": "81901234567"})
        said = (
            await http.post(
                "/_sim/customers/81901234567/messages", json={"type": "text", "text": "hi"}
            )
        ).json()
        assert said["delivered"] is False and said["status_code"] is None
        assert said["error"].startswith("Connect")
        for _ in range(100):
            log = (await http.get("/_sim/deliveries")).json()["deliveries"]
            if log[0]["state"] == "gave_up":
                break
            await asyncio.sleep(0.02)
        assert log[0]["state"] == "gave_up" and len(log[0]["attempts"]) == 2


async def test_seeded_customers(start_sim) -> None:
    url = start_sim(
        webhook_url=None,
        customers=[
            {"wa_id": "819011112222", "name": "Seeded"},
            {"username": "nophone", "country": "JP"},
        ],
    )
    async with httpx.AsyncClient(base_url=url) as http:
        customers = (await http.get("/_sim/customers")).json()["customers"]
        assert [c["name"] for c in customers] == ["Seeded", "@nophone"]
        assert customers[1]["user_id"].startswith("JP.") and customers[1]["wa_id"] is None
        await http.post("/_sim/reset")
        assert len((await http.get("/_sim/customers")).json()["customers"]) == 2


def _template_to(phone: str) -> dict:
    return {
        "messaging_product": "whatsapp",
        "to": phone,
        "type": "template",
        "template": {
            "name": "notice",
            "language": {"code": "ja"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "太郎"}]}],
        },
    }


async def test_broadcast_settings_unknown_phones_read_and_statuses_batched(
    start_sim, receiver
) -> None:
    """The campaign benchmark's simulator: any phone is a WhatsApp user, every customer
    reads, and the statuses of many sends come in a few deliveries, in order per send."""
    receiver.clear()
    url = start_sim(
        webhook_url=receiver.url,
        templates=[
            {
                "name": "notice",
                "language": "ja",
                "components": [
                    {
                        "type": "BODY",
                        "text": "{{1}}様へのお知らせ",
                        "example": {"body_text": [["山田"]]},
                    }
                ],
            }
        ],
        unknown_phones_are_customers=True,
        customers_read=True,
        status_batch_seconds=0.2,
        status_batch_max=4,
    )
    phones = [f"8190555{i:04d}" for i in range(6)]
    async with httpx.AsyncClient(base_url=url) as http:
        wamids = []
        for phone in phones:
            sent = await http.post(SEND, json=_template_to(phone), headers=TOKEN)
            assert sent.status_code == 200, sent.text
            wamids.append(sent.json()["messages"][0]["id"])
        for _ in range(300):
            if all(receiver.status_names(w) == ["sent", "delivered", "read"] for w in wamids):
                break
            await asyncio.sleep(0.02)
        for wamid in wamids:
            assert receiver.status_names(wamid) == ["sent", "delivered", "read"]
            assert "errors" not in receiver.statuses(wamid)[0]
        per_delivery = [len(v.get("statuses", [])) for v in receiver.values()]
        # 18 statuses in fewer deliveries, none above the batch's size
        assert sum(per_delivery) == 18
        assert len(per_delivery) < 18 and max(per_delivery) <= 4
        customers = (await http.get("/_sim/customers")).json()["customers"]
        assert {c["wa_id"] for c in customers} == set(phones)
        # Free-form text to a phone nobody wrote from: still refused (no window).
        text = {
            "messaging_product": "whatsapp",
            "to": "819055599999",
            "type": "text",
            "text": {"body": "hi"},
        }
        sent = await http.post(SEND, json=text, headers=TOKEN)
        wamid = sent.json()["messages"][0]["id"]
        for _ in range(300):
            if receiver.status_names(wamid):
                break
            await asyncio.sleep(0.02)
        assert receiver.status_names(wamid) == ["failed"]
        assert receiver.statuses(wamid)[0]["errors"][0]["code"] == 131026
