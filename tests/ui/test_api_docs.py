"""``/docs`` in a real browser with the network cut off: Swagger UI must come from this
server (a self-hosted contact center often has no internet), for the product and for
the simulator alike."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.async_api import expect

from tests.ui.conftest import PAGE_CEILING_MS

LOCAL_HOSTS = {"127.0.0.1", "localhost"}


async def offline_page(browser):
    """A page where any request to another host fails, as it would without internet;
    returns the page and the requests (resource type, URL) it tried to send out."""
    context = await browser.new_context()
    page = await context.new_page()
    page.set_default_timeout(PAGE_CEILING_MS)
    outside: list[tuple[str, str]] = []

    async def route(route):
        host = urlsplit(route.request.url).hostname or ""
        if host in LOCAL_HOSTS:
            await route.continue_()
        else:
            outside.append((route.request.resource_type, route.request.url))
            await route.abort("internetdisconnected")

    await context.route("**/*", route)
    return page, outside


@pytest.mark.parametrize(
    ("which", "path", "operation"),
    [
        ("product", "/docs", "/api/v1/conversations/{conversation_id}/messages"),
        ("simulator", "/_sim/docs", "/_sim/customers"),
    ],
)
async def test_swagger_ui_works_without_internet(ui, browser, which, path, operation):
    page, outside = await offline_page(browser)
    base = ui.url if which == "product" else ui.sim.url
    response = await page.goto(base + path)
    assert response is not None and response.ok
    # Swagger UI rendered the schema: an operation of this server's API is listed.
    await expect(page.locator(".swagger-ui .info .title")).to_be_visible()
    await expect(
        page.locator(f'.opblock-summary-path[data-path="{operation}"]').first
    ).to_be_visible()
    assert outside == [], f"{path} tried to load from the internet: {outside}"


async def test_redoc_works_without_internet(ui, browser):
    page, outside = await offline_page(browser)
    await page.goto(ui.url + "/redoc")
    await expect(
        page.get_by_text("Self-hosted contact center for WhatsApp Business").first
    ).to_be_visible()
    await expect(
        page.get_by_text("/api/v1/conversations/{conversation_id}/messages").first
    ).to_be_attached()
    # ReDoc's footer shows its maker's logo from their site: a missing picture, nothing else.
    needed = [(kind, url) for kind, url in outside if kind != "image"]
    assert needed == [], f"/redoc tried to load from the internet: {needed}"


async def test_docs_assets_are_not_the_web_app(ui):
    """A missing asset is a 404, not the single-page app's index.html."""
    missing = await ui.client.get("/docs-assets/nothing.js")
    assert missing.status_code == 404
    present = await ui.client.get("/docs-assets/swagger-ui-bundle.js")
    assert present.status_code == 200
    assert "javascript" in present.headers["content-type"]
