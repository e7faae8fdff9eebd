"""The desktop tells the truth: what it shows comes from the server on every load and
follows every change made elsewhere (another tab, a supervisor, the API), with two or
three browser contexts acting at once."""

from __future__ import annotations

import re

from playwright.async_api import expect
from sqlalchemy import select

from madoguchi.store.models import User
from tests.ui.conftest import ADMIN, ANA, BEN, set_presence, sign_in
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
    await expect(ana.get_by_test_id("offer-title")).to_have_text("New conversation: Kaito")
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


async def test_transfer_presence_notes_and_close_are_seen_live_by_everyone(ui, browser):
    """Ana hands a conversation to Ben, who only just went Available; Ben closes it while
    Ada (admin) watches "All open". Nobody reloads anything."""
    ana = await sign_in(browser, ui, ANA)
    ben = await sign_in(browser, ui, BEN)
    ada = await sign_in(browser, ui, ADMIN)
    await set_presence(ana, "Available")
    yui = await sim_customer(ui, "819000000032", "Yui")
    await customer_says(ui, yui, "I was charged twice")
    await ana.get_by_test_id("offer-accept").click()
    await conversation_item(ana, "Yui").click()
    await conversation_item(ada, "Yui").click()

    # The dialog is open while Ben goes Available: his entry follows without reopening.
    await ana.get_by_test_id("transfer-button").click()
    await ana.get_by_test_id("transfer-kind").get_by_text("To an agent").click()
    await ana.get_by_test_id("transfer-agent").click()
    await expect(
        ana.get_by_role("option", name=re.compile(r"^Ben Agent · Offline"))
    ).to_be_visible()
    await set_presence(ben, "Available")
    ben_option = ana.get_by_role("option", name=re.compile(r"^Ben Agent · Available"))
    await expect(ben_option).to_be_visible()
    await ben_option.click()
    await ana.get_by_label("Note for the next agent (internal)").fill("Refund the second charge")
    await ana.get_by_test_id("transfer-submit").click()

    # Ana's screen no longer pretends the conversation is hers (nor offers it to her).
    await expect(ana.get_by_test_id("composer-readonly")).to_contain_text("A colleague has")
    await expect(ana.get_by_test_id("composer-input")).to_have_count(0)

    # Ben gets it announced as a transfer with Ana's note, then the note signed by her.
    await expect(ben.get_by_test_id("offer-title")).to_have_text("Transferred to you: Yui")
    await expect(ben.get_by_test_id("offer-note")).to_have_text("Note: Refund the second charge")
    await ben.get_by_test_id("offer-accept").click()
    await conversation_item(ben, "Yui").click()
    notes = ben.get_by_test_id("notes")
    await expect(notes).to_contain_text("Refund the second charge")
    await expect(notes.get_by_test_id("note-meta")).to_contain_text("Ana Agent")
    # A tag Ben adds shows in Ada's open side panel at once.
    tags = ben.get_by_test_id("side-panel").get_by_label("Tags")
    await tags.fill("refund")
    await tags.press("Enter")
    await expect(ada.get_by_test_id("side-panel").locator(".mantine-Pill-label")).to_have_text(
        ["refund"]
    )

    # Ada follows the hand-over, then Ben closes: it leaves "All open" and the history
    # in her open side panel says Closed.
    await expect(ada.get_by_test_id("chat-title").locator("xpath=..")).to_contain_text("Active")
    await ben.get_by_test_id("close-button").click()
    await ben.get_by_test_id("disposition-select").click()
    await ben.get_by_role("option", name="Solved").click()
    await ben.get_by_test_id("close-submit").click()
    await expect(ada.get_by_test_id("composer-readonly")).to_contain_text("closed")
    await expect(ana.get_by_test_id("composer-readonly")).to_contain_text("closed")
    await expect(ana.get_by_test_id("chat-title").locator("xpath=..")).to_contain_text("Closed")
    await expect(ada.get_by_test_id("history")).to_contain_text("Closed")
    await ada.goto(ui.url + "/")
    await expect(ada.get_by_test_id("no-conversations")).to_be_visible()
    await expect(conversation_item(ada, "Yui")).to_have_count(0)


async def test_a_conversation_one_may_not_see_says_so(ui, browser):
    """A shared link to another team's conversation (or one that does not exist)."""
    ana = await sign_in(browser, ui, ANA)
    await ana.goto(ui.url + "/conversations/999999")
    await expect(ana.get_by_test_id("conversation-gone")).to_contain_text("not yours any more")
    await ana.get_by_role("button", name="Back to my conversations").click()
    await expect(ana).to_have_url(ui.url + "/")
