"""The agent desktop in a real browser: the guide's scenario from the customer's phone to
an agent's reply, several conversations at once, transfers, the closed 24-hour window,
and a dropped live connection."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

from playwright.async_api import expect
from sqlalchemy import select, update

from madoguchi.store.models import Conversation, Message
from tests.conftest import PHONE_NUMBER_ID
from tests.helpers import eventually, reached_the_product
from tests.ui.conftest import ANA, BEN, PAGE_CEILING_MS, screenshot, set_presence, sign_in
from tests.ui.held_reads import HeldRead


async def sim_customer(stack, wa_id: str, name: str) -> dict:
    response = await stack.sim_client.post("/_sim/customers", json={"wa_id": wa_id, "name": name})
    assert response.status_code in (200, 201), response.text
    return response.json()


async def customer_says(stack, customer: dict, text: str) -> None:
    response = await stack.sim_client.post(
        f"/_sim/customers/{customer['user_id']}/messages", json={"type": "text", "text": text}
    )
    assert response.status_code == 200, response.text
    await reached_the_product(stack.sim_client, response.json())


async def customer_thread(stack, customer: dict) -> list[dict]:
    response = await stack.sim_client.get(
        f"/_sim/customers/{customer['user_id']}/thread",
        params={"phone_number_id": PHONE_NUMBER_ID},
    )
    return response.json()["messages"]


async def customer_received(stack, customer: dict, needle: str) -> dict:
    async def check():
        for m in await customer_thread(stack, customer):
            if m["direction"] == "out" and needle in str(m["content"]):
                return m
        return None

    return await eventually(check)


def conversation_item(page, name: str):
    return page.get_by_test_id("conversation-item").filter(has_text=name)


async def two_conversations(ui, agent, first: tuple, second: tuple) -> int:
    """The agent (available) accepts a conversation from each ``(wa_id, name, text)``
    customer; the first one's id."""
    await set_presence(agent, "Available")
    for wa_id, name, text in (first, second):
        await customer_says(ui, await sim_customer(ui, wa_id, name), text)
        await agent.get_by_test_id("offer-accept").click()
    await expect(agent.get_by_test_id("conversation-item")).to_have_count(2)
    listed = (await ui.api("GET", "/api/v1/conversations")).json()
    return next(c["id"] for c in listed if c["contact"]["profile_name"] == first[1])


async def test_guide_scenario_phone_to_agent_and_back(ui, browser):
    """The getting-started guide: a customer writes on the phone page, an agent who is
    available is offered the conversation, accepts it from the keyboard, answers, and the
    customer sees the answer with the business's ticks turning blue."""
    agent = await sign_in(browser, ui, ANA)
    await set_presence(agent, "Available")

    phone_context = await browser.new_context(viewport={"width": 1100, "height": 760})
    phone = await phone_context.new_page()
    phone.set_default_timeout(PAGE_CEILING_MS)
    await phone.goto(ui.sim.url + "/")
    await phone.locator("#nc-phone").fill("+81 90 1234 5678")
    await phone.locator("#nc-name").fill("Taro Yamada")
    await phone.get_by_role("button", name="Create customer").click()
    await expect(phone.locator("#chat-title")).to_contain_text("Taro Yamada")
    await phone.locator("#text").fill("Hello, is my order ready?")
    await phone.locator("#send").click()

    offer = agent.get_by_test_id("offer")
    await expect(offer).to_contain_text("Taro Yamada")
    await expect(offer).to_contain_text("Support")
    await agent.keyboard.press("Alt+a")  # accept from the keyboard

    await expect(agent.get_by_test_id("offer")).to_have_count(0)
    await conversation_item(agent, "Taro Yamada").click()
    messages = agent.get_by_test_id("messages")
    await expect(messages).to_contain_text("Hello, is my order ready?")
    await expect(agent.get_by_test_id("side-panel")).to_contain_text("+819012345678")

    composer = agent.get_by_test_id("composer-input")
    await composer.fill("Hi Taro! It ships today.")
    await composer.press("Enter")
    await expect(composer).to_have_value("")

    await expect(phone.locator("#messages")).to_contain_text("Hi Taro! It ships today.")
    sent = agent.locator('[data-testid="message"][data-direction="outbound"]')
    await expect(sent).to_have_count(1)
    # The phone page is open on that chat, so the customer reads it: blue ticks.
    await expect(sent.get_by_test_id("ticks")).to_have_attribute("aria-label", "Read")

    await agent.get_by_label("Add a note").fill("Asked about order 1234; ships today.")
    await agent.get_by_role("button", name="Save note").click()
    await expect(agent.get_by_test_id("notes")).to_contain_text("order 1234")

    await screenshot(agent, "agent-desktop.png")
    await screenshot(phone, "customer-phone.png")

    # Wrap up with a disposition.
    await agent.get_by_test_id("wrapup-button").click()
    await expect(agent.get_by_test_id("chat-title").locator("xpath=..")).to_contain_text("Wrap-up")
    await agent.get_by_test_id("close-button").click()
    await agent.get_by_test_id("disposition-select").click()
    await agent.get_by_role("option", name="Solved").click()
    await agent.get_by_test_id("close-submit").click()
    await expect(agent.get_by_test_id("composer-readonly")).to_contain_text("closed")
    rows = (await ui.api("GET", "/api/v1/conversations")).json()
    assert rows[0]["status"] == "closed" and rows[0]["disposition_code"] == "solved"


