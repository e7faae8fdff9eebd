"""Admin pages, the flow editor and the Japanese UI in a real browser."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.conftest import PHONE_NUMBER_ID
from tests.ui.conftest import ADMIN, ANA, screenshot, set_presence, sign_in
from tests.ui.test_agent_desktop import customer_received, customer_says, sim_customer


async def settled_box(page, locator) -> dict:
    """The element's box once it stays put over two animation frames: the editor fits its
    view to the widgets a moment after one is added, moving every handle."""
    previous = None
    for _ in range(200):
        box = await locator.bounding_box()
        if box is not None and box == previous:
            return box
        previous = box
        await page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => setTimeout(r, 60)))"
        )
    raise AssertionError(f"{locator} never stopped moving (last box {previous})")


async def drag(page, source, target) -> None:
    """Press on ``source``, move in small steps, release on ``target`` (a real drag)."""
    a = await settled_box(page, source)
    b = await settled_box(page, target)
    await page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    await page.mouse.down()
    await page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=12)
    await page.mouse.up()


async def open_admin_page(page, name: str) -> None:
    item = page.get_by_role("menuitem", name=name)
    await page.get_by_role("button", name="Administration").click()
    if not await item.is_visible():  # a click during a dialog's closing animation is lost
        await page.wait_for_timeout(300)
        if not await item.is_visible():
            await page.get_by_role("button", name="Administration").click()
    await item.click()


async def connect_by_dragging(page, source, target) -> None:
    """Drag until the edge is drawn: a view fitted just as the drag began (its timer is
    late on a busy machine) moves the handles under the pointer and the drag ends on
    nothing; drawn once, the edge ends the loop."""
    edges = page.locator(".react-flow__edge")
    before = await edges.count()
    for _ in range(5):
        await drag(page, source, target)
        try:
            await expect(edges).to_have_count(before + 1, timeout=5_000)
            return
        except AssertionError:
            continue
    await expect(edges).to_have_count(before + 1)


def node(page, node_id: str):
    return page.locator(f'.react-flow__node[data-id="{node_id}"]')


async def test_build_and_publish_a_flow(ui, browser):
    """An admin builds Start → Send message → Route to Support, sees the server's
    problems on the widgets until it is complete, connects widgets by dragging, publishes,
    and a new customer is greeted by the flow and queued."""
    page = await sign_in(browser, ui, ADMIN)
    await page.get_by_role("button", name="Flows").click()
    await page.get_by_test_id("new-flow").click()
    await page.get_by_label("Name").fill("Welcome")
    await page.get_by_test_id("create-flow").click()
    await expect(page.get_by_test_id("flow-name")).to_have_text("Welcome")
    await expect(page.get_by_test_id("flow-status")).to_have_text("Draft")

    # Publishing an incomplete flow: the server's problem is shown on the Start widget.
    await page.get_by_test_id("flow-publish").click()
    await expect(page.get_by_test_id("flow-error")).to_be_visible()
    await expect(node(page, "start").get_by_test_id("node-problems")).to_contain_text("number")

    await node(page, "start").click()
    numbers = page.get_by_test_id("widget-settings").get_by_label(re.compile("WhatsApp numbers"))
    await numbers.fill(PHONE_NUMBER_ID)
    await numbers.press("Enter")

    await page.get_by_test_id("add-send_media").click()
    settings = page.get_by_test_id("widget-settings")
    await settings.get_by_label("Text").fill("Welcome to ACME! An agent will be with you shortly.")
    await page.get_by_test_id("add-route_to").click()
    await page.get_by_test_id("route-queue").click()
    await page.get_by_role("option", name="Support").click()
    # Live validation: Start's "next" exit leads nowhere yet.
    await expect(node(page, "start").get_by_test_id("node-problems")).to_be_visible()

    # Drag from Start's "next" exit to the message widget…
    source = node(page, "start").locator('.react-flow__handle.source[data-handleid="next"]')
    target = node(page, "send-media-1").locator(".react-flow__handle.target")
    await connect_by_dragging(page, source, target)
    # …and connect the next one from the side panel (the keyboard's way).
    await node(page, "send-media-1").click()
    await page.get_by_test_id("exit-next").click()
    await page.get_by_role("option", name="route-to-1").click()
    await expect(page.locator(".react-flow__edge")).to_have_count(2)

    await expect(page.get_by_test_id("flow-problem-count")).to_have_text("Ready to publish")
    await expect(page.get_by_test_id("node-problems")).to_have_count(0)
    await page.get_by_test_id("flow-save").click()
    await page.get_by_test_id("flow-publish").click()
    await expect(page.get_by_test_id("flow-status")).to_have_text("Published v1")
    await page.locator(".mantine-Notification-closeButton").click()
    await node(page, "send-media-1").click()
    await screenshot(page, "flow-editor.png")

    flows = (await ui.api("GET", "/api/v1/flows")).json()
    assert flows[0]["published_version"] == 1 and flows[0]["numbers"] == [PHONE_NUMBER_ID]

    # The published flow greets a new customer and queues the conversation.
    agent = await sign_in(browser, ui, ANA)
    await set_presence(agent, "Available")
    riko = await sim_customer(ui, "819000000010", "Riko")
    await customer_says(ui, riko, "hi")
    await customer_received(ui, riko, "Welcome to ACME!")
    await expect(agent.get_by_test_id("offer")).to_contain_text("Riko")


async def test_switch_the_ui_to_japanese(ui, browser):
    """An agent picks 日本語: the whole desktop follows, and the choice is kept on their
    account (it survives a reload and a new sign-in)."""
    page = await sign_in(browser, ui, ANA)
    await set_presence(page, "Available")
    aoi = await sim_customer(ui, "819000000011", "青井 葵")
    await customer_says(ui, aoi, "注文した商品がまだ届きません。")
    await page.get_by_test_id("offer-accept").click()

    await page.get_by_test_id("language-select").click()
    await page.get_by_role("option", name="日本語").click()
    await expect(page.get_by_role("button", name="デスクトップ")).to_be_visible()
    await expect(page.get_by_role("button", name="サインアウト")).to_be_visible()
    await expect(page.locator("html")).to_have_attribute("lang", "ja")
    await expect(page.get_by_test_id("composer-input")).to_have_attribute(
        "placeholder", "返信を入力…"
    )
    await expect(page.get_by_test_id("side-panel")).to_contain_text("社内メモ")

    composer = page.get_by_test_id("composer-input")
    await composer.fill("お問い合わせありがとうございます。すぐにお調べします。")
    await composer.press("Enter")
    await expect(page.get_by_test_id("ticks")).to_have_attribute(
        "aria-label", re.compile("送信済み|配信済み|既読|送信待ち|WhatsApp が受付")
    )
    await screenshot(page, "agent-desktop-ja.png")

    me = await page.evaluate(
        "fetch('/api/v1/auth/me').then((r) => r.json()).then((m) => m.user.locale)"
    )
    assert me == "ja"
    await page.reload()
    await expect(page.get_by_role("button", name="デスクトップ")).to_be_visible()


async def test_admin_forms_show_the_servers_errors_next_to_the_field(ui, browser):
    page = await sign_in(browser, ui, ADMIN)

    await page.get_by_role("button", name="Queues").click()
    await expect(page.get_by_test_id("queue-row")).to_have_count(2)
    await page.get_by_test_id("new-queue").click()
    form = page.get_by_test_id("queue-form")
    await form.get_by_label("Name").fill("Support")
    await page.get_by_test_id("queue-save").click()
    # The name is taken: the server says so under the Name field.
    name_field = form.get_by_label("Name")
    await expect(name_field).to_have_attribute("aria-invalid", "true")
    await expect(form).to_contain_text("a queue named 'Support' exists")

    await name_field.fill("VIP")
    await form.get_by_label("Time zone").fill("Mars/Olympus_Mons")
    await page.get_by_test_id("queue-save").click()
    await expect(page.get_by_test_id("form-error")).to_contain_text("Mars/Olympus_Mons")
    await form.get_by_label("Time zone").fill("Asia/Tokyo")
    await page.get_by_test_id("queue-members").click()
    await page.get_by_role("option", name=re.compile("Ana Agent")).click()
    await page.keyboard.press("Escape")
    await page.get_by_test_id("queue-save").click()
    await expect(page.get_by_test_id("queue-row").filter(has_text="VIP")).to_have_count(1)
    support = page.get_by_test_id("queue-row").filter(has_text="Support")
    await support.get_by_role("button", name="Edit").click()
    await expect(page.get_by_test_id("queue-form").get_by_label("Name")).to_have_value("Support")
    await screenshot(page, "admin-queues.png")
    await page.keyboard.press("Escape")
    await expect(page.get_by_test_id("queue-form")).to_have_count(0)

    await open_admin_page(page, "Users")
    await page.get_by_test_id("new-user").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("E-mail").fill("cho@acme.test")
    await dialog.get_by_label("Name").fill("Cho")
    await dialog.get_by_role("textbox", name="Password").fill("short")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog.get_by_role("textbox", name="Password")).to_have_attribute(
        "aria-invalid", "true"
    )
    await expect(dialog).to_contain_text("at least 10 characters")
    await dialog.get_by_role("textbox", name="Password").fill("a long enough password")
    await dialog.get_by_role("button", name="Save").click()
    await expect(page.get_by_test_id("user-row").filter(has_text="cho@acme.test")).to_have_count(1)

    await open_admin_page(page, "API tokens")
    await page.get_by_role("button", name="New token").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_role("button", name="Create token").click()
    await expect(dialog).to_contain_text(re.compile("name", re.I))
    await dialog.get_by_label("Name").fill("CRM")
    await dialog.get_by_role("button", name="Create token").click()
    token = await page.get_by_test_id("new-token").inner_text()
    response = await ui.client.get("/api/v1/queues", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
