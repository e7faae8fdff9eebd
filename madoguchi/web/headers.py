"""Security headers on every response.

The web app is a single-page app served from this origin: the Content-Security-Policy
lets only its own scripts run (no inline script, no ``eval``), styles, images, media and
fonts come from this origin (plus ``data:``/``blob:`` the app makes itself, and inline
styles that UI libraries set), no plugin objects, no ``<base>`` elsewhere, forms post
only here, and nothing may frame it (clickjacking). ``connect-src`` (fetch, XHR,
websockets, beacons) is this origin: ``'self'`` and, for browsers of CSP level 2 where
``'self'`` does not match the websocket schemes, ``ws://``/``wss://`` of the host the page
was asked for (a host in its plain form only: a forged ``Host`` cannot add a source).
The flow editor needs nothing more: the failure once put down to ``connect-src 'self'``
was the editor test's drag, which was flaky on a loaded machine (since fixed). The offline
API docs (``/docs``, ``/redoc``) start Swagger UI and ReDoc with a small inline script, so
their pages allow inline scripts and nothing else more.

Connect with Meta (Embedded Signup) loads Meta's JavaScript SDK (or the simulator's
stand-in) and opens Meta's popup, which answers by ``postMessage`` to its opener: once it
is set up, scripts may also come from the SDK's origin (which the SDK may also fetch
from, with Meta's login origins), and the opener policy keeps the popups this page opens
(``same-origin-allow-popups``) instead of cutting them off.
"""

from __future__ import annotations

import re

APP_CSP = (
    "script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; font-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
DOCS_CSP = (
    APP_CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
    + "; worker-src 'self' blob:"
)
DOCS_PATHS = ("/docs", "/redoc", "/docs-assets")
# A Host header in its plain form: a name or an IPv4/IPv6 address, and a port.
PLAIN_HOST = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$"
)


def connect_src(host: bytes | None, origins: tuple[str, ...] = ()) -> str:
    """``connect-src`` for a page asked for at ``host``."""
    sources = ["'self'"]
    name = (host or b"").decode("latin-1")
    if PLAIN_HOST.match(name):
        sources += [f"ws://{name}", f"wss://{name}"]
    return "connect-src " + " ".join([*sources, *origins])


COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeadersMiddleware:
    """Pure ASGI: adds the headers to the response start (no body buffering)."""

    def __init__(
        self, app, script_origins: tuple[str, ...] = (), connect_origins: tuple[str, ...] = ()
    ) -> None:
        self.app = app
        self.connect_origins = connect_origins
        self.app_csp = APP_CSP
        self.common = COMMON
        if script_origins:
            self.app_csp = APP_CSP.replace(
                "script-src 'self'", "script-src 'self' " + " ".join(script_origins)
            )
            self.common = [
                (name, b"same-origin-allow-popups" if name == b"cross-origin-opener-policy" else v)
                for name, v in COMMON
            ]

    def headers_for(self, path: str, host: bytes | None = None) -> list[tuple[bytes, bytes]]:
        """The headers of a response to ``path`` asked for at ``host`` (without a host:
        ``connect-src`` of this origin alone)."""
        csp = DOCS_CSP if path.startswith(DOCS_PATHS) else self.app_csp
        csp = f"{csp}; {connect_src(host, self.connect_origins)}"
        return [*self.common, (b"content-security-policy", csp.encode())]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        host = next((v for k, v in scope.get("headers", ()) if k == b"host"), None)
        extra = self.headers_for(scope.get("path", ""), host)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                headers = list(message.get("headers", []))
                headers.extend((n, v) for n, v in extra if n not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
