"""The flow editor's Test and Versions in a real browser: an admin edits a published
flow, tests the draft as one customer on the simulator's phone page and watches the run
on the canvas, while another customer still gets the published version; then opens a
past version read-only and restores it as the draft."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.conftest import PHONE_NUMBER_ID
from tests.ui.conftest import ADMIN, screenshot, sign_in
from tests.ui.held_reads import HeldRead
from tests.ui.test_admin_and_flows import node
from tests.ui.test_agent_desktop import customer_received, customer_says, sim_customer

V1_WELCOME = "Welcome to ACME (v1)."
DRAFT_WELCOME = "Welcome to ACME: this is the new draft!"


def triage_flow() -> dict:
    """Welcome, ask Support or Billing, route there (laid out left to right)."""

    def at(x: int, y: int) -> dict:
        return {"position": {"x": x, "y": y}}

    return {
        "nodes": [
            {"id": "Start", "type": "start", "numbers": [PHONE_NUMBER_ID], **at(40, 140)},
            {"id": "Welcome", "type": "send_media", "text": V1_WELCOME, **at(300, 140)},
            {
                "id": "Ask",
                "type": "collect_input",
                "prompt": "Reply 1 for Support or 2 for Billing",
                "variable": "department",
                "choices": [{"id": "1", "title": "Support"}, {"id": "2", "title": "Billing"}],
                **at(570, 140),
            },
            {
                "id": "Check",
                "type": "condition",
                "rules": [
                    {"variable": "department", "op": "equals", "value": "2", "exit": "billing"}
                ],
                **at(840, 140),
            },
            {"id": "Route_Support", "type": "route_to", "queue": "Support", **at(1090, 30)},
            {"id": "Route_Billing", "type": "route_to", "queue": "Billing", **at(1090, 250)},
        ],
        "edges": [
            {"from": "Start", "exit": "next", "to": "Welcome"},
            {"from": "Welcome", "exit": "next", "to": "Ask"},
            {"from": "Ask", "exit": "success", "to": "Check"},
            {"from": "Ask", "exit": "invalid", "to": "Route_Support"},
            {"from": "Check", "exit": "billing", "to": "Route_Billing"},
            {"from": "Check", "exit": "else", "to": "Route_Support"},
        ],
    }


async def open_flow(ui, browser) -> tuple:
    """The triage flow created, and an admin's editor open on it, published as v1."""
    created = await ui.api(
        "POST", "/api/v1/flows", json={"name": "Triage", "definition": triage_flow()}
    )
    assert created.status_code == 201 and created.json()["problems"] == [], created.text
    page = await sign_in(browser, ui, ADMIN)
    await page.get_by_role("button", name="Flows").click()
    await page.locator("tr", has_text="Triage").get_by_role("button", name="Open").click()
    await expect(page.get_by_test_id("flow-name")).to_have_text("Triage")
    await page.get_by_test_id("flow-publish").click()
    await expect(page.get_by_test_id("flow-status")).to_have_text("Published v1")
    await page.locator(".mantine-Notification-closeButton").click()
    return page, created.json()["id"]


async def edit_welcome(page, text: str) -> None:
    await node(page, "Welcome").click()
    await page.get_by_test_id("widget-settings").get_by_label("Text").fill(text)


async def test_test_the_draft_against_the_simulator(ui, browser):
    page, flow_id = await open_flow(ui, browser)
    await edit_welcome(page, DRAFT_WELCOME)  # unsaved: Test saves the draft first

    await page.get_by_test_id("flow-test").click()
    panel = page.get_by_test_id("test-panel")
    await expect(panel.get_by_test_id("test-number")).to_have_value(re.compile(r"\+1 555 0123"))
    await panel.get_by_label("Test customer").fill("+81 90 0000 0020")
    await panel.get_by_test_id("test-start").click()
    await expect(panel.get_by_test_id("test-state")).to_have_attribute("data-state", "waiting")
    await expect(page.get_by_test_id("flow-status")).to_have_text("Published v1")
    link = panel.get_by_test_id("test-phone-link")
    href = await link.get_attribute("href")
    assert href.startswith(ui.sim.url) and "customer=819000000020" in href, href

    # The admin plays the test customer on the simulator's phone page (the link's page).
    phone = await page.context.new_page()
    await phone.goto(href)
    await expect(phone.locator("#chat-sub")).to_contain_text("+819000000020")
    await phone.locator("#text").fill("hi")
    await phone.locator("#send").click()
    await expect(phone.locator("#messages")).to_contain_text(DRAFT_WELCOME)

    # The editor follows the run: the widget it waits at, and the steps so far.
    await expect(panel.get_by_test_id("test-state")).to_have_attribute("data-state", "running")
    await expect(node(page, "Ask").get_by_test_id("node-trace")).to_be_visible()
    await expect(node(page, "Welcome").locator(".flow-node")).to_have_attribute(
        "data-trace", "visited"
    )
    steps = panel.get_by_test_id("test-step")
    await expect(steps).to_have_count(3)
    await expect(steps.nth(1)).to_contain_text("Welcome → next")
    await expect(steps.nth(2)).to_contain_text("Ask → waiting for an answer")

    await phone.locator("#text").fill("2")
    await phone.locator("#send").click()
    await expect(panel.get_by_test_id("test-state")).to_have_attribute("data-state", "finished")
    await expect(node(page, "Route_Billing").get_by_test_id("node-trace")).to_be_visible()
    await expect(steps.last).to_contain_text("Route_Billing → routed")
    await expect(panel.get_by_test_id("test-conversation")).to_contain_text("Waiting in queue")
    await phone.close()
    await screenshot(page, "flow-test-run.png")

    # Nothing was published: another customer still gets version 1.
    kenji = await sim_customer(ui, "819000000021", "Kenji")
    await customer_says(ui, kenji, "hi")
    await customer_received(ui, kenji, V1_WELCOME)
    flow = (await ui.api("GET", f"/api/v1/flows/{flow_id}")).json()
    assert flow["published_version"] == 1 and flow["draft_differs"] is True
    assert flow["draft"]["nodes"][1]["text"] == DRAFT_WELCOME


