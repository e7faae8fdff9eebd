"""The product and the simulator talking over real HTTP, as in ``make demo``: customers
write (text, media, username-only), agents answer, statuses come back, media goes both
ways; the sender retries what it may, refuses what it must, and never sends twice."""

from __future__ import annotations

import asyncio
import base64
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from madoguchi.store.models import Message, OutboxEntry
from tests.conftest import PHONE_NUMBER_ID, start_sim_stack
from tests.helpers import eventually, reached_the_product

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


async def customer(s, **fields) -> dict:
    response = await s.sim_client.post("/_sim/customers", json=fields)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def customer_says(s, cust: dict, body: dict) -> dict:
    response = await s.sim_client.post(f"/_sim/customers/{cust['user_id']}/messages", json=body)
    assert response.status_code == 200, response.text
    return await reached_the_product(s.sim_client, response.json())


async def conversation_of(s, wamid: str) -> dict:
    async def find():
        for conv in (await s.api("GET", "/api/v1/conversations")).json():
            messages = (await s.api("GET", f"/api/v1/conversations/{conv['id']}/messages")).json()
            if any(m["wamid"] == wamid for m in messages):
                # fetched again: the listing may predate the message's commit
                return (await s.api("GET", f"/api/v1/conversations/{conv['id']}")).json()
        return None

    return await eventually(find)


async def send(s, conversation_id: int, message: dict, **extra):
    return await s.api(
        "POST",
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"message": message, **extra},
    )


async def message_status(s, message_id: int, wanted: str) -> dict:
    async def check():
        m = (await s.api("GET", f"/api/v1/messages/{message_id}")).json()
        return m if m["status"] == wanted else None

    return await eventually(check)


async def sent_requests(s, path_contains: str = "/messages") -> list[dict]:
    response = await s.sim_client.get(
        "/_sim/sent", params={"path_contains": path_contains, "limit": 5000}
    )
    return [r for r in response.json()["requests"] if r["method"] == "POST"]


@pytest.fixture
async def s(sim_stack):
    return sim_stack


async def test_customer_text_reaches_the_api_and_the_agent_reply_reaches_the_phone(s):
    taro = await customer(s, wa_id="819012340001", name="Taro")
    sent = await customer_says(s, taro, {"type": "text", "text": "Hello, is my order ready?"})
    conv = await conversation_of(s, sent["wamid"])
    assert conv["contact"]["wa_id"] == "819012340001"
    assert conv["contact"]["user_id"] == taro["user_id"]

    reply = await send(s, conv["id"], {"type": "text", "text": {"body": "Yes, ready today!"}})
    assert reply.status_code == 202, reply.text
    assert reply.json()["status"] == "queued"
    message = await message_status(s, reply.json()["id"], "delivered")
    assert message["wamid"].startswith("wamid.")

    thread = (await s.sim_client.get(f"/_sim/customers/{taro['user_id']}/thread")).json()
    outgoing = [m for m in thread["messages"] if m["direction"] == "out"]
    assert outgoing[-1]["content"]["body"] == "Yes, ready today!"
    [request] = await sent_requests(s)
    assert request["body"]["to"] == "819012340001" and "recipient" not in request["body"]

    await s.sim_client.post(f"/_sim/customers/{taro['user_id']}/open", json={})
    await message_status(s, reply.json()["id"], "read")


async def test_agent_reading_marks_the_customer_messages_read_with_typing(s):
    rin = await customer(s, wa_id="819012340020")
    sent = await customer_says(s, rin, {"type": "text", "text": "are you there?"})
    conv = await conversation_of(s, sent["wamid"])
    response = await s.api(
        "POST", f"/api/v1/conversations/{conv['id']}/read", json={"typing_indicator": True}
    )
    assert response.status_code == 200 and response.json()["read_up_to"] == sent["wamid"]
    [request] = await sent_requests(s)
    assert request["body"] == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": sent["wamid"],
        "typing_indicator": {"type": "text"},
    }
    thread = (await s.sim_client.get(f"/_sim/customers/{rin['user_id']}/thread")).json()
    assert thread["typing"] is True
    assert [m["status"] for m in thread["messages"] if m["direction"] == "in"] == ["read"]


