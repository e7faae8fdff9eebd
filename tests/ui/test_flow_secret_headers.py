"""The flow editor's HTTP Request headers: a secret header shows only whether it is set
(its value never reaches the browser), a new header is marked secret with a toggle, and
saving the draft keeps the stored secret while adding the new one, encrypted."""

from __future__ import annotations

import contextlib

from playwright.async_api import expect
from sqlalchemy import select

from madoguchi.security.secrets import SecretBox
from madoguchi.store.models import Flow
from tests.conftest import PHONE_NUMBER_ID, SECRET_KEY
from tests.helpers import eventually
from tests.ui.conftest import ADMIN, screenshot, sign_in
from tests.ui.test_admin_and_flows import node

KEY = "sk-live-kept-in-the-server"
NEW = "tok-typed-in-the-editor"


async def test_a_secret_header_is_write_only_in_the_editor(ui, browser):
    definition = {
        "nodes": [
            {"id": "Start", "type": "start", "numbers": [PHONE_NUMBER_ID]},
            {
                "id": "Lookup",
                "type": "http_request",
                "url": "https://crm.example/orders/{{message.text}}",
                "headers": {"Accept": "application/json"},
                "secret_headers": {"X-Api-Key": KEY},
            },
            {"id": "Done", "type": "end"},
        ],
        "edges": [
            {"from": "Start", "exit": "next", "to": "Lookup"},
            {"from": "Lookup", "exit": "success", "to": "Done"},
            {"from": "Lookup", "exit": "failure", "to": "Done"},
        ],
    }
    created = await ui.api(
        "POST", "/api/v1/flows", json={"name": "Orders", "definition": definition}
    )
    assert created.status_code == 201, created.text
    flow_id = created.json()["id"]

    page = await sign_in(browser, ui, ADMIN)
    bodies: list[str] = []

    async def keep(response):
        if "/api/v1/flows" in response.url and response.request.method == "GET":
            with contextlib.suppress(Exception):  # a response without a body
                bodies.append(await response.text())

    page.on("response", keep)
    await page.get_by_role("button", name="Flows").click()
    await page.locator("tr", has_text="Orders").get_by_role("button", name="Open").click()
    await node(page, "Lookup").click()

    settings = page.get_by_test_id("widget-settings")
    rows = settings.get_by_test_id("http-header")
    await expect(rows).to_have_count(2)
    secret_row = rows.nth(1)
    await expect(secret_row.get_by_role("textbox").first).to_have_value("X-Api-Key")
    secret_value = secret_row.locator("input[type=password]")
    await expect(secret_value).to_have_value("")
    await expect(secret_value).to_have_attribute("placeholder", "set — type to replace")
    await expect(settings.get_by_test_id("secret-header-status")).to_have_text(
        "X-Api-Key: set — type to replace"
    )
    assert await secret_row.get_by_label("Secret").is_checked()

    # A new header, made secret with the toggle.
    await settings.get_by_test_id("add-header").click()
    await expect(rows).to_have_count(3)
    added = rows.nth(2)
    await added.get_by_role("textbox").nth(0).fill("X-Token")
    await added.get_by_role("textbox").nth(1).fill(NEW)
    await added.get_by_label("Secret").check()
    await expect(added.locator("input[type=password]")).to_have_value(NEW)
    await expect(settings.get_by_test_id("secret-header-status")).to_contain_text(
        "X-Token: new value, saved with the draft"
    )
    await screenshot(page, "flow-secret-headers.png")
    await page.get_by_test_id("flow-save").click()

    async def saved():
        async with ui.runtime.db.read() as session:
            flow = await session.scalar(select(Flow).where(Flow.id == flow_id))
            secrets = next(n for n in flow.draft["nodes"] if n["id"] == "Lookup")["secret_headers"]
        return secrets if "X-Token" in secrets else None

    stored = await eventually(saved)
    box = SecretBox(SECRET_KEY)
    assert box.decrypt(stored["X-Api-Key"].removeprefix("sealed:")) == KEY  # kept
    assert box.decrypt(stored["X-Token"].removeprefix("sealed:")) == NEW  # encrypted
    # The value never reached the browser, before or after the save.
    assert bodies and not any(KEY in b for b in bodies)
    await page.reload()
    await node(page, "Lookup").click()
    await expect(settings.get_by_test_id("secret-header-status")).to_have_text(
        "X-Api-Key: set — type to replace · X-Token: set — type to replace"
    )
    assert KEY not in await page.content() and NEW not in await page.content()
