"""The Content-Security-Policy's ``connect-src`` in Chromium: the web app's own requests
and its live websocket work under it, and a request to another origin is blocked by the
browser before it leaves (the other server, which allows any origin, never sees it; the
same request from a page without our policy reaches it). The flow editor (dragging to
connect widgets), calls and the rest of the browser tests run under the same header."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse

from tests.conftest import ServedApp
from tests.ui.conftest import ANA, sign_in

FETCH = "url => fetch(url).then(r => 'reached ' + r.status, e => 'blocked: ' + e.name)"


def elsewhere(hits: list[str]) -> FastAPI:
    api = FastAPI()
    api.add_middleware(CORSMiddleware, allow_origins=["*"])

    @api.get("/ping")
    async def ping():
        hits.append("ping")
        return {"pong": True}

    @api.get("/page", response_class=HTMLResponse)
    async def page():
        return "<!doctype html><title>elsewhere</title>"

    return api


async def test_the_app_connects_to_its_own_origin_only(ui, browser):
    hits: list[str] = []
    other = await ServedApp(elsewhere(hits)).start()
    try:
        # Signing in waits for the live websocket to be open: it works under the policy.
        page = await sign_in(browser, ui, ANA)
        response = await page.request.get(ui.url + "/")
        policy = response.headers["content-security-policy"]
        host = ui.url.removeprefix("http://")
        assert f"connect-src 'self' ws://{host} wss://{host}" in policy
        await page.evaluate(
            """() => { window.violations = [];
            document.addEventListener('securitypolicyviolation',
              e => window.violations.push([e.effectiveDirective, e.blockedURI])); }"""
        )
        assert await page.evaluate(FETCH, "/api/v1/agents/me/presence") == "reached 200"
        opened = await page.evaluate(
            """() => new Promise(resolve => {
                 const s = new WebSocket(`ws://${location.host}/api/v1/ws`);
                 s.onopen = () => { resolve('open'); s.close(); };
                 s.onerror = () => resolve('error'); })"""
        )
        assert opened == "open"

        # Another origin: refused by the browser, never sent.
        assert await page.evaluate(FETCH, f"{other.url}/ping") == "blocked: TypeError"
        assert hits == []
        violations = await page.evaluate("window.violations")
        assert ["connect-src", f"{other.url}/ping"] in violations, violations

        # Control: the very same request, from a page without our policy, gets through.
        plain = await page.context.new_page()
        await plain.goto(other.url + "/page")
        assert await plain.evaluate(FETCH, f"{other.url}/ping") == "reached 200"
        assert hits == ["ping"]
    finally:
        await other.stop()