async def test_username_only_customer_is_answered_by_bsuid(s):
    hana = await customer(s, username="hanako_k", name="Hanako")
    sent = await customer_says(s, hana, {"type": "text", "text": "konnichiwa"})
    conv = await conversation_of(s, sent["wamid"])
    assert conv["contact"]["wa_id"] is None
    reply = await send(s, conv["id"], {"type": "text", "text": {"body": "Hello Hanako"}})
    await message_status(s, reply.json()["id"], "delivered")
    [request] = await sent_requests(s)
    assert request["body"]["recipient"] == hana["user_id"] and "to" not in request["body"]


async def test_inbound_image_is_downloaded_and_served_with_auth(s):
    aiko = await customer(s, wa_id="819012340002")
    sent = await customer_says(
        s,
        aiko,
        {
            "type": "image",
            "file_b64": base64.b64encode(PNG).decode(),
            "mime_type": "image/png",
            "caption": "my receipt",
        },
    )
    conv = await conversation_of(s, sent["wamid"])

    async def stored():
        [m] = (await s.api("GET", f"/api/v1/conversations/{conv['id']}/messages")).json()
        return m if m["media"]["status"] == "stored" else None

    message = await eventually(stored)
    assert message["text"] == "my receipt"
    content = await s.api("GET", message["media"]["download_url"])
    assert content.status_code == 200 and content.content == PNG
    assert content.headers["content-type"] == "image/png"
    anonymous = await s.client.get(message["media"]["download_url"])
    assert anonymous.status_code == 401


async def test_agent_attachment_is_uploaded_and_sent_by_id(s):
    kenji = await customer(s, wa_id="819012340003")
    sent = await customer_says(s, kenji, {"type": "text", "text": "send me the invoice"})
    conv = await conversation_of(s, sent["wamid"])
    upload = await s.api(
        "POST",
        "/api/v1/media",
        data={"phone_number_id": PHONE_NUMBER_ID},
        files={"file": ("invoice.png", PNG, "image/png")},
    )
    assert upload.status_code == 201, upload.text
    media_id = upload.json()["media_id"]
    reply = await send(
        s, conv["id"], {"type": "image", "image": {"id": media_id, "caption": "Invoice"}}
    )
    await message_status(s, reply.json()["id"], "delivered")
    too_big = await s.api(
        "POST",
        "/api/v1/media",
        data={"phone_number_id": PHONE_NUMBER_ID},
        files={"file": ("huge.png", b"\x89PNG" + b"0" * (5 * 1024 * 1024 + 1), "image/png")},
    )
    assert too_big.status_code == 413 and "5 MB" in too_big.json()["detail"]["message"], (
        too_big.text
    )


async def test_buttons_tapped_by_the_customer_come_back_as_replies(s):
    yui = await customer(s, wa_id="819012340004")
    sent = await customer_says(s, yui, {"type": "text", "text": "help"})
    conv = await conversation_of(s, sent["wamid"])
    buttons = {
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
    reply = await send(s, conv["id"], buttons)
    out = await message_status(s, reply.json()["id"], "delivered")
    tap = await customer_says(
        s, yui, {"type": "button_reply", "message_wamid": out["wamid"], "button_id": "support"}
    )

    async def stored():
        messages = (await s.api("GET", f"/api/v1/conversations/{conv['id']}/messages")).json()
        return next((m for m in messages if m["wamid"] == tap["wamid"]), None)

    answer = await eventually(stored)
    assert answer["type"] == "interactive" and answer["text"] == "Support"
    assert answer["reply_to_wamid"] == out["wamid"]


async def test_limits_are_refused_locally_with_the_limit_named(s):
    ken = await customer(s, wa_id="819012340005")
    sent = await customer_says(s, ken, {"type": "text", "text": "hi"})
    conv = await conversation_of(s, sent["wamid"])
    too_long = await send(s, conv["id"], {"type": "text", "text": {"body": "x" * 4097}})
    assert too_long.status_code == 422
    detail = too_long.json()["detail"]
    assert detail["field"] == "message.text.body" and "4,096" in detail["message"]
    four_buttons = {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "?"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": str(i), "title": f"B{i}"}} for i in range(4)
                ]
            },
        },
    }
    refused = await send(s, conv["id"], four_buttons)
    assert (
        refused.status_code == 422
        and "at most 3" in refused.json()["detail"]["message"]
        or "1 to 3" in refused.json()["detail"]["message"]
    )
    assert await sent_requests(s) == []