async def test_an_invalid_draft_is_not_tested(ui, browser):
    page, _ = await open_flow(ui, browser)
    await node(page, "Welcome").click()
    await page.get_by_test_id("widget-settings").get_by_label("Text").fill("")
    await page.get_by_test_id("flow-test").click()
    panel = page.get_by_test_id("test-panel")
    await panel.get_by_label("Test customer").fill("+81 90 0000 0022")
    await panel.get_by_test_id("test-start").click()
    await expect(panel.get_by_test_id("test-error")).to_contain_text("problems")
    await expect(node(page, "Welcome").get_by_test_id("node-problems")).to_be_visible()
    await expect(panel.get_by_test_id("test-state")).to_have_count(0)


async def test_open_a_past_version_and_restore_it_as_the_draft(ui, browser):
    page, flow_id = await open_flow(ui, browser)
    await edit_welcome(page, DRAFT_WELCOME)
    await page.get_by_test_id("flow-save").click()
    await page.get_by_test_id("flow-publish").click()
    await expect(page.get_by_test_id("flow-status")).to_have_text("Published v2")
    await page.locator(".mantine-Notification-closeButton").click()

    await page.get_by_test_id("flow-versions").click()
    rows = page.get_by_test_id("version-row")
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_contain_text("v2")
    await expect(rows.first.get_by_test_id("version-live")).to_be_visible()
    await expect(rows.nth(1)).to_contain_text("by Ada Admin")
    await screenshot(page, "flow-versions.png")
    await rows.nth(1).get_by_role("button", name="Open version 1 read-only").click()

    # Version 1 on the canvas, read-only.
    await expect(page.get_by_test_id("flow-viewing")).to_have_text("Viewing v1 (read-only)")
    await expect(node(page, "Welcome")).to_contain_text(V1_WELCOME)
    await expect(page.get_by_test_id("flow-publish")).to_be_disabled()
    await expect(page.get_by_test_id("add-send_media")).to_be_disabled()

    await page.get_by_test_id("version-view-restore").click()  # the draft equals v2: no question
    await expect(page.get_by_test_id("flow-viewing")).to_have_count(0)
    await expect(node(page, "Welcome")).to_contain_text(V1_WELCOME)
    await expect(page.get_by_text("Unpublished changes")).to_be_visible()
    flow = (await ui.api("GET", f"/api/v1/flows/{flow_id}")).json()
    assert flow["published_version"] == 2 and flow["draft"]["nodes"][1]["text"] == V1_WELCOME

    # Restoring over unpublished changes asks first.
    await page.get_by_test_id("flow-versions").click()
    await rows.first.get_by_test_id("version-restore").click()
    await page.get_by_test_id("restore-confirm").click()
    await expect(node(page, "Welcome")).to_contain_text(DRAFT_WELCOME)


async def test_a_stopped_test_stays_stopped(ui, browser):
    """The panel follows a waiting test by polling; a poll read before Stop and answered
    after it does not show the test as waiting again."""
    page, flow_id = await open_flow(ui, browser)
    await page.get_by_test_id("flow-test").click()
    panel = page.get_by_test_id("test-panel")
    await panel.get_by_label("Test customer").fill("+81 90 0000 0021")
    state = panel.get_by_test_id("test-state")
    poll = await HeldRead(page, rf"/flows/{flow_id}/test\?id=").install()
    await panel.get_by_test_id("test-start").click()
    await expect(state).to_have_attribute("data-state", "waiting")
    await poll.taken()  # read while the test waits
    await panel.get_by_test_id("test-stop").click()
    await expect(panel.get_by_test_id("test-stop")).to_have_count(0)
    stopped = await state.get_attribute("data-state") if await state.count() else None
    await poll.release()
    # Read at once: a stale answer shown would only be corrected by a later poll, if ever.
    assert (await state.get_attribute("data-state") if await state.count() else None) == stopped
    assert stopped != "waiting"
