"""The audit log in the web app: an admin's change appears with who, what and from where,
filtered by person and object, in English and Japanese."""

from __future__ import annotations

from playwright.async_api import expect

from tests.ui.conftest import ADMIN, sign_in
from tests.ui.held_reads import HeldRead
from tests.ui.test_admin_and_flows import open_admin_page

CSRF = {"X-Requested-With": "madoguchi"}


async def rename_workspace(page, name: str) -> None:
    """The admin renames the workspace through the web app's own API session."""
    status = await page.evaluate(
        """(name) => fetch('/api/v1/workspace', {method: 'PATCH', headers: {'Content-Type':
        'application/json', 'X-Requested-With': 'madoguchi'}, body: JSON.stringify({name})})
        .then((r) => r.status)""",
        name,
    )
    assert status == 200


async def test_an_admin_reads_who_changed_what(ui, browser):
    page = await sign_in(browser, ui, ADMIN)
    await rename_workspace(page, "ACME Support")
    await open_admin_page(page, "Audit log")
    log = page.get_by_test_id("audit-log")
    row = log.locator("tbody tr").filter(has_text="Changed workspace")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text(ADMIN)
    await expect(row).to_contain_text("ACME Support")
    await expect(row).to_contain_text("127.0.0.1")

    # Filtered to another kind of object, the entry is not listed.
    await page.get_by_role("combobox", name="Object").click()
    await page.get_by_role("option", name="Flow").click()
    await expect(log.locator("tbody tr")).to_have_count(0)
    await expect(page.get_by_text("No changes recorded yet.")).to_be_visible()

    await page.get_by_test_id("language-select").click()
    await page.get_by_role("option", name="日本語").click()
    await expect(page.get_by_role("heading", name="監査ログ")).to_be_visible()


async def test_the_rows_shown_are_those_of_the_filters_on_screen(ui, browser):
    """The answer for a filter left before lands last: the rows stay those of the filter
    on screen."""
    page = await sign_in(browser, ui, ADMIN)
    await rename_workspace(page, "ACME Care")
    await open_admin_page(page, "Audit log")
    rows = page.get_by_test_id("audit-log").locator("tbody tr")
    await expect(rows.filter(has_text="Changed workspace")).to_have_count(1)

    flows = await HeldRead(page, r"/audit-log\?.*target_type=flow").install()
    await page.get_by_role("combobox", name="Object").click()
    await page.get_by_role("option", name="Flow").click()
    await flows.taken()
    await page.get_by_role("combobox", name="Object").click()
    async with page.expect_request_finished(lambda r: "target_type=workspace" in r.url):
        await page.get_by_role("option", name="Workspace", exact=True).click()
    await expect(rows.filter(has_text="Changed workspace")).to_have_count(1)
    await flows.release()  # the flows' answer (no rows) lands last
    await expect(rows.filter(has_text="Changed workspace")).to_have_count(1)
