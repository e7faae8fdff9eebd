"""The web app (``frontend/``, built into ``madoguchi/web/static/app``) served at ``/``.

The single-page app owns every path the API does not: ``/``, ``/admin/users``,
``/flows/3``… all answer ``index.html`` and the app's router takes over in the browser;
built files (``/assets/index-<hash>.js``) are served as they are, cached for a year since
their names change with their content. The app is installed as the router's fallback, so
it never shadows a route, whatever order routers are included in, and the API's own
prefixes (``/api``, ``/webhooks``, ``/docs``…) keep their JSON 404s.

The build is not committed: ``make`` builds it (``npm ci && npm run build`` in
``frontend/``). Without it, ``/`` answers a page that says how to build it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

BUILD_DIR = Path(__file__).parent / "static" / "app"
RESERVED_PREFIXES = (
    "/api",
    "/webhooks",
    "/docs",
    "/docs-assets",
    "/redoc",
    "/openapi.json",
    "/metrics",
    "/healthz",
)
IMMUTABLE = "public, max-age=31536000, immutable"

MISSING_BUILD_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Madoguchi: web app not built</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;
line-height:1.5}code,pre{background:#f3f3f3;padding:.1rem .3rem;border-radius:4px}</style>
</head><body>
<h1>The Madoguchi web app is not built yet</h1>
<p>The server is running (the API is at <a href="/docs">/docs</a>), but the browser app
has not been built into <code>madoguchi/web/static/app</code>.</p>
<p>Build it once from the project's root (needs Node.js 20.19+ and npm):</p>
<pre>make frontend</pre>
<p>or by hand:</p>
<pre>cd frontend &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>Then reload this page. <code>make demo</code>, <code>make serve</code> and
<code>make test</code> build it for you.</p>
</body></html>
"""


def reserved(path: str) -> bool:
    """Paths the API owns: never answered with the app."""
    return any(path == p or path.startswith(p + "/") for p in RESERVED_PREFIXES)


class SpaFallback:
    """ASGI app run when no route matched: built files, else ``index.html``."""

    def __init__(self, not_found: ASGIApp, build_dir: Path = BUILD_DIR) -> None:
        self.not_found = not_found
        self.build_dir = build_dir.resolve()

    def response_for(self, path: str) -> Response | None:
        index = self.build_dir / "index.html"
        if not index.is_file():
            return HTMLResponse(MISSING_BUILD_PAGE, status_code=503) if "." not in path else None
        relative = path.lstrip("/")
        if relative:
            candidate = (self.build_dir / relative).resolve()
            if candidate.is_relative_to(self.build_dir) and candidate.is_file():
                cache = IMMUTABLE if relative.startswith("assets/") else "no-cache"
                return FileResponse(candidate, headers={"Cache-Control": cache})
            if "." in relative.rsplit("/", 1)[-1]:
                return None  # a missing file (favicon.ico, a stale asset): a real 404
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        response = None
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and not reserved(path):
            response = self.response_for(path)
        if response is None:
            await self.not_found(scope, receive, send)
            return
        await response(scope, receive, send)


def install(app: FastAPI, build_dir: Path = BUILD_DIR) -> None:
    """Serve the web app from ``app`` for every path no route claims."""
    app.router.default = SpaFallback(app.router.default, build_dir)
