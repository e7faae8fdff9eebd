"""Supervision in a real browser, two people at once: a supervisor (English) watches the
wallboard change live as a simulated customer writes, waits and is answered, then
monitors, whispers, barges in and takes over the conversation of an agent (Japanese),
who sees each of these live. Whispers never reach Meta; the barge reaches the phone."""

from __future__ import annotations

import re

from playwright.async_api import expect
from sqlalchemy import update

from madoguchi.store.models import Queue, User
from tests.access.people import add_token, add_user
from tests.helpers import eventually
from tests.ui.conftest import ANA, screenshot, set_presence, sign_in
from tests.ui.held_reads import HeldRead
from tests.ui.test_agent_desktop import (
    conversation_item,
    customer_received,
    customer_says,
    sim_customer,
    two_conversations,
)

SUE = "sue@acme.test"


def queue_row(page, name: str):
    return page.locator(f'[data-testid="wallboard-queue"][data-queue="{name}"]')


async def test_supervisor_wallboard_monitor_whisper_barge_take_over(ui, browser):
    await add_user(ui.runtime.db, SUE, "supervisor")
    async with ui.runtime.db.write() as session:
        await session.execute(update(User).where(User.email == ANA).values(locale="ja"))
    sue = await sign_in(browser, ui, SUE)
    ana = await sign_in(browser, ui, ANA)

    await sue.get_by_role("button", name="Wallboard").click()
    support = queue_row(sue, "Support")
    await expect(support.get_by_test_id("q-waiting")).to_have_text("0")

    # A customer writes while nobody is available: waiting goes to 1, live.
    yui = await sim_customer(ui, "819000000031", "Yui")
    await customer_says(ui, yui, "My parcel never arrived")
    await expect(support.get_by_test_id("q-waiting")).to_have_text("1")
    await expect(support.get_by_test_id("q-arrived")).to_have_text("1")
    row = sue.locator('[data-testid="wallboard-conversation"][data-status="queued"]')
    await expect(row).to_contain_text("Yui")

    # Ana (in Japanese) becomes available and answers: offered, then active and answered.
    await set_presence(ana, "対応可能")
    await ana.get_by_test_id("offer-accept").click()
    await expect(support.get_by_test_id("q-active")).to_have_text("1")
    await expect(support.get_by_test_id("q-waiting")).to_have_text("0")
    await expect(support.get_by_test_id("q-answered")).to_have_text("1")
    await expect(support.get_by_test_id("q-sl")).to_have_text("100.0 %")
    await expect(
        sue.locator('[data-testid="wallboard-agent"][data-agent="Ana Agent"]').get_by_test_id(
            "agent-work"
        )
    ).to_contain_text("1 active")
    # Her occupancy today is the agents report's figure (checked live below, once she is
    # available with nothing to do: while she answers it may already read 100.0 %).
    occupancy = sue.locator(
        '[data-testid="wallboard-agent"][data-agent="Ana Agent"]'
    ).get_by_test_id("agent-occupancy")
    await expect(occupancy).to_have_text(re.compile(r"^\d+\.\d %$"))
    await screenshot(sue, "wallboard.png")

    # Monitor: Sue opens the conversation from the wallboard; Ana sees the indicator.
    await (
        sue.locator('[data-testid="wallboard-conversation"]', has_text="Yui")
        .get_by_role("button", name="Open")
        .click()
    )
    await expect(sue.get_by_test_id("chat-title")).to_have_text("Yui")
    await sue.get_by_test_id("monitor-toggle").click()
    await conversation_item(ana, "Yui").click()
    await expect(ana.get_by_test_id("monitored-indicator")).to_contain_text("モニター中")
    # …and follows Ana's reply live.
    composer = ana.get_by_test_id("composer-input")
    await composer.fill("確認いたします。")
    await composer.press("Enter")
    await expect(sue.get_by_test_id("messages")).to_contain_text("確認いたします。")

    # Whisper: Ana sees it live, marked as a whisper; Meta never does.
    await sue.get_by_test_id("supervision-text").fill("Offer a refund right away")
    await sue.get_by_test_id("whisper-send").click()
    await expect(ana.get_by_test_id("whisper")).to_contain_text("Offer a refund right away")
    await expect(ana.get_by_test_id("whisper")).to_contain_text("ささやき")
    await screenshot(ana, "whisper-agent-view.png")
    sent = (await ui.sim_client.get("/_sim/sent", params={"limit": 5000})).json()["requests"]
    assert all("Offer a refund" not in str(r) for r in sent)

    # Barge: Sue writes to the customer; it reaches Yui's phone and Ana sees it.
    await sue.get_by_test_id("supervision-text").fill("Sue here, the supervisor: refund done.")
    await sue.get_by_test_id("barge-send").click()
    await customer_received(ui, yui, "refund done")
    await expect(ana.get_by_test_id("messages")).to_contain_text("refund done")

    # Take over: the conversation leaves Ana's desktop for Sue's.
    await sue.get_by_test_id("take-over").click()
    await expect(conversation_item(ana, "Yui")).to_have_count(0)
    await expect(sue.get_by_test_id("composer-input")).to_be_enabled()
    thread = (await ui.sim_client.get(f"/_sim/customers/{yui['user_id']}/thread")).json()
    outgoing = [m for m in thread["messages"] if m["direction"] == "out"]
    assert len(outgoing) == 2  # Ana's reply and the barge; the take-over sent nothing

    # Ana is still available, now with nothing to handle: her occupancy falls live,
    # every second, with no event from the server.
    await sue.get_by_role("button", name="Wallboard").click()
    occupancy = sue.locator(
        '[data-testid="wallboard-agent"][data-agent="Ana Agent"]'
    ).get_by_test_id("agent-occupancy")
    await expect(occupancy).to_have_text(re.compile(r"^\d+\.\d %$"))
    before = percent_of(await occupancy.text_content())
    assert before > 0

    async def fallen():
        return percent_of(await occupancy.text_content()) < before

    await eventually(fallen)


