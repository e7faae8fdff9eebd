"""Admin settings in a real browser: connecting a WhatsApp number (Meta — the simulator —
checks the token first) and the workspace's time zone, which every displayed time follows."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import expect

from madoguchi.simulator.config import SimNumber
from tests.conftest import SIM_NUMBER
from tests.ui.conftest import ADMIN, screenshot, sign_in, ui_stack
from tests.ui.test_admin_and_flows import open_admin_page

TOKYO_NUMBER = SimNumber(
    phone_number_id="301234567890777",
    display_phone_number="+81 3 5555 0177",
    waba_id="207777777777777",
    access_token="sim-token-tokyo",
    verified_name="ACME Tokyo",
    quality_rating="GREEN",
)


@pytest.fixture
async def ui_meta(tmp_path, sqlite_template):
    """The UI stack whose simulator also hosts a number the workspace has not connected."""
    async with ui_stack(tmp_path, sqlite_template, numbers=[SIM_NUMBER, TOKYO_NUMBER]) as stack:
        yield stack


async def test_admin_connects_a_number_after_a_refused_token(ui_meta, browser):
    page = await sign_in(browser, ui_meta, ADMIN)
    await open_admin_page(page, "WhatsApp numbers")
    await expect(page.get_by_test_id("number-row")).to_have_count(1)

    await page.get_by_test_id("connect-number").click()
    form = page.get_by_test_id("number-form")
    await form.get_by_test_id("number-waba-id").fill(TOKYO_NUMBER.waba_id)
    await form.get_by_test_id("number-account-name").fill("ACME Japan")
    await form.get_by_test_id("number-phone-number-id").fill(TOKYO_NUMBER.phone_number_id)
    await form.get_by_test_id("number-display").fill(TOKYO_NUMBER.display_phone_number)
    await form.get_by_test_id("number-token").fill("EAAG-typo-in-the-token")
    await form.get_by_test_id("number-queue").click()
    await page.get_by_role("option", name="Support").click()
    await form.get_by_test_id("number-save").click()

    # Meta's refusal is shown next to the token field, and nothing was connected.
    token = form.get_by_test_id("number-token")
    await expect(token).to_have_attribute("aria-invalid", "true")
    await expect(form).to_contain_text("Meta refused this access token")
    await expect(form.get_by_test_id("form-error")).to_have_count(0)
    await screenshot(page, "admin-number-refused.png")
    assert len((await ui_meta.api("GET", "/api/v1/phone-numbers")).json()) == 1

    await token.fill(TOKYO_NUMBER.access_token)
    await form.get_by_test_id("number-save").click()
    await expect(form).to_have_count(0)
    row = page.get_by_test_id("number-row").filter(has_text=TOKYO_NUMBER.phone_number_id)
    await expect(row).to_contain_text("+81 3 5555 0177")
    await expect(row).to_contain_text("ACME Tokyo")  # Meta's verified name
    await expect(row).to_contain_text("ACME Japan")
    await expect(row).to_contain_text("Support")
    await expect(row.get_by_test_id("number-status")).to_have_text("Connected")
    await expect(page.get_by_test_id("number-row")).to_have_count(2)
    await screenshot(page, "admin-numbers.png")
    assert TOKYO_NUMBER.access_token not in await page.content()


def clock(iso: str, zone: str) -> re.Pattern:
    """How en-US writes the time of ``iso`` in ``zone`` (h:mm), not preceded by a digit."""
    at = datetime.fromisoformat(iso).astimezone(ZoneInfo(zone))
    return re.compile(rf"(?<!\d){at.hour % 12 or 12}:{at.minute:02d}")


async def test_workspace_time_zone_changes_the_times_shown(ui, browser):
    """The browser runs in Tokyo; the workspace says UTC, so times are written in UTC
    until an admin picks Asia/Tokyo in the workspace settings."""
    page = await sign_in(browser, ui, ADMIN)
    users = (await ui.api("GET", "/api/v1/users")).json()
    signed_in_at = next(u for u in users if u["email"] == ADMIN)["last_login_at"]

    await open_admin_page(page, "Users")
    ada = page.get_by_test_id("user-row").filter(has_text="Ada Admin")
    await expect(ada).to_contain_text(clock(signed_in_at, "UTC"))
    await expect(ada).not_to_contain_text(clock(signed_in_at, "Asia/Tokyo"))

    await open_admin_page(page, "Workspace")
    form = page.get_by_test_id("workspace-form")
    zone = form.get_by_test_id("workspace-timezone")
    await expect(zone).to_have_value("UTC")
    await zone.click()
    await zone.fill("Asia/Tok")
    await page.get_by_role("option", name="Asia/Tokyo").click()
    await form.get_by_test_id("workspace-save").click()
    await expect(page.get_by_test_id("workspace-saved")).to_be_visible()
    now_tokyo = datetime.now(ZoneInfo("Asia/Tokyo"))
    await expect(page.get_by_test_id("workspace-now")).to_contain_text(
        f"{now_tokyo.hour % 12 or 12}:"
    )
    await screenshot(page, "admin-workspace.png")
    assert (await ui.api("GET", "/api/v1/workspace")).json()["timezone"] == "Asia/Tokyo"

    await open_admin_page(page, "Users")
    await expect(ada).to_contain_text(clock(signed_in_at, "Asia/Tokyo"))
    await expect(ada).not_to_contain_text(clock(signed_in_at, "UTC"))

    # A bad zone (sent by hand) is refused by the server with the field named.
    refused = await ui.api("PATCH", "/api/v1/workspace", json={"timezone": "Tokyo"})
    assert refused.status_code == 422 and refused.json()["detail"]["field"] == "timezone"
