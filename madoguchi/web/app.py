"""The FastAPI application: webhook, REST API, metrics; built around one Runtime."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from madoguchi import __version__
from madoguchi.runtime import Runtime
from madoguchi.settings import Settings, get_settings
from madoguchi.web import limits, realtime, spa, video_room, webhooks
from madoguchi.web.api import ROUTERS
from madoguchi.web.api_docs import documented_app
from madoguchi.web.origin import ClientAddressMiddleware


def create_app(
    settings: Settings | None = None, *, runtime: Runtime | None = None, workers: bool = True
) -> FastAPI:
    settings = settings or get_settings()
    if not settings.app_secret.get_secret_value():
        raise ValueError("MADOGUCHI_APP_SECRET must be set: webhook signatures are always checked")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        rt = runtime or Runtime(settings)
        app.state.runtime = rt
        await rt.start(workers=workers)
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
        registry = request.app.state.runtime.metrics.registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    limits.install(app, settings.max_request_bytes)
    app.add_middleware(ClientAddressMiddleware)
    spa.install(app)  # the web app answers every path no route claims
    return app