async def test_agent_with_two_conversations(ui, browser):
    """Two customers at once: unread counts, waiting time, switching from the keyboard,
    and each reply reaching only its own customer."""
    agent = await sign_in(browser, ui, ANA)
    await set_presence(agent, "Available")
    kenji = await sim_customer(ui, "819000000001", "Kenji")
    mei = await sim_customer(ui, "819000000002", "Mei")
    await customer_says(ui, kenji, "Where is my parcel?")
    await expect(agent.get_by_test_id("offer")).to_contain_text("Kenji")
    await agent.keyboard.press("Alt+a")
    await expect(agent.get_by_test_id("offer")).to_have_count(0)
    await customer_says(ui, mei, "I want to change my address")
    await expect(agent.get_by_test_id("offer")).to_contain_text("Mei")
    await agent.get_by_test_id("offer-accept").click()

    await expect(agent.get_by_test_id("conversation-item")).to_have_count(2)
    # Both wait for an answer: the list says for how long.
    await expect(conversation_item(agent, "Kenji").get_by_test_id("waiting")).to_be_visible()

    await conversation_item(agent, "Mei").click()
    await expect(agent.get_by_test_id("chat-title")).to_have_text("Mei")
    await customer_says(ui, kenji, "Hello?")
    await customer_says(ui, kenji, "Anyone there?")
    await expect(conversation_item(agent, "Kenji").get_by_test_id("unread")).to_have_text("2")

    composer = agent.get_by_test_id("composer-input")
    await composer.fill("Sure Mei, what is the new address?")
    await composer.press("Enter")
    await expect(composer).to_have_value("")

    # Alt+arrow moves to the other conversation; its unread count is cleared. The reply
    # just sent makes Mei's the newest conversation, first in the list, once the list has
    # caught up (reading the order before that would race with the re-sort).
    await expect(agent.get_by_test_id("conversation-item").first).to_contain_text("Mei")
    await agent.keyboard.press("Alt+ArrowDown")
    await expect(agent.get_by_test_id("chat-title")).to_have_text("Kenji")
    await expect(conversation_item(agent, "Kenji").get_by_test_id("unread")).to_have_count(0)
    await expect(agent.get_by_test_id("messages")).to_contain_text("Anyone there?")
    await composer.fill("Hi Kenji, it arrives tomorrow.")
    await composer.press("Enter")
    await expect(composer).to_have_value("")

    await customer_received(ui, mei, "new address")
    await customer_received(ui, kenji, "arrives tomorrow")
    assert "tomorrow" not in str(await customer_thread(ui, mei))
    assert "address" not in str(
        [m for m in await customer_thread(ui, kenji) if m["direction"] == "out"]
    )


async def test_transfer_to_another_queue(ui, browser):
    """Ana hands a billing question to the Billing queue; Ben is offered it, accepts, and
    sees the whole conversation; it leaves Ana's list."""
    ana = await sign_in(browser, ui, ANA)
    ben = await sign_in(browser, ui, BEN)
    await set_presence(ana, "Available")
    await set_presence(ben, "Available")
    yuki = await sim_customer(ui, "819000000003", "Yuki")
    await customer_says(ui, yuki, "I was charged twice")
    await ana.get_by_test_id("offer-accept").click()
    await conversation_item(ana, "Yuki").click()
    await expect(ana.get_by_test_id("messages")).to_contain_text("charged twice")

    await ana.get_by_test_id("transfer-button").click()
    await ana.get_by_test_id("transfer-queue").click()
    await ana.get_by_role("option", name="Billing").click()
    await ana.get_by_label("Note for the next agent (internal)").fill("Double charge, card ends 42")
    await ana.get_by_test_id("transfer-submit").click()

    await expect(ben.get_by_test_id("offer")).to_contain_text("Yuki")
    await ben.keyboard.press("Alt+a")
    await conversation_item(ben, "Yuki").click()
    await expect(ben.get_by_test_id("messages")).to_contain_text("charged twice")
    await expect(conversation_item(ana, "Yuki")).to_have_count(0)
    composer = ben.get_by_test_id("composer-input")
    await composer.fill("Refund on its way.")
    await composer.press("Enter")
    await expect(composer).to_have_value("")
    await customer_received(ui, yuki, "Refund on its way")


