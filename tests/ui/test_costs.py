"""Costs in the browser: the estimate an agent sees before sending a template, and the
cost report a manager reads (English and Japanese), with its CSV."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import expect
from sqlalchemy import select, update

from madoguchi.simulator.config import SeedTemplate
from madoguchi.store.models import Contact, Conversation, MessageCost
from tests.billing.costing import SHEET, import_card
from tests.helpers import eventually
from tests.ui.conftest import ADMIN, ANA, ORDER_UPDATE, screenshot, set_presence, sign_in, ui_stack
from tests.ui.held_reads import HeldRead
from tests.ui.test_agent_desktop import conversation_item, customer_says, sim_customer

SPRING_SALE = SeedTemplate(
    name="spring_sale",
    language="en_US",
    category="MARKETING",
    components=[{"type": "BODY", "text": "Everything is 20% off this week!"}],
)


@pytest.fixture
async def shop(tmp_path, sqlite_template):
    async with ui_stack(tmp_path, sqlite_template, templates=[ORDER_UPDATE, SPRING_SALE]) as s:
        synced = await s.api("POST", "/api/v1/templates/sync")
        assert synced.status_code == 200, synced.text
        await import_card(s, SHEET)
        yield s


async def test_the_cost_is_shown_before_a_template_is_sent(shop, browser):
    agent = await sign_in(browser, shop, ANA)
    await set_presence(agent, "Available")
    hana = await sim_customer(shop, "819000000014", "Hana")
    await customer_says(shop, hana, "Please call me back tomorrow")
    await agent.get_by_test_id("offer-accept").click()
    await expect(agent.get_by_test_id("chat-title")).to_have_text("Hana")
    async with shop.runtime.db.write() as session:  # a day later: the window is closed
        await session.execute(
            update(Conversation).values(
                last_inbound_at=datetime.now(UTC) - timedelta(hours=25), free_entry_point_at=None
            )
        )
    await agent.reload()
    await conversation_item(agent, "Hana").click()
    await expect(agent.get_by_test_id("composer-window-closed")).to_be_visible()

    estimate = agent.get_by_test_id("cost-estimate")
    await agent.get_by_test_id("template-select").click()
    await agent.get_by_role("option", name=re.compile("order_update")).click()
    # a utility template outside the window: the Japanese utility rate
    await expect(estimate).to_have_text("Estimated cost: $0.0106 (Utility)")
    await agent.get_by_test_id("template-select").click()
    await agent.get_by_role("option", name=re.compile("spring_sale")).click()
    await expect(estimate).to_have_text("Estimated cost: $0.1097 (Marketing)")
    await screenshot(agent, "cost-before-sending.png")
    await agent.get_by_test_id("template-send").click()
    await expect(
        agent.locator('[data-testid="message"][data-direction="outbound"][data-type="template"]')
    ).to_have_count(1)

    async def settled():
        async with shop.runtime.db.read() as session:
            cost = await session.scalar(select(MessageCost))
            return cost if cost is not None and cost.settled_at is not None else None

    cost = await eventually(settled)
    assert (cost.estimated_micros, cost.actual_micros) == (109700, 109700)


async def sent_and_settled(shop, wa_id: str, name: str, template: str) -> None:
    customer = await sim_customer(shop, wa_id, name)
    await customer_says(shop, customer, "hello")

    async def conversation():  # this customer's, not the newest (theirs may not exist yet)
        async with shop.runtime.db.read() as session:
            return await session.scalar(
                select(Conversation.id)
                .join(Contact, Contact.id == Conversation.contact_id)
                .where(Contact.wa_id == wa_id)
            )

    conversation_id = await eventually(conversation)
    response = await shop.api(
        "POST",
        f"/api/v1/conversations/{conversation_id}/messages",
        json={
            "message": {
                "type": "template",
                "template": {"name": template, "language": {"code": "en_US"}},
            }
        },
    )
    assert response.status_code == 202, response.text

    async def settled():
        async with shop.runtime.db.read() as session:
            cost = await session.scalar(
                select(MessageCost).where(MessageCost.message_id == response.json()["id"])
            )
            return cost is not None and cost.settled_at is not None

    await eventually(settled)


async def test_the_cost_report_in_english_and_japanese(shop, browser):
    await sent_and_settled(shop, "819000000021", "Aoi", "spring_sale")
    await sent_and_settled(shop, "919812345678", "Ravi", "spring_sale")
    await sent_and_settled(shop, "819000000022", "Ren", "order_update")  # free: window open
    admin = await sign_in(browser, shop, ADMIN)
    await admin.get_by_role("button", name="Costs").click()
    page = admin.get_by_test_id("costs-page")
    await expect(page).to_be_visible()
    # 0.1097 (Japan) + 0.0107 (India) + 0 (utility in the window)
    await expect(admin.get_by_test_id("costs-total")).to_have_text("$0.1204")
    rows = admin.get_by_test_id("costs-row")
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_contain_text("Marketing")
    await expect(rows.first).to_contain_text("$0.1204")
    await expect(
        admin.get_by_test_id("costs-chart").locator(".recharts-bar-rectangle")
    ).not_to_have_count(0)
    await admin.get_by_test_id("costs-by").click()
    await admin.get_by_role("option", name="Market").click()
    await expect(rows).to_have_count(2)
    await expect(rows.filter(has_text="Japan")).to_contain_text("$0.1097")
    await expect(rows.filter(has_text="India")).to_contain_text("$0.0107")
    await expect(admin.get_by_test_id("rate-card")).to_contain_text("In force")
    await admin.get_by_role("button", name="Meta", exact=True).click()
    rates = admin.get_by_test_id("rate-card-rates").get_by_role("row")
    await expect(rates.filter(has_text="Japan").filter(has_text="Marketing")).to_contain_text(
        "$0.1097"
    )
    await expect(
        rates.filter(has_text="All other markets").filter(has_text="Utility")
    ).to_contain_text("$0.0077")
    await screenshot(admin, "costs-report.png")

    async with admin.expect_download() as download_info:
        await admin.get_by_test_id("costs-csv").click()
    download = await download_info.value
    assert re.fullmatch(
        r"costs-market-\d{4}-\d\d-\d\d-\d{4}-\d\d-\d\d\.csv", download.suggested_filename
    )
    content = (await download.path()).read_bytes()  # noqa: ASYNC240 (a small local file)
    assert content.startswith(b"\xef\xbb\xbf")
    lines = content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("market,label,messages,billable")
    assert any(line.startswith("JP,JP,2,1,1,") and line.endswith(",0.1097,USD") for line in lines)

    await admin.get_by_test_id("language-select").click()
    await admin.get_by_role("option", name="日本語").click()
    await expect(admin.get_by_role("heading", name="WhatsApp メッセージのコスト")).to_be_visible()
    await expect(rows.filter(has_text="日本")).to_contain_text("$0.1097")
    await expect(admin.get_by_text("実績", exact=True).first).to_be_visible()
    await admin.get_by_test_id("costs-by").click()
    await admin.get_by_role("option", name="カテゴリ").click()
    await expect(rows.first).to_contain_text("マーケティング")
    await screenshot(admin, "costs-report-ja.png")


async def test_admins_are_alerted_when_the_budget_is_reached(shop, browser):
    admin = await sign_in(browser, shop, ADMIN)
    await admin.get_by_role("button", name="Costs").click()
    await admin.get_by_test_id("budget-monthly").fill("0.15")
    await admin.get_by_test_id("budget-save").click()
    spent = admin.get_by_test_id("budget-spent")
    await expect(spent).to_contain_text("$0.00 of $0.15 (0 %)")
    await sent_and_settled(shop, "819000000031", "Mio", "spring_sale")  # 0.1097: 73 %
    await sent_and_settled(shop, "819000000032", "Kai", "spring_sale")  # 0.2194: 146 %
    await expect(admin.get_by_text("WhatsApp budget: 80 % reached")).to_be_visible()
    await expect(admin.get_by_text("WhatsApp budget: 100 % reached")).to_be_visible()
    await admin.reload()
    await expect(spent).to_contain_text("$0.2194 of $0.15 (146.3 %)")


async def test_the_breakdown_is_the_one_last_picked(ui, browser):
    """The cost report's answer for a breakdown left before lands last: the page keeps
    the one picked last, its column named after it."""
    admin = await sign_in(browser, ui, ADMIN)
    await admin.get_by_role("button", name="Costs").click()
    breakdown = admin.get_by_test_id("costs-breakdown")
    await expect(breakdown).to_have_attribute("data-by", "category")
    by_market = await HeldRead(admin, r"/costs/report\?.*by=market").install()
    await admin.get_by_test_id("costs-by").click()
    await admin.get_by_role("option", name="Market").click()
    await by_market.taken()
    await admin.get_by_test_id("costs-by").click()
    await admin.get_by_role("option", name="Queue").click()
    await expect(breakdown).to_have_attribute("data-by", "queue")
    await by_market.release()  # the market answer lands last
    await expect(breakdown).to_have_attribute("data-by", "queue")
    await expect(breakdown.get_by_role("columnheader").first).to_have_text("Queue")
