"""Scaled mode as deployed: two ``madoguchi serve`` processes with their workers on one
PostgreSQL database and one Redis. The assist worker runs in one of them only (the
leader); a hand-over made through either process gets its summary (the request travels
with the event: before, one made through the other process waited there for ever)."""

from __future__ import annotations

import asyncio
import copy
import json

import httpx
import pytest
from sqlalchemy import select

from madoguchi.store.db import Database
from madoguchi.store.models import Contact, Conversation, ConversationInsight
from tests.conftest import _truncate, fixture_payload, seed_workspace, signed_headers
from tests.helpers import eventually
from tests.web.test_realtime_scaled import REDIS_URL, AppProcess, _redis_reachable, scaled_env

pytestmark = pytest.mark.postgres


def _message_from(phone: str, text: str) -> bytes:
    payload = copy.deepcopy(fixture_payload("message_text.json"))
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["wa_id"] = phone
    value["contacts"][0].pop("user_id")
    message = value["messages"][0]
    message.pop("from_user_id")
    message.update({"from": phone, "id": f"wamid.summary-{phone}", "text": {"body": text}})
    return json.dumps(payload).encode()


async def test_a_hand_over_through_either_process_gets_its_summary(postgres_database, tmp_path):
    if not await _redis_reachable():
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    await _truncate(postgres_database)
    db = Database(postgres_database)
    try:
        token = await seed_workspace(db)
        env = {
            **scaled_env(postgres_database, tmp_path, redis=True),
            "MADOGUCHI_SENDER_ENABLED": "false",
        }
        processes = [AppProcess(env, tmp_path, name, workers=True) for name in ("one", "two")]
        try:
            await asyncio.gather(*(p.wait_ready() for p in processes))
            closed = []
            for n, process in enumerate(processes):
                phone = f"81900055500{n}"
                async with httpx.AsyncClient(base_url=process.url, timeout=30) as client:
                    body = _message_from(phone, "My parcel A-77 has not arrived yet.")
                    response = await client.post(
                        "/webhooks/whatsapp", content=body, headers=signed_headers(body)
                    )
                    assert response.status_code == 200, response.text

                    async def stored(phone=phone):
                        async with db.read() as session:
                            return await session.scalar(
                                select(Conversation.id)
                                .join(Contact, Contact.id == Conversation.contact_id)
                                .where(Contact.wa_id == phone)
                            )

                    cid = await eventually(stored)
                    # The hand-over (here a close) made through this process.
                    response = await client.post(
                        f"/api/v1/conversations/{cid}/close",
                        headers={"Authorization": f"Bearer {token}"},
                        json={},
                    )
                    assert response.status_code == 200, response.text
                    closed.append(cid)

            async def summarised():
                async with db.read() as session:
                    rows = await session.scalars(
                        select(ConversationInsight).where(
                            ConversationInsight.conversation_id.in_(closed),
                            ConversationInsight.summary.is_not(None),
                        )
                    )
                    return {r.conversation_id for r in rows} == set(closed)

            await eventually(summarised)
        finally:
            for process in processes:
                process.stop()
    finally:
        await db.dispose()
