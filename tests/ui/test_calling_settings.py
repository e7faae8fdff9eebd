"""A number's calling settings from the admin page, in a real browser: the simulator plays
Meta, keeps the settings and refuses like Meta does."""

from __future__ import annotations

from playwright.async_api import expect

from tests.conftest import SIM_NUMBER
from tests.ui.conftest import ADMIN, screenshot, sign_in
from tests.ui.test_admin_and_flows import open_admin_page


async def sim_settings(ui) -> dict:
    r = await ui.sim_client.get(
        f"/v26.0/{SIM_NUMBER.phone_number_id}/settings",
        headers={"Authorization": f"Bearer {SIM_NUMBER.access_token}"},
    )
    assert r.status_code == 200, r.text
    return r.json()["calling"]


async def open_calling(page):
    await open_admin_page(page, "WhatsApp numbers")
    row = page.get_by_test_id("number-row").filter(has_text=SIM_NUMBER.phone_number_id)
    await row.get_by_test_id("number-calling").click()
    form = page.get_by_test_id("calling-settings")
    await expect(form).to_be_visible()
    return form


async def test_admin_sets_calling_hours_and_sees_metas_refusals(ui, browser):
    page = await sign_in(browser, ui, ADMIN)
    form = await open_calling(page)
    # As Meta has them: calling on, icon shown, callback on, no call hours.
    await expect(form.get_by_test_id("calling-enabled")).to_be_checked()
    await expect(form.get_by_test_id("calling-callback")).to_be_checked()
    await expect(form.get_by_test_id("calling-hours")).to_have_count(0)

    await form.get_by_role("switch", name="Call hours").click()
    zone = form.get_by_test_id("calling-timezone")
    await zone.click()
    await zone.fill("Asia/Tok")
    await page.get_by_role("option", name="Asia/Tokyo").click()
    await form.get_by_test_id("calling-add-hours").click()
    await form.get_by_test_id("calling-add-hours").click()
    rows = form.get_by_test_id("calling-hours-row")
    # Monday 09:00-12:00 and (by mistake) Tuesday → Monday 11:00-18:00: they overlap.
    await rows.nth(0).get_by_test_id("calling-closes").fill("12:00")
    await rows.nth(1).get_by_test_id("calling-day").click()
    await page.get_by_role("option", name="Monday").click()
    await rows.nth(1).get_by_test_id("calling-opens").fill("11:00")
    await form.get_by_test_id("calling-add-holiday").click()
    await form.get_by_test_id("calling-holiday-date").fill("2026-12-31")
    await form.get_by_test_id("calling-save").click()
    error = form.get_by_test_id("calling-error")
    await expect(error).to_contain_text("MONDAY: 0900-1200 and 1100-1800 overlap")
    assert "call_hours" not in await sim_settings(ui)  # refused before Meta saw it

    await rows.nth(1).get_by_test_id("calling-opens").fill("13:00")
    await form.get_by_test_id("calling-save").click()
    await expect(form.get_by_test_id("calling-saved")).to_be_visible()
    await expect(error).to_have_count(0)
    hours = (await sim_settings(ui))["call_hours"]
    assert hours["status"] == "ENABLED" and hours["timezone_id"] == "Asia/Tokyo"
    assert hours["weekly_operating_hours"] == [
        {"day_of_week": "MONDAY", "open_time": "0900", "close_time": "1200"},
        {"day_of_week": "MONDAY", "open_time": "1300", "close_time": "1800"},
    ]
    assert hours["holiday_schedule"] == [
        {"date": "2026-12-31", "start_time": "0000", "end_time": "2359"}
    ]
    await screenshot(page, "admin-calling-settings.png")

    # Meta refuses the token: the admin is told what it means and what to do.
    queued = await ui.sim_client.post(
        "/_sim/faults",
        json={
            "phone_number_id": SIM_NUMBER.phone_number_id,
            "endpoint": "settings",
            "code": 190,
            "details": "Error validating access token: Session has expired.",
        },
    )
    assert queued.status_code == 200
    await form.get_by_role("switch", name="Customers can call this number").click()
    await form.get_by_test_id("calling-save").click()
    await expect(error).to_contain_text("reconnect the number with a new token")
    await expect(error).to_contain_text("#190: Error validating access token")
    assert (await sim_settings(ui))["status"] == "ENABLED"

    # The next save goes through: calling off at Meta, and in the audit log.
    await form.get_by_test_id("calling-save").click()
    await expect(form.get_by_test_id("calling-saved")).to_be_visible()
    assert (await sim_settings(ui))["status"] == "DISABLED"
    log = (
        await ui.api("GET", "/api/v1/audit-log", params={"action": "number.calling_update"})
    ).json()
    entries = log["items"] if isinstance(log, dict) else log
    assert [e["after"].get("status") for e in entries if e["action"] == "number.calling_update"][
        :1
    ] == ["DISABLED"]


async def test_calling_settings_in_japanese(ui, browser):
    page = await sign_in(browser, ui, ADMIN)
    await page.get_by_test_id("language-select").click()
    await page.get_by_role("option", name="日本語").click()
    await page.get_by_role("button", name="管理").click()
    await page.get_by_role("menuitem", name="WhatsApp 番号").click()
    row = page.get_by_test_id("number-row").filter(has_text=SIM_NUMBER.phone_number_id)
    await row.get_by_test_id("number-calling").click()
    form = page.get_by_test_id("calling-settings")
    await expect(form).to_contain_text("お客様がこの番号に電話できる")
    await expect(form.get_by_test_id("calling-save")).to_have_text("Meta に保存")
    # Meta's refusal in Japanese, Meta's own words after it.
    await ui.sim_client.post(
        "/_sim/faults",
        json={
            "phone_number_id": SIM_NUMBER.phone_number_id,
            "endpoint": "settings",
            "code": 138000,
            "details": "Calling is not available for this phone number.",
        },
    )
    await form.get_by_test_id("calling-save").click()
    error = form.get_by_test_id("calling-error")
    await expect(error).to_contain_text("メッセージ送信上限 2,000 以上")
    await expect(error).to_contain_text("#138000: Calling is not available")
