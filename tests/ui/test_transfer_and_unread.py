"""The agent desktop in a real browser: an *agent* transfers a conversation to a named
colleague picked from the directory, and unread counts survive a page reload because
the server keeps each person's read marker."""

from __future__ import annotations

import re

from playwright.async_api import expect
from sqlalchemy import func, select

from madoguchi.store.models import ConversationRead, Message
from tests.helpers import eventually
from tests.ui.conftest import ANA, BEN, screenshot, set_presence, sign_in
from tests.ui.test_agent_desktop import (
    conversation_item,
    customer_received,
    customer_says,
    sim_customer,
)


async def test_agent_transfers_to_a_named_available_colleague(ui, browser):
    ana = await sign_in(browser, ui, ANA)
    ben = await sign_in(browser, ui, BEN)
    await set_presence(ana, "Available")
    await set_presence(ben, "Available")
    riku = await sim_customer(ui, "819000000011", "Riku")
    await customer_says(ui, riku, "Can Ben call me back?")
    await ana.get_by_test_id("offer-accept").click()
    await conversation_item(ana, "Riku").click()
    await expect(ana.get_by_test_id("messages")).to_contain_text("Ben call me back")

    await ana.get_by_test_id("transfer-button").click()
    await ana.get_by_test_id("transfer-kind").get_by_text("To an agent").click()
    await ana.get_by_test_id("transfer-agent").click()
    # Ben is available with room; Ada (an admin, offline) is listed but cannot be picked;
    # Ana is not offered to herself.
    ben_option = ana.get_by_role("option", name=re.compile(r"^Ben Agent · Available · 0\/3"))
    await expect(ben_option).to_be_visible()
    ada_option = ana.get_by_role("option", name=re.compile(r"^Ada Admin · Offline"))
    await expect(ada_option).to_have_attribute("data-combobox-disabled", "true")
    await expect(ana.get_by_role("option", name=re.compile(r"^Ana Agent"))).to_have_count(0)
    await ben_option.click()
    await ana.get_by_label("Note for the next agent (internal)").fill("Wants a call back")
    await screenshot(ana, "transfer-to-agent.png")
    await ana.get_by_test_id("transfer-submit").click()

    await expect(ben.get_by_test_id("offer")).to_contain_text("Riku")
    await ben.get_by_test_id("offer-accept").click()
    await conversation_item(ben, "Riku").click()
    await expect(ben.get_by_test_id("messages")).to_contain_text("Ben call me back")
    await expect(ben.get_by_test_id("notes")).to_contain_text("Wants a call back")
    await expect(conversation_item(ana, "Riku")).to_have_count(0)
    composer = ben.get_by_test_id("composer-input")
    await composer.fill("Hi Riku, Ben here.")
    await composer.press("Enter")
    await customer_received(ui, riku, "Ben here")


async def test_unread_counts_survive_a_reload(ui, browser):
    agent = await sign_in(browser, ui, ANA)
    await set_presence(agent, "Available")
    kenji = await sim_customer(ui, "819000000012", "Kenji")
    mei = await sim_customer(ui, "819000000013", "Mei")
    await customer_says(ui, kenji, "Where is my parcel?")
    await agent.get_by_test_id("offer-accept").click()
    await expect(agent.get_by_test_id("messages")).to_contain_text("Where is my parcel?")
    await customer_says(ui, mei, "Hello")
    await agent.get_by_test_id("offer-accept").click()
    await expect(agent.get_by_test_id("chat-title")).to_have_text("Mei")

    await customer_says(ui, kenji, "Hello?")
    await customer_says(ui, kenji, "Anyone there?")
    await expect(conversation_item(agent, "Kenji").get_by_test_id("unread")).to_have_text("2")

    await agent.reload()
    await expect(agent.get_by_test_id("conversation-item")).to_have_count(2)
    await expect(conversation_item(agent, "Kenji").get_by_test_id("unread")).to_have_text("2")
    await expect(conversation_item(agent, "Mei").get_by_test_id("unread")).to_have_count(0)
    await screenshot(agent, "unread-after-reload.png")

    # Opening it reads it, for good: another reload shows no count.
    await conversation_item(agent, "Kenji").click()
    await expect(agent.get_by_test_id("messages")).to_contain_text("Anyone there?")
    await expect(conversation_item(agent, "Kenji").get_by_test_id("unread")).to_have_count(0)

    async def marker_saved():
        async with ui.runtime.db.read() as session:
            newest = await session.scalar(select(func.max(Message.id)))
            return await session.scalar(
                select(ConversationRead.id).where(ConversationRead.last_read_message_id == newest)
            )

    await eventually(marker_saved)
    await agent.reload()
    await expect(agent.get_by_test_id("conversation-item")).to_have_count(2)
    await expect(agent.get_by_test_id("unread")).to_have_count(0)

    # Mei writes while Ana is elsewhere: counted, and still counted after a reload.
    await customer_says(ui, mei, "Are you there?")
    await expect(conversation_item(agent, "Mei").get_by_test_id("unread")).to_have_text("1")
    await agent.reload()
    await expect(conversation_item(agent, "Mei").get_by_test_id("unread")).to_have_text("1")