async def test_closed_window_composer_sends_a_template(ui, browser):
    """After 24 hours of customer silence the composer explains that only a template may
    be sent, and sends the approved one the agent picks."""
    synced = await ui.api("POST", "/api/v1/templates/sync")
    assert synced.status_code == 200, synced.text
    agent = await sign_in(browser, ui, ANA)
    await set_presence(agent, "Available")
    hana = await sim_customer(ui, "819000000004", "Hana")
    await customer_says(ui, hana, "Please call me back tomorrow")
    await agent.get_by_test_id("offer-accept").click()
    await expect(agent.get_by_test_id("chat-title")).to_have_text("Hana")

    long_ago = datetime.now(UTC) - timedelta(hours=25)
    async with ui.runtime.db.write() as session:
        await session.execute(
            update(Conversation).values(last_inbound_at=long_ago, free_entry_point_at=None)
        )
    await agent.reload()
    await conversation_item(agent, "Hana").click()
    closed = agent.get_by_test_id("composer-window-closed")
    await expect(closed).to_contain_text("The 24-hour window is closed")
    await expect(closed).to_contain_text("only lets a business send an approved template")
    await expect(agent.get_by_test_id("composer-input")).to_have_count(0)

    await expect(agent.get_by_test_id("template-select")).to_have_value(re.compile(r"order_update"))
    await expect(agent.get_by_test_id("template-preview")).to_contain_text("your order is on")
    await agent.get_by_label("Value for 1").fill("Hana")
    await agent.get_by_test_id("template-send").click()
    await expect(
        agent.locator('[data-testid="message"][data-direction="outbound"][data-type="template"]')
    ).to_have_count(1)
    received = await customer_received(ui, hana, "order_update")
    assert received["type"] == "template"
    await screenshot(agent, "closed-window-template.png")


async def test_reconnect_fetches_missed_messages_once(ui, browser):
    """Messages that arrive while the live link is down are fetched after the last one
    on reconnect: none lost, none twice."""
    agent = await sign_in(browser, ui, ANA)
    await set_presence(agent, "Available")
    sora = await sim_customer(ui, "819000000005", "Sora")
    await customer_says(ui, sora, "first")
    await agent.get_by_test_id("offer-accept").click()
    await expect(agent.get_by_test_id("messages")).to_contain_text("first")

    await agent.evaluate("window.madoguchiLive.socket.stop()")
    await expect(agent.get_by_test_id("live-state")).not_to_have_attribute("data-state", "open")
    await customer_says(ui, sora, "second, while you were away")
    await customer_says(ui, sora, "third")
    await agent.wait_for_timeout(300)
    await expect(agent.get_by_test_id("messages")).not_to_contain_text("third")
    await agent.evaluate("window.madoguchiLive.socket.start()")
    await expect(agent.get_by_test_id("live-state")).to_have_attribute("data-state", "open")
    inbound = agent.locator('[data-testid="message"][data-direction="inbound"]')
    await expect(inbound).to_have_count(3)
    await expect(inbound.nth(2)).to_contain_text("third")
    await customer_says(ui, sora, "fourth")
    await expect(inbound).to_have_count(4)


