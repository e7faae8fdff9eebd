"""The simulator's web app: `create_app(config)`, and `run(...)` to serve it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from madoguchi.gc_tuning import freeze_startup_heap, freeze_survivors_of_full_collections

from . import call_control, control, graph_api, phone, signup
from .config import SimulatorConfig
from .core import Simulator
from .validation import GraphError


def create_app(config: SimulatorConfig | None = None) -> FastAPI:
    """A WhatsApp Cloud API + customers' phones, in one app. Needs no Meta account."""
    config = config or SimulatorConfig()
    sim = Simulator(config)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await sim.start()
        try:
            yield
        finally:
            await sim.stop()

    # Swagger UI from the package, not a CDN: the simulator runs offline too.
    app = FastAPIOffline(
        title="Madoguchi WhatsApp simulator",
        description="Meta's WhatsApp Cloud API and customers' phones, locally.",
        lifespan=lifespan,
        docs_url="/_sim/docs",
        redoc_url=None,
        openapi_url="/_sim/openapi.json",
        static_url="/_sim/docs-assets",
    )
    app.state.sim = sim
    app.state.signup = signup.SignupBook()

    @app.exception_handler(GraphError)
    async def _graph_error(_request: Request, exc: GraphError) -> Response:
        return graph_api.graph_error_response(exc)

    # Order matters: fixed prefixes before the Graph API's catch-all `/{version}/{id}`.
    app.include_router(control.router)
    app.include_router(call_control.router)
    app.include_router(phone.router)
    app.include_router(signup.router)
    app.mount("/static", StaticFiles(directory=str(phone.STATIC_DIR)), name="static")
    app.include_router(graph_api.router)
    app.add_middleware(graph_api.RequestRecorder, sim=sim)
    return app


def run(
    config: SimulatorConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 8001,
    *,
    log_level: str = "info",
) -> None:
    """Serve the simulator with uvicorn until interrupted."""
    application = create_app(config)
    freeze_startup_heap()
    freeze_survivors_of_full_collections()
    uvicorn.run(application, host=host, port=port, log_level=log_level)
