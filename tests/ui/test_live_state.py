"""The desktop tells the truth: what it shows comes from the server on every load and
follows every change made elsewhere (another tab, a supervisor, the API), with two or
three browser contexts acting at once."""

from __future__ import annotations

import re

from playwright.async_api import expect
from sqlalchemy import select

from madoguchi.store.models import User
from tests.ui.conftest import ANA, sign_in
from tests.ui.test_agent_desktop import conversation_item, customer_says, sim_customer


async def user_id(ui, email: str) -> int:
    async with ui.runtime.db.read() as session:
        return await session.scalar(select(User.id).where(User.email == email))


def presence_of(page):
    return page.get_by_test_id("presence-select")


async def test_presence_and_the_open_conversation_survive_a_reload(ui, browser):
    ana = await sign_in(browser, ui, ANA)
    await expect(presence_of(ana)).to_have_attribute("data-presence", "offline")
    await expect(ana.get_by_test_id("no-conversations")).to_contain_text("Set yourself Available")
    await presence_of(ana).click()
    await ana.get_by_role("option", name="Available", exact=True).click()
    await expect(ana.get_by_test_id("no-conversations")).to_contain_text("You are Available")

    # Reload: the menu shows what the server holds, not a default.
    await ana.reload()
    await expect(presence_of(ana)).to_have_attribute("data-presence", "available")
    await expect(presence_of(ana)).to_have_value("Available")
    await expect(ana.get_by_test_id("no-conversations")).to_contain_text("You are Available")

    # The open conversation is in the URL: a reload (or a shared link) keeps it.
    kaito = await sim_customer(ui, "819000000031", "Kaito")
    await customer_says(ui, kaito, "Is the shop open on Sunday?")
    await ana.get_by_test_id("offer-accept").click()
    await conversation_item(ana, "Kaito").click()
    await expect(ana).to_have_url(re.compile(r"/conversations/\d+$"))
    await ana.reload()
    await expect(ana.get_by_test_id("chat-title")).to_have_text("Kaito")
    await expect(ana.get_by_test_id("messages")).to_contain_text("open on Sunday")
    await ana.go_back()  # the list without a conversation open
    await expect(ana.get_by_text("Pick a conversation on the left.")).to_be_visible()

    # A supervisor sets her Away: the open tab follows at once, a new sign-in reads it.
    ana_id = await user_id(ui, ANA)
    changed = await ui.api(
        "PUT", f"/api/v1/agents/{ana_id}/presence", json={"status": "away", "away_reason": "1:1"}
    )
    assert changed.status_code == 200, changed.text
    await expect(presence_of(ana)).to_have_value("Away")
    second = await sign_in(browser, ui, ANA)
    await expect(presence_of(second)).to_have_attribute("data-presence", "away")
    await expect(presence_of(second)).to_have_value("Away")