async def test_a_message_sent_while_the_history_loads_is_kept(ui, browser):
    """A message the agent sends (or receives) while the conversation's history is still
    on its way shows once the history lands, though that answer was read before it."""
    agent = await sign_in(browser, ui, ANA)
    await set_presence(agent, "Available")
    rin = await sim_customer(ui, "819000000009", "Rin")
    await customer_says(ui, rin, "is my parcel lost?")
    await agent.get_by_test_id("offer-accept").click()
    await expect(agent.get_by_test_id("messages")).to_contain_text("parcel lost")

    history = await HeldRead(agent, r"/conversations/\d+/messages\?limit=500").install()
    await agent.reload()
    if not await agent.get_by_test_id("chat-title").count():
        await conversation_item(agent, "Rin").click()
    await expect(agent.get_by_test_id("chat-title")).to_have_text("Rin")
    await history.taken()
    await send_and_see_it_delivered(agent, "Sent before the history came")
    await history.release()

    messages = agent.get_by_test_id("messages")
    await expect(messages).to_contain_text("parcel lost")
    ours = agent.locator('[data-testid="message"][data-direction="outbound"]')
    await expect(ours.filter(has_text="Sent before the history came")).to_have_count(1)
    # …with the status its events brought while the history was on its way.
    await expect(ours.get_by_test_id("ticks")).to_have_attribute("aria-label", "Delivered")


async def send_and_see_it_delivered(agent, text: str) -> None:
    """The agent sends ``text``; returns once the page has had its live events up to
    "delivered" (they come while a test holds the conversation's history back)."""
    # The page's live events, seen after the desktop's own handler has had them.
    await agent.evaluate(
        "() => { window.seen = [];"
        " window.madoguchiLive.subscribe({onEvent: (e) => window.seen.push(e)}); }"
    )
    composer = agent.get_by_test_id("composer-input")
    await composer.fill(text)
    async with agent.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/messages")
    ) as sending:
        await composer.press("Enter")
    sent = await sending.value
    assert sent.status == 202
    await agent.wait_for_function(
        "id => window.seen.some((e) => e.event === 'message.status' && e.message_id === id"
        " && e.status === 'delivered')",
        arg=(await sent.json())["id"],
    )


async def test_a_long_history_loads_whole_around_a_message_sent_meanwhile(ui, browser):
    """A history longer than a page, with a message sent while its first page is on its
    way: every older message is read too (the next page follows the last row read, not
    the newer message sent meanwhile)."""
    agent = await sign_in(browser, ui, ANA)
    await set_presence(agent, "Available")
    yuna = await sim_customer(ui, "819000000012", "Yuna")
    await customer_says(ui, yuna, "message 0")
    await agent.get_by_test_id("offer-accept").click()
    await expect(agent.get_by_test_id("messages")).to_contain_text("message 0")
    async with ui.runtime.db.write() as session:
        conversation = await session.scalar(select(Conversation))
        session.add_all(
            Message(
                workspace_id=conversation.workspace_id,
                conversation_id=conversation.id,
                direction="inbound",
                type="text",
                status="received",
                text=f"message {i}",
                content={"type": "text", "text": {"body": f"message {i}"}},
            )
            for i in range(1, 620)
        )

    first_page = await HeldRead(agent, r"/conversations/\d+/messages\?limit=500$").install()
    await agent.reload()
    if not await agent.get_by_test_id("chat-title").count():
        await conversation_item(agent, "Yuna").click()
    await first_page.taken()
    await send_and_see_it_delivered(agent, "Sent while the first page came")
    await first_page.release()

    inbound = agent.locator('[data-testid="message"][data-direction="inbound"]')
    await expect(inbound).to_have_count(620)
    await expect(inbound.nth(500)).to_contain_text("message 500")
    ours = agent.locator('[data-testid="message"][data-direction="outbound"]')
    await expect(ours).to_have_count(1)


async def test_side_panel_notes_belong_to_the_conversation_shown(ui, browser):
    """The notes of a conversation left before its notes arrived never show on the next
    one, and a note saved while a conversation's notes load is kept when they land."""
    agent = await sign_in(browser, ui, ANA)
    kai_id = await two_conversations(
        ui, agent, ("819000000010", "Kai", "my card was declined"), ("819000000011", "Mio", "hi")
    )
    noted = await ui.api(
        "POST", f"/api/v1/conversations/{kai_id}/notes", json={"body": "Card issuer blocks it"}
    )
    assert noted.status_code == 201, noted.text

    await conversation_item(agent, "Mio").click()  # Kai's read comes after the hold is set
    await expect(agent.get_by_test_id("chat-title")).to_have_text("Mio")
    kai_notes = await HeldRead(agent, rf"/conversations/{kai_id}/notes$").install()
    notes = agent.get_by_test_id("notes")
    await conversation_item(agent, "Kai").click()
    await expect(agent.get_by_test_id("chat-title")).to_have_text("Kai")
    await kai_notes.taken()
    await conversation_item(agent, "Mio").click()
    await expect(agent.get_by_test_id("chat-title")).to_have_text("Mio")
    await agent.get_by_label("Add a note").fill("Wants the family plan")
    await agent.get_by_role("button", name="Save note").click()
    await expect(notes).to_contain_text("Wants the family plan")
    await kai_notes.release()  # Kai's notes land with Mio's panel shown
    await expect(notes).to_contain_text("Wants the family plan")
    await expect(notes).not_to_contain_text("Card issuer")

    # Back to Kai: a note saved while Kai's notes load is there when they land (the
    # note's own live event re-reads them meanwhile; that newer read passes).
    kai_notes.arm()
    await conversation_item(agent, "Kai").click()
    await expect(agent.get_by_test_id("chat-title")).to_have_text("Kai")
    await kai_notes.taken()
    await agent.get_by_label("Add a note").fill("Offered a bank transfer")
    await agent.get_by_role("button", name="Save note").click()
    await expect(notes).to_contain_text("Card issuer blocks it")  # from the newer read
    await kai_notes.release()
    await expect(notes).to_contain_text("Offered a bank transfer")
    await expect(notes).to_contain_text("Card issuer blocks it")
    await expect(notes).not_to_contain_text("family plan")


PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


async def test_every_message_type_is_rendered(ui, browser):
    """Images inline, documents to download, locations as a map link, contact cards, a
    reply with its quote, a reaction on the message it is about, and a failed send with
    WhatsApp's reason in words."""
    agent = await sign_in(browser, ui, ANA)
    await set_presence(agent, "Available")
    nao = await sim_customer(ui, "819000000006", "Nao")
    await customer_says(ui, nao, "hello")
    await agent.get_by_test_id("offer-accept").click()
    composer = agent.get_by_test_id("composer-input")
    await composer.fill("How can I help?")
    await composer.press("Enter")
    ours = await customer_received(ui, nao, "How can I help?")

    async def says(spec: dict) -> None:
        response = await ui.sim_client.post(f"/_sim/customers/{nao['user_id']}/messages", json=spec)
        assert response.status_code == 200, response.text

    await says(
        {
            "type": "image",
            "file_b64": base64.b64encode(PNG).decode(),
            "mime_type": "image/png",
            "caption": "the broken part",
        }
    )
    await says(
        {
            "type": "document",
            "file_b64": base64.b64encode(b"%PDF-1.4 receipt").decode(),
            "mime_type": "application/pdf",
            "filename": "receipt.pdf",
        }
    )
    await says(
        {
            "type": "location",
            "latitude": 35.6812,
            "longitude": 139.7671,
            "name": "Tokyo Station",
            "address": "1 Chome Marunouchi",
        }
    )
    await says({"type": "contacts", "name": "Keiko Sato", "phone": "+81 90 5555 0000"})
    await says({"type": "text", "text": "this one", "reply_to": ours["wamid"]})
    await says({"type": "reaction", "message_wamid": ours["wamid"], "emoji": "👍"})

    messages = agent.get_by_test_id("messages")
    image = messages.locator('[data-type="image"] img')
    await expect(image).to_have_attribute("src", re.compile(r"^/api/v1/media/\d+/content$"))
    await expect(image).to_have_attribute("alt", "the broken part")
    link = messages.get_by_test_id("document-link")
    await expect(link).to_contain_text("receipt.pdf")
    await expect(link).to_have_attribute("download", "receipt.pdf")
    await expect(messages.get_by_test_id("map-link")).to_have_attribute(
        "href", re.compile(r"openstreetmap\.org/\?mlat=35\.6812&mlon=139\.7671")
    )
    await expect(messages).to_contain_text("Tokyo Station")
    await expect(messages.locator('[data-type="contacts"]')).to_contain_text("Keiko Sato")
    reply = messages.locator('[data-type="text"]').filter(has_text="this one")
    await expect(reply.get_by_test_id("quote")).to_have_text("How can I help?")
    mine = messages.locator('[data-direction="outbound"]').first
    await expect(mine.locator(".reaction-badge")).to_have_text("👍")

    fault = await ui.sim_client.post(
        "/_sim/faults", json={"phone_number_id": PHONE_NUMBER_ID, "code": 131026}
    )
    assert fault.status_code in (200, 201), fault.text
    await composer.fill("Is this the part?")
    await composer.press("Enter")
    failed = messages.locator('[data-status="failed"]')
    await expect(failed).to_have_count(1)
    await expect(failed.get_by_test_id("message-error")).to_contain_text("Not delivered:")
    await screenshot(agent, "message-types.png")
