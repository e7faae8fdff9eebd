"""Connect with Meta in a real browser: the admin runs Embedded Signup through the
simulator's popup end to end, each step's failure is shown and retried, the new number
then receives a message, and its health page shows warnings from simulated states."""

from __future__ import annotations

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from madoguchi.store.models import Conversation, Message
from tests.conftest import SIM_NUMBER
from tests.ui.conftest import ADMIN, screenshot, sign_in, ui_stack
from tests.ui.test_admin_and_flows import open_admin_page


@pytest.fixture
async def ui_meta(tmp_path, sqlite_template):
    async with ui_stack(tmp_path, sqlite_template, numbers=[SIM_NUMBER]) as stack:
        yield stack


async def run_popup(page, phone: str, *, existing_pin: str | None = None, cancel: bool = False):
    """Click through the simulated Meta popup that the launch button opens."""
    async with page.expect_popup() as opened:
        await page.get_by_test_id("signup-launch").click()
    popup = await opened.value
    await popup.wait_for_load_state()
    if cancel:
        await popup.get_by_role("button", name="Cancel").click()
        return
    await popup.get_by_role("button", name="Next").click()  # logged in
    await popup.get_by_label("Business portfolio name").fill("Kobe Bakery")
    await popup.get_by_role("button", name="Next").click()
    await popup.get_by_label("Phone number").fill(phone)
    if existing_pin:
        await popup.get_by_label("Two-step verification PIN").fill(existing_pin)
    await popup.get_by_role("button", name="Next").click()
    await popup.get_by_label("Verification code").fill("123456")
    await popup.get_by_role("button", name="Finish").click()


def step(panel, name: str):
    return panel.locator(f'[data-testid="signup-step"][data-step="{name}"]')


async def test_admin_connects_a_number_with_meta_and_it_receives_messages(ui_meta, browser):
    page = await sign_in(browser, ui_meta, ADMIN)
    await open_admin_page(page, "WhatsApp numbers")
    await expect(page.get_by_test_id("number-row")).to_have_count(1)
    await page.get_by_test_id("connect-with-meta").click()
    panel = page.get_by_test_id("signup-panel")

    # Closing the popup halfway connects nothing, and says so.
    await panel.get_by_test_id("signup-pin").fill("123456")
    await run_popup(page, "+1 555 0142", cancel=True)
    await expect(panel.get_by_test_id("signup-note")).to_contain_text("closed at the step")

    # Meta refuses the subscription once: the step is named, the retry finishes it.
    await ui_meta.sim_client.post(
        "/_sim/signup/faults", json={"step": "subscribe", "code": 200, "details": "Permissions"}
    )
    await run_popup(page, "+1 555 0142")
    await expect(step(panel, "subscribe")).to_have_attribute("data-state", "failed")
    await expect(step(panel, "exchange")).to_have_attribute("data-state", "done")
    await expect(panel.get_by_test_id("signup-failure")).to_contain_text(
        "Meta refused to send this account's webhooks"
    )
    await screenshot(page, "connect-with-meta-failed.png")
    await panel.get_by_test_id("signup-retry").click()
    await expect(panel.get_by_test_id("signup-done")).to_be_visible()
    for name in ("exchange", "subscribe", "register", "details"):
        await expect(step(panel, name)).to_have_attribute("data-state", "done")
    await expect(step(panel, "details")).to_contain_text("+1 555 0142")
    await screenshot(page, "connect-with-meta.png")
    await panel.get_by_test_id("signup-close").click()

    row = page.get_by_test_id("number-row").filter(has_text="+1 555 0142")
    await expect(row).to_contain_text("Kobe Bakery")
    await expect(row.get_by_test_id("number-status")).to_have_text("Connected")
    numbers = (await ui_meta.api("GET", "/api/v1/phone-numbers")).json()
    new = next(n for n in numbers if n["display_phone_number"] == "+1 555 0142")

    # A customer writes to the new number: the message arrives in the product.
    customer = await ui_meta.sim_client.post("/_sim/customers", json={"wa_id": "819076543210"})
    sent = await ui_meta.sim_client.post(
        f"/_sim/customers/{customer.json()['user_id']}/messages",
        json={"phone_number_id": new["phone_number_id"], "text": "Do you deliver to Kobe?"},
    )
    assert sent.json()["delivered"] is True, sent.text
    await ui_meta.runtime.processor.wait_idle()
    async with ui_meta.runtime.db.read() as session:
        texts = (
            await session.scalars(
                select(Message.text)
                .join(Conversation, Message.conversation_id == Conversation.id)
                .where(Conversation.phone_number_id == new["id"])
            )
        ).all()
    assert texts == ["Do you deliver to Kobe?"]

    # Its health page: checked with Meta; a token about to expire is warned about.
    await ui_meta.sim_client.post(
        "/_sim/tokens", json={"waba_id": new["waba_id"], "expires_in_seconds": 3 * 86400 + 3600}
    )
    await row.get_by_test_id("number-health").click()
    health = page.get_by_test_id("health-panel")
    await health.get_by_test_id("health-check").click()
    warning = health.locator('[data-testid="health-warning"][data-code="token_expiring"]')
    await expect(warning).to_contain_text("expires in 3 days")
    await expect(health.get_by_test_id("health-quality")).to_have_text("GREEN")
    await expect(health.get_by_test_id("health-subscribed")).to_have_text("yes")
    await screenshot(page, "number-health.png")