def percent_of(text: str | None) -> float:
    """The number in a wallboard percentage cell ("93.5 %")."""
    assert text is not None
    return float(text.replace("%", "").strip())


async def test_tv_mode_is_full_screen_without_navigation(ui, browser):
    await add_user(ui.runtime.db, SUE, "supervisor")
    sue = await sign_in(browser, ui, SUE)
    await sue.get_by_role("button", name="Wallboard").click()
    await sue.get_by_role("button", name="TV mode").click()
    tile = sue.locator('[data-testid="tv-queue"][data-queue="Support"]')
    await expect(tile.get_by_test_id("tv-waiting")).to_have_text("0")
    await expect(sue.get_by_role("navigation")).to_have_count(0)
    kai = await sim_customer(ui, "819000000032", "Kai")
    await customer_says(ui, kai, "Hello?")
    await expect(tile.get_by_test_id("tv-waiting")).to_have_text("1")
    await screenshot(sue, "wallboard-tv.png")


async def test_the_wallboard_in_japanese(ui, browser):
    await add_user(ui.runtime.db, SUE, "supervisor")
    async with ui.runtime.db.write() as session:
        await session.execute(update(User).where(User.email == SUE).values(locale="ja"))
    sue = await sign_in(browser, ui, SUE)
    await sue.goto(ui.url + "/wallboard")
    await expect(sue.get_by_role("heading", name="ウォールボード")).to_be_visible()
    agents = sue.get_by_test_id("wallboard-agents")
    await expect(agents.get_by_role("columnheader", name="本日の稼働率")).to_be_visible()
    await expect(agents.get_by_role("columnheader", name="最終返信")).to_be_visible()
    await screenshot(sue, "wallboard-ja.png")


async def test_agents_have_no_wallboard(ui, browser):
    ana = await sign_in(browser, ui, ANA)
    await expect(ana.get_by_role("button", name="Wallboard")).to_have_count(0)
    response = await ana.request.get(ui.url + "/api/v1/wallboard")
    assert response.status == 403