async def test_free_form_outside_the_window_is_refused_before_meta(s):
    mio = await customer(s, wa_id="819012340006")
    sent = await customer_says(s, mio, {"type": "text", "text": "hi"})
    conv = await conversation_of(s, sent["wamid"])
    async with s.runtime.db.write() as session:
        from madoguchi.store.models import Conversation

        await session.execute(
            update(Conversation)
            .where(Conversation.id == conv["id"])
            .values(last_inbound_at=datetime.now(UTC) - timedelta(hours=24, seconds=1))
        )
    refused = await send(s, conv["id"], {"type": "text", "text": {"body": "late"}})
    assert refused.status_code == 409 and refused.json()["detail"]["code"] == "window_closed"
    assert await sent_requests(s) == []


# ------------------------------------------------------------------------- sender behaviour


async def queue_for_new_customer(s, phone: str, text: str = "hello") -> tuple[int, int]:
    cust = await customer(s, wa_id=phone)
    sent = await customer_says(s, cust, {"type": "text", "text": "hi"})
    conv = await conversation_of(s, sent["wamid"])
    reply = await send(s, conv["id"], {"type": "text", "text": {"body": text}})
    assert reply.status_code == 202
    return conv["id"], reply.json()["id"]


@pytest.mark.parametrize("code", [130429, 131056, 500])
async def test_retryable_errors_are_retried_until_accepted(s, code):
    await s.sim_client.post(
        "/_sim/faults", json={"phone_number_id": PHONE_NUMBER_ID, "code": code, "count": 2}
    )
    _, message_id = await queue_for_new_customer(s, "819012340010")
    message = await message_status(s, message_id, "delivered")
    assert message["error_code"] is None
    assert len(await sent_requests(s)) == 3  # two refusals, one acceptance


@pytest.mark.parametrize(
    ("code", "words"),
    [(131047, "24 hours"), (131026, "could not deliver"), (190, "token"), (132001, "template")],
)
async def test_final_errors_fail_at_once_with_a_sentence_for_the_agent(s, code, words):
    await s.sim_client.post(
        "/_sim/faults", json={"phone_number_id": PHONE_NUMBER_ID, "code": code, "count": 1}
    )
    _, message_id = await queue_for_new_customer(s, "819012340011")
    message = await message_status(s, message_id, "failed")
    assert message["error_code"] == code
    assert words.lower() in message["error_message"].lower()
    await asyncio.sleep(0.2)
    assert len(await sent_requests(s)) == 1  # never retried


async def test_rate_limit_is_never_exceeded(db_url, tmp_path):
    s = await start_sim_stack(db_url, tmp_path, workers=False)
    try:
        async with s.runtime.db.write() as session:
            from madoguchi.store.models import PhoneNumber

            await session.execute(update(PhoneNumber).values(rate_limit_per_second=5))
        ids = []
        for i in range(4):
            conv_id, _ = await queue_for_new_customer(s, f"8190123401{i:02d}")
            for n in range(4):
                reply = await send(s, conv_id, {"type": "text", "text": {"body": f"m{n}"}})
                ids.append(reply.json()["id"])
        started = time.monotonic()
        await s.runtime.sender.drain()
        elapsed = time.monotonic() - started
        stamps = sorted(
            datetime.fromisoformat(r["at"]).timestamp() if isinstance(r["at"], str) else r["at"]
            for r in await sent_requests(s)
        )
        assert len(stamps) == 20
        assert not [r for r in await sent_requests(s) if r["status_code"] != 200]
        worst = max(sum(1 for t in stamps if a <= t < a + 1.0) for a in stamps)
        assert worst <= 5, (
            f"{worst} sends within one second: {[round(t - stamps[0], 3) for t in stamps]}"
        )
        assert elapsed >= 3.0  # 20 sends at 5/s cannot finish faster
    finally:
        await s.client.aclose()
        await s.sim_client.aclose()
        await s.served.stop()
        await s.sim.stop()


