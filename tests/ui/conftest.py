"""Browser tests: Playwright (async API) drives Debian's Chromium against the real app and
the simulator, both served over real HTTP in the test's own event loop.

Each test gets a fresh SQLite workspace with an admin, two agents, two queues, and the
simulator's number routed to "Support". Screenshots for the docs go to ``docs/images/``.

The tests skip (saying why) only when Chromium cannot be started; the web app must have
been built (``make frontend``; ``make test`` does it), else they fail, except outside CI
where they skip so that a Python-only checkout can still run the rest of the suite.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from madoguchi.security.secrets import SecretBox
from madoguchi.services.access import users
from madoguchi.services.configuration.apply import apply_config
from madoguchi.simulator.config import SeedTemplate
from madoguchi.store.models import User
from madoguchi.web.spa import BUILD_DIR
from tests.conftest import (
    PHONE_NUMBER_ID,
    SECRET_KEY,
    WA_TOKEN,
    WABA_ID,
    SimStack,
    start_sim_stack,
)

CHROMIUM = os.environ.get("MADOGUCHI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--no-first-run",
]
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
PASSWORD = "correct horse battery"

ADMIN = "ada@acme.test"
ANA = "ana@acme.test"
BEN = "ben@acme.test"

UI_WORKSPACE = f"""
workspace: {{slug: acme, name: ACME}}
users:
  - {{email: {ADMIN}, name: Ada Admin, role: admin}}
  - {{email: {ANA}, name: Ana Agent, role: agent}}
  - {{email: {BEN}, name: Ben Agent, role: agent}}
queues:
  - name: Support
    max_per_agent: 3
    offer_timeout_seconds: 300
    members:
      - {{email: {ANA}}}
    dispositions:
      - {{code: solved, label: Solved}}
      - {{code: follow_up, label: Needs follow-up}}
  - name: Billing
    offer_timeout_seconds: 300
    members:
      - {{email: {BEN}}}
whatsapp:
  accounts:
    - waba_id: "{WABA_ID}"
      name: ACME
      phone_numbers:
        - phone_number_id: "{PHONE_NUMBER_ID}"
          display_phone_number: "+1 555 0123"
          access_token: ${{WA_TOKEN}}
          default_queue: Support
"""

ORDER_UPDATE = SeedTemplate(
    name="order_update",
    language="en_US",
    components=[{"type": "BODY", "text": "Hello {{1}}, your order is on its way."}],
)


def _web_build_present() -> bool:
    return (BUILD_DIR / "index.html").is_file()


@asynccontextmanager
async def ui_stack(tmp_path, sqlite_template, **sim_options) -> AsyncIterator[SimStack]:
    """The product + simulator on SQLite, with the people of UI_WORKSPACE signed up."""
    if not _web_build_present():
        message = f"the web app is not built in {BUILD_DIR}: run `make frontend`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    path = tmp_path / "ui.db"
    shutil.copy(sqlite_template, path)
    stack = await start_sim_stack(f"sqlite+aiosqlite:///{path}", tmp_path, **sim_options)
    await apply_config(
        stack.runtime.db, SecretBox(SECRET_KEY), UI_WORKSPACE, env={"WA_TOKEN": WA_TOKEN}
    )
    async with stack.runtime.db.write() as session:
        for user in await session.scalars(select(User)):
            await users.set_password(session, user, PASSWORD)
    try:
        yield stack
    finally:
        await stack.client.aclose()
        await stack.sim_client.aclose()
        await stack.served.stop()
        await stack.sim.stop()


@pytest.fixture
async def ui(tmp_path, sqlite_template) -> AsyncIterator[SimStack]:
    async with ui_stack(tmp_path, sqlite_template, templates=[ORDER_UPDATE]) as stack:
        yield stack


@pytest.fixture
async def browser():
    """Debian's Chromium, headless (Playwright's own browser downloads are not used)."""
    from playwright.async_api import async_playwright

    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 (a stat, before any I/O starts)
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    manager = async_playwright()
    playwright = await manager.start()
    try:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
    except Exception as exc:  # the browser cannot start here (sandbox, libraries…)
        await manager.__aexit__(None, None, None)
        pytest.skip(f"Chromium cannot start: {exc}")
    try:
        yield browser
    finally:
        await browser.close()
        await manager.__aexit__(None, None, None)


# Assertions and actions wait for their condition; the ceiling only decides when a wait
# counts as a failure. Five seconds (Playwright's default) was too short on a busy
# two-core machine, and so were 20 s: beside CPU hogs (load 10-16) this process was
# measured getting 0.1-0.9 s of CPU in loop stalls of 3-13 s, and ReDoc stayed on
# "Loading…" for 20 s while its schema was made and rendered. 60 s, as
# ``tests.helpers.eventually``.
PAGE_CEILING_MS = 60_000
expect.set_options(timeout=PAGE_CEILING_MS)


async def sign_in(browser, stack: SimStack, email: str, *, locale: str = "en-US"):
    """A new browser context (its own cookies) signed in as ``email``; returns the page."""
    context = await browser.new_context(
        viewport={"width": 1366, "height": 800}, locale=locale, timezone_id="Asia/Tokyo"
    )
    page = await context.new_page()
    page.set_default_timeout(PAGE_CEILING_MS)
    await page.goto(stack.url + "/")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_role("textbox", name="Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_test_id("live-state").wait_for()
    await page.locator('[data-testid="live-state"][data-state="open"]').wait_for()
    return page


async def set_presence(page, label: str) -> None:
    await page.get_by_test_id("presence-select").click()
    await page.get_by_role("option", name=label, exact=True).click()


async def screenshot(page, name: str) -> None:
    """Write ``docs/images/<name>`` only when asked (``make screenshots``): a plain test run
    must leave a fresh clone clean."""
    if os.environ.get("MADOGUCHI_SCREENSHOTS") != "1":
        return
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    await page.wait_for_timeout(400)  # let dialogs and toasts finish appearing
    await page.screenshot(path=str(DOCS_IMAGES / name), animations="disabled")