_BOARD_STATE = """() => {
  const text = (el, id) => el.querySelector(`[data-testid="${id}"]`)?.textContent ?? null;
  const root = document.querySelector('[data-testid="wallboard"]');
  const rows = (id) => [...document.querySelectorAll(`[data-testid="${id}"]`)];
  return {
    version: root?.dataset.version ?? null,
    queues: rows("wallboard-queue").map((r) => [r.dataset.queue,
      ...["q-waiting", "q-offered", "q-active", "q-arrived", "q-answered", "q-sl"]
        .map((id) => text(r, id))]),
    agents: rows("wallboard-agent").map((r) => [r.dataset.agent, text(r, "agent-work")]),
    conversations: rows("wallboard-conversation")
      .map((r) => [r.dataset.conversationId, r.dataset.status]),
  };
}"""


async def test_deltas_applied_live_equal_a_fresh_load(ui, browser):
    """The wallboard open while customers write, are offered and answered is kept by
    the deltas the server sends; it then shows exactly what a page loaded afresh shows."""
    await add_user(ui.runtime.db, SUE, "supervisor")
    sue = await sign_in(browser, ui, SUE)
    ana = await sign_in(browser, ui, ANA)
    await sue.get_by_role("button", name="Wallboard").click()
    support = queue_row(sue, "Support")
    await expect(support.get_by_test_id("q-waiting")).to_have_text("0")

    for phone, name in (("819000000041", "Kei"), ("819000000042", "Rin"), ("819000000043", "Sora")):
        customer = await sim_customer(ui, phone, name)
        await customer_says(ui, customer, f"{name} here")
    await expect(support.get_by_test_id("q-arrived")).to_have_text("3")
    await set_presence(ana, "Available")
    await ana.get_by_test_id("offer-accept").first.click()
    await expect(support.get_by_test_id("q-answered")).to_have_text("1")
    root = sue.get_by_test_id("wallboard")
    assert int(await root.get_attribute("data-deltas")) > 0, "the live page took no delta"

    fresh = await sue.context.new_page()
    await fresh.goto(ui.url + "/wallboard")
    await expect(fresh.get_by_test_id("wallboard")).to_be_visible()

    async def same():
        live, loaded = await sue.evaluate(_BOARD_STATE), await fresh.evaluate(_BOARD_STATE)
        return live == loaded and live["queues"] and live["conversations"]

    await eventually(same)
    live = await sue.evaluate(_BOARD_STATE)
    assert any(status == "active" for _, status in live["conversations"])


async def test_threshold_colours_and_filters(ui, browser):
    """A wait past the queue's target turns red (queue row and conversation row); the
    conversation list filters by queue, agent and status."""
    async with ui.runtime.db.write() as session:
        await session.execute(
            update(Queue).where(Queue.name == "Support").values(service_level_seconds=2)
        )
    await add_user(ui.runtime.db, SUE, "supervisor")
    sue = await sign_in(browser, ui, SUE)
    await sue.get_by_role("button", name="Wallboard").click()
    for phone, name in (("819000000051", "Mei"), ("819000000052", "Taro")):
        customer = await sim_customer(ui, phone, name)
        await customer_says(ui, customer, f"{name} waiting")
    support = queue_row(sue, "Support")
    await expect(support.get_by_test_id("q-waiting")).to_have_text("2")
    # Past 2 s of waiting: red, in the queue's longest wait and on each waiting row.
    await expect(support.get_by_test_id("q-longest")).to_have_attribute("data-over", "true")
    rows = sue.get_by_test_id("wallboard-conversation")
    await expect(rows.and_(sue.locator("[data-over]"))).to_have_count(2)

    async def choose(label: str, option: str) -> None:
        await sue.get_by_role("combobox", name=label).click()
        await sue.get_by_role("option", name=option, exact=True).click()

    await choose("Filter by queue", "Billing")
    await expect(rows).to_have_count(0)
    await choose("Filter by queue", "Support")
    await expect(rows).to_have_count(2)
    await choose("Filter by status", "Active")
    await expect(rows).to_have_count(0)
    await choose("Filter by status", "Waiting in queue")
    await expect(rows).to_have_count(2)
    await choose("Filter by agent", "Ana Agent")
    await expect(rows).to_have_count(0)


