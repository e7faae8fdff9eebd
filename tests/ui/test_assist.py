"""Assist in a real browser: the agent sees the summary and suggested answers of a
conversation and inserts one into the composer (edited, then sent by the agent); a
supervisor sees negative conversations highlighted in the live list, in English and
Japanese."""

from __future__ import annotations

from playwright.async_api import expect

from tests.ui.conftest import ADMIN, ANA, screenshot, set_presence, sign_in
from tests.ui.test_agent_desktop import (
    conversation_item,
    customer_received,
    customer_says,
    sim_customer,
)

RETURNS = {
    "title": "Returns and refunds",
    "body": "You can return any unused item within 30 days for a full refund.",
    "tags": ["returns"],
}
SHIPPING_JA = {
    "title": "配送について",
    "body": "ご注文から3営業日以内に発送します。追跡番号で配送状況を確認できます。",
    "tags": ["配送"],
}


async def test_agent_sees_summary_and_inserts_a_suggested_answer(ui, browser):
    for article in (RETURNS, SHIPPING_JA):
        created = await ui.api("POST", "/api/v1/knowledge", json=article)
        assert created.status_code == 201, created.text
    agent = await sign_in(browser, ui, ANA)
    await set_presence(agent, "Available")
    mia = await sim_customer(ui, "819000000021", "Mia Clark")
    await customer_says(ui, mia, "Hello! The shoes I bought do not fit. Can I get a refund?")
    # The offer already says what the customer wants.
    await expect(agent.get_by_test_id("offer-summary")).to_contain_text(
        "The shoes I bought do not fit."
    )
    await agent.get_by_test_id("offer-accept").click()
    await conversation_item(agent, "Mia Clark").click()

    panel = agent.get_by_test_id("assist-panel")
    await expect(panel.get_by_test_id("assist-summary-text")).to_contain_text(
        "The shoes I bought do not fit."
    )
    suggestion = panel.get_by_test_id("assist-suggestion").first
    await expect(suggestion).to_contain_text("Returns and refunds")
    composer = agent.get_by_test_id("composer-input")
    await composer.fill("Hi Mia,")
    await suggestion.get_by_test_id("assist-insert").click()
    # Inserted after what the agent had typed, not sent: the agent edits it first.
    await expect(composer).to_have_value(f"Hi Mia,\n{RETURNS['body']}")
    await screenshot(agent, "assist-desktop.png")
    await composer.press("End")
    await composer.type(" Reply with your order number.")
    await composer.press("Enter")
    await customer_received(ui, mia, "within 30 days for a full refund. Reply with your order")

    # The agent rewrites the summary at wrap-up; it is kept as theirs.
    await panel.get_by_test_id("assist-summary-edit-button").click()
    await panel.get_by_test_id("assist-summary-edit").fill("Shoes too small; refund explained.")
    await panel.get_by_test_id("assist-summary-save").click()
    await expect(panel.get_by_test_id("assist-summary-text")).to_have_text(
        "Shoes too small; refund explained."
    )
    await expect(panel).to_contain_text("written by an agent")


async def test_supervisor_sees_negative_conversations_highlighted_in_en_and_ja(ui, browser):
    calm = await sim_customer(ui, "819000000031", "Calm Carl")
    angry = await sim_customer(ui, "819000000032", "Angry Anna")
    okotta = await sim_customer(ui, "819000000033", "山田 怒")
    await customer_says(ui, calm, "Thanks, everything works great now!")
    await customer_says(ui, angry, "This is terrible. My parcel is lost and nobody answers!")

    supervisor = await sign_in(browser, ui, ADMIN)
    angry_item = conversation_item(supervisor, "Angry Anna")
    await expect(angry_item).to_have_attribute("data-sentiment", "negative")
    await expect(angry_item).to_have_class("conv-item conv-negative")
    await expect(angry_item.get_by_test_id("sentiment-badge")).to_have_text("Negative")
    await expect(conversation_item(supervisor, "Calm Carl")).to_have_attribute(
        "data-sentiment", "positive"
    )
    # A conversation turning negative while the supervisor watches: live, no reload; the
    # Support queue is watched, so it also pops an alert.
    queues = (await ui.api("GET", "/api/v1/queues")).json()
    support = next(q["id"] for q in queues if q["name"] == "Support")
    watched = await ui.api(
        "PUT",
        "/api/v1/assist/settings",
        json={"llm_enabled": False, "negative_alert_queue_ids": [support]},
    )
    assert watched.status_code == 200, watched.text
    # The customer's very first message is negative: whether it is scored before or after
    # routing queued the new conversation, the alert comes (once).
    await customer_says(ui, okotta, "最悪です。注文した商品がまだ届きません！")
    japanese = conversation_item(supervisor, "山田 怒")
    await expect(japanese).to_have_attribute("data-sentiment", "negative")
    await expect(supervisor.get_by_text("A conversation turned negative")).to_be_visible()

    await supervisor.get_by_test_id("language-select").click()
    await supervisor.get_by_role("option", name="日本語").click()
    await expect(japanese.get_by_test_id("sentiment-badge")).to_have_text("ネガティブ")
    await expect(
        conversation_item(supervisor, "Calm Carl").get_by_test_id("sentiment-badge")
    ).to_have_text("ポジティブ")
    await screenshot(supervisor, "assist-supervisor-ja.png")


async def test_admin_imports_and_writes_knowledge_articles(ui, browser):
    admin = await sign_in(browser, ui, ADMIN)
    await admin.goto(ui.url + "/admin/knowledge")
    await expect(admin.get_by_test_id("assist-settings")).to_contain_text(
        "No language model is configured"
    )
    await admin.locator('input[type="file"]').set_input_files(
        [
            {
                "name": "returns.md",
                "mimeType": "text/markdown",
                "buffer": b"---\ntitle: Returns\ntags: [returns]\n---\nReturn within 30 days.",
            },
            {"name": "empty.md", "mimeType": "text/markdown", "buffer": b"# Empty\n"},
        ]
    )
    report = admin.get_by_test_id("import-report")
    await expect(report).to_contain_text("Imported: 1 new, 0 updated, 0 unchanged.")
    await expect(report).to_contain_text("empty.md: the article has no text")
    await expect(admin.get_by_test_id("article-row")).to_have_count(1)

    await admin.get_by_test_id("new-article").click()
    await admin.get_by_test_id("article-title").fill("配送について")
    await admin.get_by_test_id("article-save").click()
    form = admin.get_by_test_id("article-form")
    # The server refuses it; its words appear under the body field.
    await expect(form).to_contain_text("String should have at least 1 character")
    await admin.get_by_test_id("article-body").fill("3営業日以内に発送します。")
    await admin.get_by_test_id("article-save").click()
    rows = admin.get_by_test_id("article-row")
    await expect(rows).to_have_count(2)
    await expect(rows.filter(has_text="配送について")).to_contain_text("ja")
    await screenshot(admin, "assist-knowledge.png")
