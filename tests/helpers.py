"""Small helpers shared by tests."""

from __future__ import annotations

import asyncio
import time

from madoguchi.store.models import Message


async def eventually(check, within: float = 60.0, interval: float = 0.02):
    """Poll ``check`` (async, returns a truthy value when done) until it passes.

    ``within`` only decides when a wait counts as a failure: a condition met sooner ends
    the wait at once. It is generous because the suite runs on busy shared machines,
    where a full run saw a test's server answer nothing for 30 s; a test that needs a
    condition met *quickly* is a benchmark, not a test (bench/)."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s (last value {value!r})")
        await asyncio.sleep(interval)


def accepted_outbound(conversation, wamid: str):
    """An outbound text message in ``conversation`` that Meta accepted as ``wamid``."""
    return Message(
        workspace_id=conversation.workspace_id,
        conversation_id=conversation.id,
        wamid=wamid,
        direction="outbound",
        type="text",
        status="accepted",
        text="hello",
        content={"type": "text"},
    )


async def reached_the_product(sim_client, said: dict) -> dict:
    """What ``POST /_sim/customers/{id}/messages`` answered, once the product has
    acknowledged that message.

    The simulator answers after its *first* delivery attempt. On a busy machine that
    attempt can time out (the simulator waits 10 s for the product) and a retry delivers
    the message: it reached the product all the same, so a test waits for the delivery
    instead of failing on the first attempt's ``delivered: false``."""
    if said["delivered"]:
        return said

    async def delivered():
        response = await sim_client.get(
            "/_sim/deliveries", params={"state": "delivered", "limit": 5000, "body": False}
        )
        ids = {d["id"] for d in response.json()["deliveries"]}
        return said["delivery_id"] in ids

    await eventually(delivered)
    return said
