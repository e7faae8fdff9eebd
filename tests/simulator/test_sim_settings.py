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
