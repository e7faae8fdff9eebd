"""Small helpers shared by tests."""

from __future__ import annotations

import asyncio
import time

from madoguchi.store.models import Message


async def eventually(check, within: float = 20.0, interval: float = 0.02):
    """Poll ``check`` (async, returns a truthy value when done) until it passes."""
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