async def test_a_wrong_pin_and_a_bad_code_are_shown_and_retried(ui_meta, browser):
    page = await sign_in(browser, ui_meta, ADMIN)
    await open_admin_page(page, "WhatsApp numbers")
    await page.get_by_test_id("connect-with-meta").click()
    panel = page.get_by_test_id("signup-panel")

    # A PIN that is not six digits is refused before the popup opens.
    await panel.get_by_test_id("signup-pin").fill("12")
    await panel.get_by_test_id("signup-launch").click()
    await expect(panel).to_contain_text("Six digits")

    # The number already has another PIN: registration fails, the right PIN finishes it.
    await panel.get_by_test_id("signup-pin").fill("123456")
    await run_popup(page, "+1 555 0150", existing_pin="975310")
    await expect(step(panel, "register")).to_have_attribute("data-state", "failed")
    await expect(panel.get_by_test_id("signup-failure")).to_contain_text("number's current PIN")
    await panel.get_by_test_id("signup-pin").fill("975310")
    await panel.get_by_test_id("signup-retry").click()
    await expect(panel.get_by_test_id("signup-done")).to_be_visible()
    await expect(step(panel, "register")).to_have_attribute("data-state", "done")
    await panel.get_by_test_id("signup-close").click()

    # Meta refuses the code: the admin starts the signup again.
    await page.get_by_test_id("connect-with-meta").click()
    await ui_meta.sim_client.post(
        "/_sim/signup/faults",
        json={"step": "exchange", "code": 100, "details": "This authorization code has expired."},
    )
    await panel.get_by_test_id("signup-pin").fill("123456")
    await run_popup(page, "+1 555 0151")
    await expect(step(panel, "exchange")).to_have_attribute("data-state", "failed")
    await expect(panel.get_by_test_id("signup-failure")).to_contain_text(
        "Meta refused the authorization code"
    )
    await expect(panel.get_by_test_id("signup-launch")).to_have_text("Start the signup again")
    await run_popup(page, "+1 555 0152")
    await expect(panel.get_by_test_id("signup-done")).to_be_visible()
    await panel.get_by_test_id("signup-close").click()
    await expect(page.get_by_test_id("number-row")).to_have_count(3)

    # Disconnecting from the health page: the number stays listed, disconnected.
    page.on("dialog", lambda dialog: dialog.accept())
    row = page.get_by_test_id("number-row").filter(has_text="+1 555 0152")
    await row.get_by_test_id("number-health").click()
    health = page.get_by_test_id("health-panel")
    await health.get_by_test_id("number-disconnect").click()
    await expect(health.get_by_test_id("health-note")).to_contain_text("is disconnected")
    await expect(
        health.locator('[data-testid="health-warning"][data-code="disconnected"]')
    ).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(row.get_by_test_id("number-status")).to_have_text("Disconnected")
