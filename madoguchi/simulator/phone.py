"""The phone page: a person plays the customers, in the browser."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
async def phone_page(request: Request) -> HTMLResponse:
    sim = request.app.state.sim
    return templates.TemplateResponse(
        request,
        "phone.html",
        {
            "numbers": list(sim.state.numbers.values()),  # with those Embedded Signup made
            "customers": [c.public(sim.clock) for c in sim.state.customers.values()],
            "webhook_url": sim.config.webhook_url,
        },
    )