async def test_steering_an_agent_with_the_wallboard_buttons(ui, browser):
    await add_user(ui.runtime.db, SUE, "supervisor")
    sue = await sign_in(browser, ui, SUE)
    ana = await sign_in(browser, ui, ANA)
    await sue.get_by_role("button", name="Wallboard").click()
    ana_row = sue.locator('[data-testid="wallboard-agent"][data-agent="Ana Agent"]')
    support = queue_row(sue, "Support")

    # Sue makes Ana available from the wallboard; Ana's own desktop follows, live.
    await ana_row.get_by_label("Presence of Ana Agent").click()
    await sue.get_by_role("option", name="Available", exact=True).click()
    await expect(ana.get_by_test_id("presence-select")).to_have_value("Available")

    # A customer writes: the conversation is offered to Ana.
    yui = await sim_customer(ui, "819000000041", "Yui")
    await customer_says(ui, yui, "Is my order shipped?")
    await expect(ana.get_by_test_id("offer-accept")).to_be_visible()
    await expect(ana_row.get_by_test_id("agent-work")).to_contain_text("1 offered")

    # Sue sends her away and releases her offer: it leaves Ana's desktop and waits again.
    await ana_row.get_by_label("Presence of Ana Agent").click()
    await sue.get_by_role("option", name="Away", exact=True).click()
    await expect(ana.get_by_test_id("presence-select")).to_have_value("Away")
    await ana_row.get_by_role("button", name="Release offers").click()
    await expect(ana.get_by_test_id("offer-accept")).to_have_count(0)
    await expect(support.get_by_test_id("q-waiting")).to_have_text("1")
    await expect(ana_row.get_by_role("button", name="Release offers")).to_be_disabled()

    # …and signs her out of Support: the queue leaves her row and the queue's members.
    await expect(ana_row).to_contain_text("Support")
    await ana_row.get_by_role("button", name="Sign out of queue ▾").click()
    await sue.get_by_role("menuitem", name="Support").click()
    await expect(ana_row).not_to_contain_text("Support")
    queues = (await ui.api("GET", "/api/v1/queues")).json()
    members = next(q for q in queues if q["name"] == "Support")["members"]
    assert "ana@acme.test" not in [m["email"] for m in members]


async def test_a_whisper_shows_only_on_its_own_conversation(ui, browser):
    """An agent who leaves a conversation before its whispers arrive never sees them on
    the next one; back on it, they are there."""
    ana = await sign_in(browser, ui, ANA)
    kou_id = await two_conversations(
        ui,
        ana,
        ("819000000032", "Kou", "the app will not open"),
        ("819000000033", "Emi", "where do I send the form?"),
    )
    sue_id = await add_user(ui.runtime.db, SUE, "supervisor")
    _, sue_token = await add_token(ui.runtime.db, "supervisor", user_id=sue_id)
    coached = await ui.client.post(
        f"/api/v1/conversations/{kou_id}/whispers",
        json={"body": "Ask for the version"},
        headers={"Authorization": f"Bearer {sue_token}"},
    )
    assert coached.status_code == 201, coached.text

    await conversation_item(ana, "Emi").click()  # Kou's read comes after the hold is set
    await expect(ana.get_by_test_id("chat-title")).to_have_text("Emi")
    whispers = await HeldRead(ana, rf"/conversations/{kou_id}/whispers$").install()
    await conversation_item(ana, "Kou").click()
    await expect(ana.get_by_test_id("chat-title")).to_have_text("Kou")
    await whispers.taken()
    await conversation_item(ana, "Emi").click()
    await expect(ana.get_by_test_id("chat-title")).to_have_text("Emi")
    await expect(ana.get_by_test_id("messages")).to_contain_text("send the form")
    await whispers.release()  # Kou's whispers land with Emi's conversation shown
    await expect(ana.get_by_test_id("whisper")).to_have_count(0)

    await conversation_item(ana, "Kou").click()
    await expect(ana.get_by_test_id("whisper")).to_contain_text("Ask for the version")
