"""Campaigns in a real browser: create a draft, upload a Japanese CSV (bad rows reported
by line), map the parameters, preview, send or schedule, watch it, stop it, export it —
in English and in Japanese."""

from __future__ import annotations

import csv
import io

from playwright.async_api import expect

from tests.conftest import WABA_ID
from tests.ui.conftest import ADMIN, screenshot, sign_in
from tests.ui.held_reads import HeldRead

CSV = (
    "\ufeffphone,name,order_no\n"
    "+81 90-1234-0001,山田 太郎,A-1\n"
    "+81 90-1234-0002,佐藤 花子,A-2\n"
    "電話なし,鈴木,A-3\n"
).encode()


async def _prepare(stack) -> None:
    synced = await stack.api("POST", "/api/v1/templates/sync", json={"waba_id": WABA_ID})
    assert synced.status_code == 200, synced.text
    for wa_id, name in (("819012340001", "山田 太郎"), ("819012340002", "佐藤 花子")):
        created = await stack.sim_client.post(
            "/_sim/customers", json={"wa_id": wa_id, "name": name}
        )
        assert created.status_code in (200, 201), created.text


async def _draft(page, *, name: str, nav: str, create: str, queue: str) -> None:
    await page.get_by_role("button", name=nav).click()
    await page.get_by_test_id("new-campaign").click()
    form = page.get_by_test_id("campaign-form")
    await form.get_by_test_id("campaign-name").fill(name)
    await form.get_by_test_id("campaign-number").click()
    await page.get_by_role("option", name="+1 555 0123").click()
    await form.get_by_test_id("campaign-template").click()
    await page.get_by_role("option", name="order_update (en_US, UTILITY)").click()
    await form.get_by_test_id("campaign-queue").click()
    await page.get_by_role("option", name=queue).click()
    await page.get_by_role("button", name=create).click()
    await expect(page.get_by_test_id("campaign-title")).to_have_text(name)


async def _audience_and_values(page, contact_name_label: str) -> None:
    await page.locator('[data-testid="audience-card"] input[type="file"]').set_input_files(
        {"name": "customers.csv", "mimeType": "text/csv", "buffer": CSV}
    )
    await page.get_by_test_id("audience-upload").click()
    report = page.get_by_test_id("audience-report")
    await expect(report.get_by_test_id("report-added")).to_contain_text("2")
    await expect(report.get_by_test_id("report-invalid")).to_contain_text("1")
    await expect(report.get_by_test_id("report-problems")).to_contain_text("4")  # the line
    await page.get_by_test_id("value-source-body.1").click()
    await page.get_by_role("option", name=contact_name_label).click()
    await page.get_by_test_id("values-save").click()
    await expect(page.get_by_test_id("campaign-preview")).to_have_text(
        "Hello 山田 太郎, your order is on its way."
    )


async def test_create_send_watch_and_export_a_campaign(ui, browser):
    await _prepare(ui)
    page = await sign_in(browser, ui, ADMIN)
    await _draft(
        page, name="Order updates", nav="Campaigns", create="Create draft", queue="Support"
    )
    await _audience_and_values(page, "Customer's name")
    await expect(page.get_by_test_id("cost-estimate")).to_contain_text("2")
    await expect(page.get_by_test_id("messaging-limit")).to_contain_text("TIER")
    await screenshot(page, "campaign-draft.png")

    await page.get_by_test_id("campaign-schedule").click()  # "Send now"
    status = page.get_by_test_id("campaign-status")
    await expect(status).to_have_attribute("data-status", "finished")
    await expect(page.get_by_test_id("count-delivered")).not_to_have_attribute("data-count", "0")
    await expect(page.get_by_test_id("recipient-row")).to_have_count(2)
    await screenshot(page, "campaign-progress.png")

    # Statuses keep coming after the campaign finished: a customer reads it, and the open
    # page shows it without being reloaded.
    await expect(page.get_by_test_id("count-read")).to_have_attribute("data-count", "0")
    opened = await ui.sim_client.post("/_sim/customers/819012340001/open")
    assert opened.status_code == 200 and opened.json()["read"], opened.text
    await expect(page.get_by_test_id("count-read")).to_have_attribute("data-count", "1")

    async with page.expect_download() as download_info:
        await page.get_by_test_id("campaign-export").click()
    download = await download_info.value
    content = (await download.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(content)))
    assert {r["name"] for r in rows} == {"山田 太郎", "佐藤 花子"}
    assert {r["status"] for r in rows} <= {"sent", "delivered", "read"}
    assert {r["order_no"] for r in rows} == {"A-1", "A-2"}

    await page.get_by_role("button", name="Campaigns").click()
    row = page.get_by_test_id("campaign-row").filter(has_text="Order updates")
    await expect(row.get_by_test_id("campaign-status")).to_have_text("Finished")


async def test_schedule_and_stop_a_campaign_in_japanese(ui, browser):
    await _prepare(ui)
    page = await sign_in(browser, ui, ADMIN)
    await page.get_by_test_id("language-select").click()
    await page.get_by_role("option", name="日本語").click()
    await _draft(
        page, name="ご注文のお知らせ", nav="キャンペーン", create="下書きを作成", queue="Support"
    )
    await _audience_and_values(page, "お客様の名前")
    await page.get_by_text("日時を指定").click()
    await page.get_by_test_id("schedule-at").fill("2099-04-01T09:00")
    await page.get_by_test_id("campaign-schedule").click()
    status = page.get_by_test_id("campaign-status")
    await expect(status).to_have_text("予約済み")
    await expect(page.get_by_test_id("campaign-progress")).to_contain_text("2099")
    await screenshot(page, "campaign-scheduled-ja.png")

    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_test_id("campaign-stop").click()
    await expect(status).to_have_text("中止")
    await expect(page.get_by_test_id("count-pending")).to_have_attribute("data-count", "0")
    # Nothing went to WhatsApp.
    sent = (await ui.sim_client.get("/_sim/sent", params={"path_contains": "/messages"})).json()
    assert not [r for r in sent["requests"] if r["method"] == "POST"]
    async with page.expect_download() as download_info:
        await page.get_by_test_id("campaign-export").click()
    content = (await (await download_info.value).path()).read_bytes().decode("utf-8-sig")
    assert {r["status"] for r in csv.DictReader(io.StringIO(content))} == {"stopped"}


async def test_a_refresh_answered_after_stop_does_not_bring_the_campaign_back(ui, browser):
    """The page refreshes a scheduled campaign while it is open; a refresh read before
    the stop and answered after it leaves the campaign shown as stopped."""
    await _prepare(ui)
    page = await sign_in(browser, ui, ADMIN)
    await _draft(page, name="Reminders", nav="Campaigns", create="Create draft", queue="Support")
    await _audience_and_values(page, "Customer's name")
    await page.get_by_text("At a time").click()
    await page.get_by_test_id("schedule-at").fill("2099-04-01T09:00")
    await page.get_by_test_id("campaign-schedule").click()
    status = page.get_by_test_id("campaign-status")
    await expect(status).to_have_attribute("data-status", "scheduled")

    refresh = await HeldRead(page, r"/campaigns/\d+$").install()
    await refresh.taken()  # the page's next refresh: read while still scheduled
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_test_id("campaign-stop").click()
    await expect(status).to_have_attribute("data-status", "stopped")
    await refresh.release()
    # Read at once: the old answer, had it been shown, would only be corrected by the next
    # refresh (seconds later).
    assert await status.get_attribute("data-status") == "stopped"
    await expect(page.get_by_test_id("count-pending")).to_have_attribute("data-count", "0")
