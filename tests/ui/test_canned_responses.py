"""Canned responses in a real browser: an admin writes one, an agent inserts it by typing
``/hours`` in the composer, and the customer reads it (name filled in) on the phone page."""

from __future__ import annotations

from playwright.async_api import expect

from tests.ui.conftest import ADMIN, ANA, PAGE_CEILING_MS, set_presence, sign_in
from tests.ui.test_admin_and_flows import open_admin_page


async def test_agent_inserts_a_canned_response_by_shortcut(ui, browser):
    admin = await sign_in(browser, ui, ADMIN)
    await open_admin_page(admin, "Canned responses")
    await admin.get_by_test_id("new-canned").click()
    form = admin.get_by_test_id("canned-form")
    await form.get_by_test_id("canned-shortcut").fill("Opening Hours")
    await form.get_by_test_id("canned-title").fill("Opening hours")
    await form.get_by_test_id("canned-body").fill("Hi {{contact.name}}, we are open 9:00-18:00.")
    await form.get_by_test_id("canned-save").click()
    # The server's error shows next to the field it names.
    await expect(form.get_by_test_id("canned-shortcut")).to_have_attribute("aria-invalid", "true")
    await form.get_by_test_id("canned-shortcut").fill("hours")
    await form.get_by_test_id("canned-save").click()
    await expect(admin.get_by_test_id("canned-row")).to_contain_text("/hours")

    agent = await sign_in(browser, ui, ANA)
    await set_presence(agent, "Available")
    phone_context = await browser.new_context(viewport={"width": 1100, "height": 760})
    phone = await phone_context.new_page()
    phone.set_default_timeout(PAGE_CEILING_MS)
    await phone.goto(ui.sim.url + "/")
    await phone.locator("#nc-phone").fill("+81 90 5555 0000")
    await phone.locator("#nc-name").fill("Hanako Sato")
    await phone.get_by_role("button", name="Create customer").click()
    await expect(phone.locator("#chat-title")).to_contain_text("Hanako Sato")
    await phone.locator("#text").fill("When are you open?")
    await phone.locator("#send").click()

    await expect(agent.get_by_test_id("offer")).to_contain_text("Hanako Sato")
    await agent.keyboard.press("Alt+a")
    await agent.get_by_test_id("conversation-item").filter(has_text="Hanako Sato").click()
    await expect(agent.get_by_test_id("messages")).to_contain_text("When are you open?")

    composer = agent.get_by_test_id("composer-input")
    await composer.click()
    await composer.press_sequentially("/hou")
    suggestions = agent.get_by_test_id("canned-suggestions")
    await expect(suggestions).to_contain_text("/hours")
    await expect(suggestions).to_contain_text("Opening hours")
    await composer.press("Escape")  # closes the list, keeps the text
    await expect(suggestions).to_have_count(0)
    await expect(composer).to_have_value("/hou")
    await composer.press_sequentially("rs")
    await expect(composer).to_have_value("/hours")
    await expect(suggestions).to_be_visible()
    await composer.press("ArrowDown")
    await composer.press("Enter")  # inserts, does not send
    text = "Hi Hanako Sato, we are open 9:00-18:00."
    await expect(composer).to_have_value(text)
    await expect(suggestions).to_have_count(0)
    await composer.press("Enter")
    await expect(composer).to_have_value("")

    await expect(phone.locator("#messages")).to_contain_text(text)
