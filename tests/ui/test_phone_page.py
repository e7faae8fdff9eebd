"""The simulator's phone page as a customer uses it: the "Replying to" bar opens and
closes, and a chosen attachment waits for Send so the caption typed after it goes with
it (one message, not two)."""

from __future__ import annotations

import base64

from playwright.async_api import expect

from tests.ui.conftest import PAGE_CEILING_MS
from tests.ui.test_agent_desktop import customer_thread, sim_customer

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


async def test_reply_bar_closes_and_an_attachment_carries_its_caption(ui, browser, tmp_path):
    customer = await sim_customer(ui, "819000000041", "Hana")
    context = await browser.new_context(viewport={"width": 1100, "height": 760})
    phone = await context.new_page()
    phone.set_default_timeout(PAGE_CEILING_MS)
    await phone.goto(ui.sim.url + "/")
    await phone.get_by_text("Hana").first.click()
    await expect(phone.locator("#reply-bar")).to_be_hidden()  # nothing replied to yet

    await phone.locator("#text").fill("first message")
    await phone.locator("#send").click()
    sent = phone.locator("li.msg.mine").filter(has_text="first message")
    await expect(sent).to_be_visible()
    await sent.hover()
    await sent.get_by_role("button", name="Reply to this message").click()
    await expect(phone.locator("#reply-bar")).to_be_visible()
    await phone.get_by_role("button", name="Cancel reply").click()
    await expect(phone.locator("#reply-bar")).to_be_hidden()

    picture = tmp_path / "receipt.png"
    picture.write_bytes(PNG)
    await phone.locator("#attach").set_input_files(str(picture))
    await expect(phone.locator("#attachment-bar")).to_contain_text("receipt.png")
    before = len(await customer_thread(ui, customer))
    await phone.locator("#text").fill("my receipt")  # typed after choosing the file
    await phone.locator("#send").click()
    await expect(phone.locator("#attachment-bar")).to_be_hidden()
    await expect(phone.locator("#text")).to_have_value("")

    thread = await customer_thread(ui, customer)
    added = thread[before:]
    assert [m["type"] for m in added] == ["image"], added
    assert "my receipt" in str(added[0]["content"])
