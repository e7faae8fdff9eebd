"""The built web app's own files: the tab shows Madoguchi's icon (a tab without one is
the first thing a new user notices)."""

from __future__ import annotations


async def test_the_app_links_and_serves_its_favicon(ui):
    index = await ui.client.get("/")
    assert index.status_code == 200
    assert '<link rel="icon" type="image/svg+xml" href="/favicon.svg"' in index.text
    icon = await ui.client.get("/favicon.svg")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in icon.text
