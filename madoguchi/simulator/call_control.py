"""The control API of the customers' phones for calls (`/_sim/…calls…`).

Tests and the phone page drive a customer's phone here: call the business, answer or
reject the business's call, hang up, and read each call's state and what its audio
received.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from .calls import SimCall
from .control import _customer, _number, _sim

router = APIRouter(prefix="/_sim")


class CallIn(BaseModel):
    phone_number_id: str | None = None


def _call(request: Request, call_id: str) -> SimCall:
    call = _sim(request).calls.calls.get(call_id)
    if call is None:
        raise HTTPException(404, f"no call {call_id!r}")
    return call


@router.post("/customers/{customer_id}/calls")
async def customer_calls(customer_id: str, request: Request, body: CallIn | None = None) -> dict:
    """The customer calls a business number (the phone offers real WebRTC audio)."""
    sim = _sim(request)
    customer = _customer(sim, customer_id)
    number = _number(sim, body.phone_number_id if body else None)
    try:
        call = await sim.calls.customer_calls(customer, number)
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    return call.public()


@router.get("/calls")
async def list_calls(request: Request, customer_id: str | None = None) -> dict:
    calls = _sim(request).calls.calls.values()
    if customer_id:
        calls = [c for c in calls if customer_id in (c.customer.user_id, c.customer.wa_id)]
    return {"calls": [c.public() for c in calls]}


@router.get("/calls/{call_id}")
async def get_call(call_id: str, request: Request) -> dict:
    return _call(request, call_id).public()


@router.post("/calls/{call_id}/{step}")
async def call_step(call_id: str, step: str, request: Request) -> dict:
    """The customer answers, rejects or hangs up."""
    center = _sim(request).calls
    call = _call(request, call_id)
    steps = {
        "answer": center.customer_answers,
        "reject": center.customer_rejects,
        "hangup": center.customer_hangs_up,
    }
    if step not in steps:
        raise HTTPException(404, f"no step {step!r}: answer, reject or hangup")
    try:
        await steps[step](call)
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    return call.public()
