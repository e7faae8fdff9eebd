"""Small things a new user hits first: the emoji button's tooltip does not sit over the
open picker, and the queue dialog's inputs line up even when a label wraps (a narrow
window, or Japanese)."""

from __future__ import annotations

from playwright.async_api import expect

from tests.ui.conftest import ADMIN, ANA, set_presence, sign_in
from tests.ui.test_agent_desktop import conversation_item, customer_says, sim_customer


async def test_the_emoji_tooltip_gives_way_to_the_picker(ui, browser):
    ana = await sign_in(browser, ui, ANA)
    await set_presence(ana, "Available")
    sora = await sim_customer(ui, "819000000051", "Sora")
    await customer_says(ui, sora, "hello")
    await ana.get_by_test_id("offer-accept").click()
    await conversation_item(ana, "Sora").click()
    button = ana.get_by_role("button", name="Emoji", exact=True)
    await button.hover()
    await expect(ana.get_by_role("tooltip")).to_be_visible()
    await button.click()
    await expect(ana.get_by_role("group", name="Emoji")).to_be_visible()
    await expect(ana.get_by_role("tooltip")).to_have_count(0)


async def test_queue_dialog_inputs_line_up_when_labels_wrap(ui, browser):
    admin = await sign_in(browser, ui, ADMIN)
    await admin.set_viewport_size({"width": 700, "height": 800})  # labels wrap here
    await admin.goto(ui.url + "/admin/queues")
    await admin.get_by_test_id("new-queue").click()
    form = admin.get_by_test_id("queue-form")
    inputs = [
        form.get_by_role("combobox", name="Routing method"),
        form.get_by_role("textbox", name="Conversations per agent"),
        form.get_by_role("textbox", name="Offer timeout (seconds)"),
    ]
    # Measured together in one frame: the dialog slides in, so boxes read one by one
    # can come from different moments of its animation.
    handles = [await item.element_handle() for item in inputs]
    bottoms = await admin.evaluate(
        "els => els.map(e => Math.round(e.getBoundingClientRect().bottom))", handles
    )
    assert len(set(bottoms)) == 1, bottoms
