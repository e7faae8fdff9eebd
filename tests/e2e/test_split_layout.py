"""``madoguchi serve`` in two processes (``madoguchi.layout``), as deployed: the web process
acknowledges and serves the API and websockets, its child processes the journal and runs
the workers. What the child publishes reaches browsers live through the local socket
between them (no Redis): the agent's offer, the admin's new message, the supervisor's
wallboard nudge; what the web process publishes reaches the child (an agent's presence
lets routing offer); after a kill -9 of the child, sockets are told to re-read state and
events flow again from the new child. SIGTERM stops both processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import httpx
import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect

from madoguchi.security.secrets import SecretBox
from madoguchi.services.access.tokens import create_token
from madoguchi.services.configuration.apply import apply_config
from madoguchi.simulator import payloads
from madoguchi.store.db import Database
from madoguchi.store.models import User
from tests.conftest import PHONE_NUMBER_ID, SECRET_KEY, WA_TOKEN, WABA_ID, signed_headers
from tests.contact_center.test_routing import FILE
from tests.e2e.test_kill_processing import Server, alive
from tests.helpers import eventually
from tests.web.test_realtime import Live, ws_url

NUMBER = {
    "phone_number_id": PHONE_NUMBER_ID,
    "display_phone_number": "15550123",
    "waba_id": WABA_ID,
}
WITHIN = 90  # a deadline, not a duration: generous for a machine at load 20


@pytest.fixture
async def split(db_url, tmp_path):
    """A seeded database and ``madoguchi serve --processes 2`` on it; tokens by person."""
    db = Database(db_url)
    try:
        await apply_config(
            db,
            SecretBox(SECRET_KEY),
            FILE.replace("{method}", "longest_idle"),
            env={"WA_TOKEN": WA_TOKEN},
        )
        tokens = {}
        async with db.write() as session:
            for user in await session.scalars(select(User)):
                who = user.email.split("@")[0]
                tokens[who] = await create_token(
                    session, user.workspace_id, user.role, who, user.id
                )
            tokens["admin"] = await create_token(session, user.workspace_id, "admin", "tests")
    finally:
        await db.dispose()
    server = Server("serve", db_url, tmp_path, ("--processes", "2"))
    await server.start()
    try:
        yield server, tokens
    finally:
        server.stop()


async def customer_writes(server: Server, phone: str, text: str = "hello") -> None:
    customer = {"wa_id": phone, "name": "Customer"}
    message = payloads.inbound_message(customer, "text", payloads.text(text))
    body = json.dumps(payloads.message_webhook(NUMBER, customer, message)).encode()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        response = await client.post(
            "/webhooks/whatsapp", content=body, headers=signed_headers(body)
        )
    assert response.status_code == 200, response.text


async def live(server: Server, token: str) -> Live:
    socket = Live(await connect(ws_url(server.url, token)))
    assert (await socket.next())["event"] == "hello"
    return socket


async def test_the_processing_process_reaches_browsers_live_and_comes_back_after_kill_9(split):
    server, tokens = split
    child = await server.child()
    admin = await live(server, tokens["admin"])
    aiko = await live(server, tokens["aiko"])
    sam = await live(server, tokens["sam"])
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            presence = await client.put(
                "/api/v1/agents/me/presence",
                json={"status": "available", "away_reason": None},
                headers={"Authorization": f"Bearer {tokens['aiko']}"},
            )
        assert presence.status_code == 200, presence.text

        await customer_writes(server, "819000000101")
        # Stored and routed in the child; on the web process's sockets.
        received = await admin.until("message.received", WITHIN)
        offered = await aiko.until("conversation.changed", WITHIN)
        while offered.get("status") != "offered":
            offered = await aiko.until("conversation.changed", WITHIN)
        assert offered["conversation_id"] == received["conversation_id"]
        assert (await sam.until("wallboard.changed", WITHIN))["version"] >= 1

        # The child dies: the web process starts another and tells the sockets to re-read.
        os.kill(child, signal.SIGKILL)
        resync = await admin.until("resync", WITHIN)
        assert "processing" in resync["reason"]
        await server.child(other_than=child)
        await customer_writes(server, "819000000102", "after the restart")
        again = await admin.until("message.received", WITHIN)
        assert again["conversation_id"] != received["conversation_id"]
    finally:
        for socket in (admin, aiko, sam):
            await socket.ws.close()


async def test_sigterm_stops_both_processes(split):
    server, _ = split
    child = await server.child()
    server.popen.send_signal(signal.SIGTERM)
    # uvicorn shuts down, then ends by the signal it caught (as systemd expects).
    assert server.popen.wait(30) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in server.log.read_text()

    async def gone() -> bool:
        return not alive(child)

    await eventually(gone)


async def test_single_process_layout_has_no_child(db_url, tmp_path):
    server = Server("serve", db_url, tmp_path, ("--processes", "1"))
    await server.start()
    try:
        await customer_writes(server, "819000000201")
        assert server.children() == []
    finally:
        server.stop()


def test_a_bad_placement_is_refused_before_serving(tmp_path):
    server = Server("serve", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", tmp_path)
    done = subprocess.run(
        [*server.command()],
        env={**server.env, "MADOGUCHI_WORKER_PLACEMENT": "sender=mars"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "sender=mars" in done.stdout + done.stderr
