"""The JSON control API (`/_sim/…`) that tests, benchmarks and the phone page drive."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from .config import SimNumber
from .core import CustomerInputError, Simulator
from .state import Customer, Fault

router = APIRouter(prefix="/_sim")


def _sim(request: Request) -> Simulator:
    return request.app.state.sim


def _customer(sim: Simulator, key: str) -> Customer:
    customer = sim.state.find_customer(key)
    if customer is None:
        raise HTTPException(404, f"no customer {key!r}")
    return customer


def _number(sim: Simulator, phone_number_id: str | None) -> SimNumber:
    number = sim.number(phone_number_id)
    if number is None:
        raise HTTPException(404, f"no business number {phone_number_id!r}")
    return number


class CustomerIn(BaseModel):
    wa_id: str | None = Field(default=None, description="phone, digits (or +…)")
    phone: str | None = Field(default=None, description="alias of wa_id")
    user_id: str | None = Field(default=None, description="BSUID; generated when absent")
    name: str | None = None
    username: str | None = None
    country: str | None = None
    parent_user_id: str | None = None


class FaultIn(BaseModel):
    phone_number_id: str | None = None
    code: int
    count: int = Field(default=1, ge=1)
    mode: str = Field(default="sync", pattern="^(sync|webhook)$")
    details: str | None = None
    # Which Graph endpoint fails: sending messages (default) or the phone number settings.
    endpoint: str = Field(default="messages", pattern="^(messages|settings)$")


class ClockIn(BaseModel):
    advance_seconds: float = 0


class PhoneNumberIn(BaseModel):
    phone_number_id: str | None = None


class TemplateStatusIn(BaseModel):
    status: str = Field(pattern="^(APPROVED|REJECTED|PAUSED|DISABLED|PENDING|FLAGGED)$")
    reason: str | None = None


@router.get("/health")
async def health() -> dict:
    return {"ok": True}


@router.get("/config")
async def get_config(request: Request) -> dict:
    sim = _sim(request)
    return {
        "webhook_url": sim.config.webhook_url,
        "public_url": sim.config.public_url,
        "graph_version": sim.config.graph_version,
        "graph_base_url": f"{sim.config.public_url}/{sim.config.graph_version}",
        "numbers": [n.model_dump() for n in sim.config.numbers],
        "status_delay_seconds": sim.config.status_delay_seconds,
        "window_error_mode": sim.config.window_error_mode,
    }


@router.post("/reset")
async def reset(request: Request) -> dict:
    await _sim(request).reset()
    return {"ok": True}


# ----------------------------------------------------------------- customers


@router.post("/customers")
async def create_customer(request: Request, body: CustomerIn) -> dict:
    sim = _sim(request)
    try:
        customer = sim.state.add_customer(
            wa_id=body.wa_id or body.phone,
            user_id=body.user_id,
            name=body.name,
            username=body.username,
            country=body.country,
            parent_user_id=body.parent_user_id,
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return customer.public(sim.clock)


@router.get("/customers")
async def list_customers(request: Request) -> dict:
    sim = _sim(request)
    return {"customers": [c.public(sim.clock) for c in sim.state.customers.values()]}


@router.get("/customers/{customer_id}")
async def get_customer(customer_id: str, request: Request) -> dict:
    sim = _sim(request)
    return _customer(sim, customer_id).public(sim.clock)


@router.post("/customers/{customer_id}/messages")
async def customer_message(
    customer_id: str, request: Request, spec: dict[str, Any] = Body(...)
) -> dict:
    sim = _sim(request)
    customer = _customer(sim, customer_id)
    number = _number(sim, spec.get("phone_number_id"))
    try:
        return await sim.customer_sends(customer, number, spec)
    except CustomerInputError as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/customers/{customer_id}/thread")
async def customer_thread(
    customer_id: str,
    request: Request,
    phone_number_id: str | None = None,
    viewing: bool = False,
) -> dict:
    sim = _sim(request)
    customer = _customer(sim, customer_id)
    number = _number(sim, phone_number_id)
    if viewing:
        sim.view_chat(customer, number)
    messages = sim.state.thread(customer.user_id, number.phone_number_id)
    return {
        "customer": customer.public(sim.clock),
        "phone_number_id": number.phone_number_id,
        "window_open": sim.state.window_open(customer, number.phone_number_id),
        "typing": sim.is_typing(customer, number),
        "messages": [m.public() for m in messages],
    }


@router.post("/customers/{customer_id}/open")
async def customer_open(
    customer_id: str, request: Request, body: PhoneNumberIn | None = None
) -> dict:
    sim = _sim(request)
    customer = _customer(sim, customer_id)
    number = _number(sim, body.phone_number_id if body else None)
    return {"read": sim.open_chat(customer, number)}


# ----------------------------------------------------------------- logs


@router.get("/deliveries")
async def deliveries(
    request: Request,
    kind: str | None = None,
    state: str | None = None,
    limit: int = Query(default=200, ge=1, le=5000),
    body: bool = True,
) -> dict:
    items = list(_sim(request).deliverer.log.values())
    if kind:
        items = [d for d in items if d.kind == kind]
    if state:
        items = [d for d in items if d.state == state]
    return {"deliveries": [d.public(with_body=body) for d in items[-limit:]]}


@router.post("/deliveries/{delivery_id}/redeliver")
async def redeliver(delivery_id: int, request: Request) -> dict:
    delivery = _sim(request).deliverer.redeliver(delivery_id)
    if delivery is None:
        raise HTTPException(404, f"no delivery {delivery_id}")
    await _sim(request).deliverer.wait_first_attempt(delivery)
    return delivery.public()


@router.post("/webhook/verify")
async def verify_webhook(request: Request) -> dict:
    return await _sim(request).deliverer.verify_subscription()


@router.get("/sent")
async def sent(
    request: Request,
    phone_number_id: str | None = None,
    path_contains: str | None = None,
    since: int = 0,
    limit: int = Query(default=500, ge=1, le=5000),
) -> dict:
    items = [r for r in _sim(request).state.sent if r["seq"] > since]
    if phone_number_id:
        items = [r for r in items if r["phone_number_id"] == phone_number_id]
    if path_contains:
        items = [r for r in items if path_contains in r["path"]]
    # The oldest first, so that paging forward with `since` never skips a request.
    return {"requests": items[:limit]}


# ----------------------------------------------------------- clock, faults


@router.get("/clock")
async def get_clock(request: Request) -> dict:
    clock = _sim(request).clock
    return {"now": clock.now(), "offset_seconds": clock.offset}


@router.post("/clock")
async def advance_clock(request: Request, body: ClockIn) -> dict:
    clock = _sim(request).clock
    clock.advance(body.advance_seconds)
    return {"now": clock.now(), "offset_seconds": clock.offset}


@router.post("/faults")
async def add_fault(request: Request, body: FaultIn) -> dict:
    sim = _sim(request)
    number = _number(sim, body.phone_number_id)
    key = number.phone_number_id
    if body.endpoint == "settings":
        key = f"settings:{key}"
    queue = sim.state.faults.setdefault(key, [])
    queue.append(Fault(code=body.code, count=body.count, mode=body.mode, details=body.details))
    return {"phone_number_id": number.phone_number_id, "queued": [vars(f) for f in queue]}


@router.get("/faults")
async def list_faults(request: Request) -> dict:
    faults = _sim(request).state.faults
    return {"faults": {pnid: [vars(f) for f in q] for pnid, q in faults.items() if q}}


@router.delete("/faults")
async def clear_faults(request: Request) -> dict:
    _sim(request).state.faults.clear()
    return {"ok": True}


# -------------------------------------------------------- templates, media


@router.get("/templates")
async def templates(request: Request) -> dict:
    sim = _sim(request)
    return {
        "templates": [dict(t.public(), waba_id=t.waba_id) for t in sim.state.templates.values()]
    }


@router.post("/templates/{template_id}/status")
async def template_status(template_id: str, request: Request, body: TemplateStatusIn) -> dict:
    sim = _sim(request)
    template = sim.state.templates.get(template_id)
    if template is None:
        raise HTTPException(404, f"no template {template_id}")
    delivery = sim.set_template_status(template, body.status, body.reason)
    await sim.deliverer.wait_first_attempt(delivery)
    return dict(template.public(), delivery_id=delivery.id)


@router.get("/media/{media_id}")
async def media(media_id: str, request: Request) -> Response:
    """Raw bytes for the phone page (no token: this is the customer's own phone)."""
    item = _sim(request).state.media.get(media_id)
    if item is None:
        raise HTTPException(404, "no such media")
    return Response(
        item.data, media_type=item.mime_type, headers={"Cache-Control": "private, max-age=3600"}
    )