async def test_restart_resumes_unsent_rows_and_never_sends_twice(db_url, tmp_path):
    s = await start_sim_stack(db_url, tmp_path, workers=False)
    try:
        queued = [await queue_for_new_customer(s, f"8190123402{i:02d}") for i in range(3)]
        assert await sent_requests(s) == []  # no sender ran: rows wait in the outbox
        # A "restarted" process: a fresh sender over the same database.

        await s.runtime.new_sender().drain()
        for _, message_id in queued:
            await message_status(s, message_id, "delivered")
        await s.runtime.new_sender().drain()  # a second pass finds nothing to send
        assert len(await sent_requests(s)) == 3
        async with s.runtime.db.read() as session:
            states = set((await session.scalars(select(OutboxEntry.state))).all())
        assert states == {"done"}
    finally:
        await s.client.aclose()
        await s.sim_client.aclose()
        await s.served.stop()
        await s.sim.stop()


async def test_stopping_hands_back_the_rows_not_yet_sent(db_url, tmp_path):
    """Rows claimed but still waiting for the number's send window never reached Meta: a
    clean stop returns them to pending (not "outcome unknown"), and the next sender sends
    each exactly once."""
    from madoguchi.store.models import PhoneNumber

    s = await start_sim_stack(db_url, tmp_path, workers=False)
    try:
        async with s.runtime.db.write() as session:
            await session.execute(update(PhoneNumber).values(rate_limit_per_second=1))
        ids = [(await queue_for_new_customer(s, f"8190123404{i:02d}"))[1] for i in range(4)]
        runner = asyncio.create_task(s.runtime.sender.run())
        await eventually(lambda: _sent_count(s, 1))
        runner.cancel()
        handed_back = await s.runtime.sender.stop()
        assert handed_back == 3  # one sent at 1/s; the other three were waiting
        async with s.runtime.db.read() as session:
            rows = (await session.scalars(select(OutboxEntry).order_by(OutboxEntry.id))).all()
        assert [r.state for r in rows] == ["done", "pending", "pending", "pending"]
        assert [r.attempts for r in rows] == [1, 0, 0, 0]
        assert await s.runtime.sender.recover(startup=True) == 0  # nothing left ambiguous
        await s.runtime.new_sender().drain()
        for message_id in ids:
            await message_status(s, message_id, "delivered")
        assert len(await sent_requests(s)) == 4  # each once
    finally:
        await s.client.aclose()
        await s.sim_client.aclose()
        await s.served.stop()
        await s.sim.stop()


async def _sent_count(s, wanted: int) -> bool:
    return len(await sent_requests(s)) >= wanted


def test_a_numbers_share_in_flight_follows_its_rate():
    """A quarter of a second of sends, at least 32: a fixed share capped fast numbers."""
    from madoguchi.services.channel.outbox_sender import MIN_SHARE, Sender

    sender = Sender(None, None, None, None, None)
    sender._rates = {1: 80, 2: 1000, 3: 400}
    assert sender.share(1) == MIN_SHARE == 32
    assert sender.share(2) == 250
    assert sender.share(3) == 100
    assert sender.share(4) == MIN_SHARE  # not yet claimed for: the default 80/s


async def test_row_left_mid_send_is_failed_as_ambiguous_not_resent(db_url, tmp_path):
    s = await start_sim_stack(db_url, tmp_path, workers=False)
    try:
        _, message_id = await queue_for_new_customer(s, "819012340300")
        async with s.runtime.db.write() as session:
            await session.execute(
                update(OutboxEntry).values(
                    state="sending", claimed_at=datetime.now(UTC) - timedelta(minutes=10)
                )
            )
        recovered = await s.runtime.sender.recover(startup=False)
        assert recovered == 1
        async with s.runtime.db.read() as session:
            message = await session.get(Message, message_id)
        assert message.status == "failed" and "may or may not" in message.error_message
        await s.runtime.sender.drain()
        assert await sent_requests(s) == []
    finally:
        await s.client.aclose()
        await s.sim_client.aclose()
        await s.served.stop()
        await s.sim.stop()


