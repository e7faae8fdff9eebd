"""``/api/v1/onboarding``: Connect with Meta (Embedded Signup) from the admin page.

HTTP in, :mod:`madoguchi.services.onboarding.signup` does the steps at Meta, JSON out.
The business token Meta gives never leaves the server.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from madoguchi.runtime import Runtime
from madoguchi.services.access.tokens import Principal
from madoguchi.services.audit.record import Target, record_apart
from madoguchi.services.onboarding.signup import SignupError, SignupRequest
from madoguchi.web.api.channel.numbers import http_error
from madoguchi.web.deps import admin_only, get_runtime

router = APIRouter(prefix="/api/v1/onboarding", tags=["onboarding"])


class StepOut(BaseModel):
    step: str = Field(description="exchange | subscribe | register | details")
    state: str = Field(description="pending | done | skipped | failed")
    message: str | None
    meta_code: int | None = Field(description="Meta's error code when the step failed")


class SignupOut(BaseModel):
    id: int
    state: str = Field(description="in_progress | failed | completed")
    waba_id: str
    phone_number_id: str
    steps: list[StepOut]
    failed_step: str | None
    message: str | None = Field(description="Why the failed step failed, and what to do")
    number_id: int | None = Field(description="The connected number, once saved")
    retry_needs: str | None = Field(
        description="pin: retry with a PIN; new_signup: launch Connect with Meta again"
    )


class SignupIn(BaseModel):
    # Types only: the service checks values and names the field in words.
    code: str = Field(max_length=4096, description="The code from Meta's signup popup")
    waba_id: str = Field(max_length=64, description="From the popup's session information")
    phone_number_id: str = Field(max_length=64, description="From the popup's session info")
    pin: str = Field(max_length=16, description="The number's two-step verification PIN")
    account_name: str | None = Field(None, max_length=300)
    default_queue_id: int | None = None


class RetryIn(BaseModel):
    pin: str | None = Field(None, max_length=16, description="Needed when registration is left")


@router.get("/meta-app")
async def meta_app(
    principal: Principal = Depends(admin_only), runtime: Runtime = Depends(get_runtime)
) -> dict:
    """What the admin page needs to launch Embedded Signup, and which settings are missing."""
    return runtime.meta_app.browser_config()


@router.post(
    "/signups",
    response_model=SignupOut,
    status_code=201,
    responses={
        409: {"description": "Not set up, or the WABA or number is another workspace's"},
        422: {"description": "A field is wrong (code, ids, PIN, queue)"},
    },
)
async def start_signup(
    body: SignupIn,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    """Finish Embedded Signup: the steps at Meta run now; the answer says how far each got."""
    try:
        view = await runtime.signups.start(
            principal.workspace_id, SignupRequest(**body.model_dump())
        )
    except SignupError as exc:
        raise http_error(exc) from exc
    out = view.as_dict()
    await _audit(runtime, principal, "signup.start", out)
    return out


async def _audit(runtime: Runtime, principal: Principal, action: str, out: dict) -> None:
    """The signup's outcome (never the code, PIN or Meta's token: they are not in it)."""
    target = Target("signup", out["id"], f"WABA {out['waba_id']}, number {out['phone_number_id']}")
    after = {k: out.get(k) for k in ("state", "failed_step", "message", "number_id")}
    await record_apart(runtime.db, principal, action, target, None, after)


@router.get("/signups/{signup_id}", response_model=SignupOut)
async def get_signup(
    signup_id: int,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    try:
        view = await runtime.signups.get(principal.workspace_id, signup_id)
    except SignupError as exc:
        raise http_error(exc) from exc
    return view.as_dict()


@router.post("/signups/{signup_id}/retry", response_model=SignupOut)
async def retry_signup(
    signup_id: int,
    body: RetryIn,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    """Run a failed signup again from its failed step (with a new PIN if that was it)."""
    try:
        view = await runtime.signups.retry(principal.workspace_id, signup_id, body.pin)
    except SignupError as exc:
        raise http_error(exc) from exc
    out = view.as_dict()
    await _audit(runtime, principal, "signup.retry", out)
    return out
