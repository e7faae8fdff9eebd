"""``/api/v1/phone-numbers/{id}/health`` and ``…/disconnect``: a number's health page.

HTTP in, :mod:`madoguchi.services.onboarding.health` and ``.disconnect`` do the work.
"""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends

from madoguchi.runtime import Runtime
from madoguchi.services.access.tokens import Principal
from madoguchi.services.audit.record import Target, record_apart
from madoguchi.services.channel.numbers import PhoneNumberError
from madoguchi.services.onboarding import health
from madoguchi.services.onboarding.disconnect import disconnect_number
from madoguchi.web.api.channel.numbers import http_error
from madoguchi.web.deps import admin_only, get_runtime, supervisor_or_admin

router = APIRouter(prefix="/api/v1", tags=["onboarding"])


@router.get("/phone-numbers/{number_id}/health")
async def number_health(
    number_id: int,
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
) -> dict:
    """The last check's answers from Meta, the number's traffic, and warnings as of now."""
    try:
        report = await health.health_report(runtime.db, principal.workspace_id, number_id)
    except PhoneNumberError as exc:
        raise http_error(exc) from exc
    return report.as_dict()


@router.post("/phone-numbers/{number_id}/health/check")
async def check_number_health(
    number_id: int,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
) -> dict:
    """Ask Meta about the number now (token, subscription, quality, limits), then report."""
    try:
        report = await health.check_number(
            runtime.db,
            runtime.graph,
            runtime.secrets,
            runtime.meta_app,
            principal.workspace_id,
            number_id,
        )
    except PhoneNumberError as exc:
        raise http_error(exc) from exc
    return report.as_dict()


@router.post(
    "/phone-numbers/{number_id}/disconnect",
    responses={409: {"description": "Already disconnected"}},
)
async def disconnect_phone_number(
    number_id: int,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
) -> dict:
    """Stop using a number: unsubscribe the app (when no other number of the account
    stays), fail unsent messages, refuse new ones; conversations stay."""
    try:
        done = await disconnect_number(
            runtime.db, runtime.graph, runtime.secrets, principal.workspace_id, number_id
        )
    except PhoneNumberError as exc:
        raise http_error(exc) from exc
    out = asdict(done)
    target = Target("phone_number", number_id)
    await record_apart(runtime.db, principal, "number.disconnect", target, None, out)
    return out