async def test_a_backlog_on_a_slow_number_does_not_hold_up_another_number(db_url, tmp_path):
    """Sends are claimed per number: 100 queued first for a number limited to 1/s (more
    than a number's share of sends in flight) must not delay the 3 queued after them for
    another number; with one shared pool of slots they would wait behind the backlog."""
    from madoguchi.simulator.app import create_app as create_simulator_app
    from madoguchi.simulator.config import SimulatorConfig
    from madoguchi.store.models import PhoneNumber
    from tests.conftest import (
        APP_SECRET,
        SIM_NUMBER,
        VERIFY_TOKEN,
        WABA_ID,
        WORKSPACE_FILE,
        ServedApp,
        SimStack,
        start_stack,
    )

    fast_number = SIM_NUMBER.model_copy(
        update={"phone_number_id": "109000000000999", "display_phone_number": "+1 555 0999"}
    )
    product, sim = ServedApp(), ServedApp()
    await sim.start(
        create_simulator_app(
            SimulatorConfig(
                webhook_url=f"{product.url}/webhooks/whatsapp",
                app_secret=APP_SECRET,
                verify_token=VERIFY_TOKEN,
                public_url=sim.url,
                numbers=[SIM_NUMBER, fast_number],
                status_delay_seconds=0.01,
                delivery_backoff_seconds=0.05,
            )
        )
    )
    workspace = WORKSPACE_FILE + (
        f'        - phone_number_id: "{fast_number.phone_number_id}"\n'
        f'          display_phone_number: "{fast_number.display_phone_number}"\n'
        "          access_token: ${WA_TOKEN}\n"
    )
    assert WABA_ID in workspace
    base = await start_stack(
        db_url,
        tmp_path,
        graph_api_url=sim.url,
        workers=True,
        workspace_file=workspace,
        served=product,
    )
    s = SimStack(base, sim)
    try:
        async with s.runtime.db.write() as session:
            await session.execute(
                update(PhoneNumber)
                .where(PhoneNumber.phone_number_id == PHONE_NUMBER_ID)
                .values(rate_limit_per_second=1)
            )
        fast_convs = []
        for i in range(3):
            cust = await customer(s, wa_id=f"81901234031{i}")
            said = await customer_says(
                s,
                cust,
                {"type": "text", "text": "hi", "phone_number_id": fast_number.phone_number_id},
            )
            fast_convs.append((await conversation_of(s, said["wamid"]))["id"])
        slow_conv, _ = await queue_for_new_customer(s, "819012340300")

        async def unsent(ids: list[int]) -> int:
            async with s.runtime.db.read() as session:
                rows = await session.scalars(
                    select(Message.id).where(Message.id.in_(ids), Message.wamid.is_(None))
                )
                return len(rows.all())

        slow_ids = []
        for n in range(100):
            reply = await send(s, slow_conv, {"type": "text", "text": {"body": f"slow {n}"}})
            slow_ids.append(reply.json()["id"])

        # Contention, whatever the machine's speed: at 1 send/s most of the slow backlog is
        # still waiting when the other number's sends are queued behind it.
        backlog = await unsent(slow_ids)
        assert backlog > 10, f"only {backlog} slow sends left: the setup took too long"
        started = time.monotonic()
        fast_ids = []
        for conv_id in fast_convs:
            reply = await send(s, conv_id, {"type": "text", "text": {"body": "fast"}})
            fast_ids.append(reply.json()["id"])

        await eventually(lambda: _zero(unsent(fast_ids)))
        fast_done = time.monotonic() - started
        # Sent while the slow number's backlog still waits (behind it, they would have come
        # after every one of those): a condition, not a time limit.
        left = await unsent(slow_ids)
        assert left > 0, f"the other number's sends waited {fast_done:.1f} s, behind the backlog"
    finally:
        await s.client.aclose()
        await s.sim_client.aclose()
        await s.served.stop()
        await s.sim.stop()


async def _zero(count) -> bool:
    return await count == 0
