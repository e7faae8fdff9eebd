"""The contact-center stack of ``tests/contact_center/test_routing.py`` with the WhatsApp
simulator as Meta: customers write from the simulator's phones, sends reach them."""

from __future__ import annotations

import itertools

import httpx
from sqlalchemy import select

from madoguchi.simulator.app import create_app as create_simulator_app
from madoguchi.simulator.config import SimulatorConfig
from madoguchi.store.models import Conversation
from tests.conftest import APP_SECRET, SIM_NUMBER, VERIFY_TOKEN, ServedApp, start_stack
from tests.contact_center.test_routing import CC, FILE, cc_of
from tests.helpers import eventually

_phones = itertools.count(819055500001)


class SimCC(CC):
    sim: ServedApp

    async def sim_customer_writes(self, text: str) -> tuple[dict, int]:
        """A new customer writes from the simulator; returns them and the conversation."""
        wa_id = str(next(_phones))
        customer = (
            await self.sim_client.post("/_sim/customers", json={"wa_id": wa_id, "name": "Kai"})
        ).json()
        sent = await self.sim_client.post(
            f"/_sim/customers/{customer['user_id']}/messages", json={"type": "text", "text": text}
        )
        assert sent.status_code == 200, sent.text

        async def conversation_id():
            async with self.stack.runtime.db.read() as session:
                return await session.scalar(
                    select(Conversation.id).where(Conversation.contact.has(wa_id=wa_id))
                )

        return customer, await eventually(conversation_id)

    async def phone_thread(self, customer: dict) -> list[dict]:
        thread = await self.sim_client.get(f"/_sim/customers/{customer['user_id']}/thread")
        return thread.json()["messages"]

    async def sent_to_meta(self) -> list[dict]:
        response = await self.sim_client.get("/_sim/sent", params={"limit": 5000})
        return response.json()["requests"]

    async def close(self) -> None:
        await self.sim_client.aclose()
        await self.stack.client.aclose()
        await self.stack.served.stop()
        await self.sim.stop()


async def make_sim_cc(db_url, tmp_path) -> SimCC:
    product, sim = ServedApp(), ServedApp()
    await sim.start(
        create_simulator_app(
            SimulatorConfig(
                webhook_url=f"{product.url}/webhooks/whatsapp",
                app_secret=APP_SECRET,
                verify_token=VERIFY_TOKEN,
                public_url=sim.url,
                numbers=[SIM_NUMBER],
                status_delay_seconds=0.01,
                delivery_backoff_seconds=0.05,
            )
        )
    )
    stack = await start_stack(
        db_url,
        tmp_path,
        graph_api_url=sim.url,
        workers=True,
        workspace_file=FILE.replace("{method}", "longest_idle"),
        served=product,
    )
    cc = await cc_of(stack, SimCC)
    cc.sim = sim
    cc.sim_client = httpx.AsyncClient(base_url=sim.url, timeout=30)
    return cc
