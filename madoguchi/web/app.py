"""The FastAPI application: webhook, REST API, metrics; built around one Runtime."""

from __future__ import annotations

import secrets
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from madoguchi import __version__
from madoguchi.layout import Layout
from madoguchi.runtime import Runtime
from madoguchi.services.onboarding.meta_app import MetaApp
from madoguchi.settings import Settings, get_settings
from madoguchi.web import limits, realtime, spa, video_room, webhooks
from madoguchi.web.api import ROUTERS
from madoguchi.web.api_docs import documented_app
from madoguchi.web.headers import SecurityHeadersMiddleware
from madoguchi.web.origin import ClientAddressMiddleware

LOOPBACK = ("127.0.0.1", "::1")


def metrics_refusal(request: Request, token) -> Response | None:
    expected = token.get_secret_value() if token is not None else ""
    if expected:
        given = request.headers.get("authorization", "")
        if secrets.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            return None
        return JSONResponse(
            {"detail": "send Authorization: Bearer <MADOGUCHI_METRICS_TOKEN>"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    if request.client is not None and request.client.host in LOOPBACK:
        return None
    return JSONResponse(
        {"detail": "set MADOGUCHI_METRICS_TOKEN to read /metrics from another machine"},
        status_code=403,
    )


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    workers: bool = True,
    layout: Layout | None = None,
) -> FastAPI:
    """The app; ``layout`` (``madoguchi.layout``): which process runs which worker
    (default: everything in this one)."""
    settings = settings or get_settings()
    if not settings.app_secret.get_secret_value():
        raise ValueError("MADOGUCHI_APP_SECRET must be set: webhook signatures are always checked")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        rt = runtime or Runtime(settings)
        app.state.runtime = rt
        await rt.start(workers=workers, layout=layout)
        try:
            async with realtime.hub_running(app, rt):
                yield
        finally:
            await rt.stop()

    app = documented_app(
        title="Madoguchi",
        version=__version__,
        description="Self-hosted contact center for WhatsApp Business",
        lifespan=lifespan,
    )
    app.include_router(webhooks.router)
    app.include_router(realtime.router)
    app.include_router(video_room.router)
    for router in ROUTERS:
        app.include_router(router)

    @app.get("/healthz", tags=["ops"])
    async def healthz():
        return {"status": "ok", "version": __version__}

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def metrics(request: Request):
        """Prometheus figures: to ``Authorization: Bearer $MADOGUCHI_METRICS_TOKEN`` when
        that is set, else only to this machine (a scraper on another host needs the
        token)."""
        refused = metrics_refusal(request, settings.metrics_token)
        if refused is not None:
            return refused
        registry = request.app.state.runtime.metrics.registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    limits.install(app, settings.max_request_bytes)
    app.add_middleware(ClientAddressMiddleware)
    meta_app = MetaApp.from_settings(settings)
    security = {
        "script_origins": meta_app.script_origins(),
        "connect_origins": meta_app.connect_origins(),
    }
    app.add_middleware(SecurityHeadersMiddleware, **security)
    # Outermost of ours: Meta's POST answered before the API's middleware and router, with
    # the same headers (a JSON answer to Meta: connect-src without the page's host).
    headers = SecurityHeadersMiddleware(None, **security).headers_for(webhooks.PATH)
    app.add_middleware(webhooks.WebhookFastPath, security_headers=headers)
    spa.install(app)  # the web app answers every path no route claims
    return app
