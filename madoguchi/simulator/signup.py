"""Meta's side of Embedded Signup: the SDK, the signup popup and the OAuth endpoints.

A business connects WhatsApp by logging in to Meta in a popup that Meta's JavaScript SDK
opens (``FB.login`` with the app's Embedded Signup configuration id). At the end the
popup posts a ``WA_EMBEDDED_SIGNUP`` message (the WABA id and phone number id) to the
window that opened it, and the SDK hands that window an authorization code, which the
business's server exchanges for a business token (``GET /oauth/access_token``).

The simulator plays all of it on its own origin so that the whole signup runs without a
Meta account: ``/en_US/sdk.js`` stands in for ``connect.facebook.net/en_US/sdk.js``,
``/{version}/dialog/oauth`` for Facebook's dialog, and the Graph endpoints answer with
Meta's rules and errors (a code works once, for a short time, for the app it was issued
to; a business token acts for the WABA chosen in the popup and expires). Tests steer it
with ``/_sim/signup/…``: create a signup without a browser, make a step fail with a
chosen Meta error, expire or revoke a token, change a number's quality and limits.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from . import payloads
from .config import SimNumber
from .core import Simulator
from .state import Fault, Grant
from .validation import AuthError, GraphError

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
SCOPES = ["whatsapp_business_management", "whatsapp_business_messaging"]
STEPS = ("exchange", "subscribe", "register")

router = APIRouter()


@dataclass
class Code:
    """An authorization code the popup handed out, exchangeable once."""

    waba_id: str
    phone_number_id: str
    business_id: str
    issued_at: float
    used: bool = False


@dataclass
class SignupBook:
    """The codes the popup handed out. (Failures tests ask for wait in the state's fault
    queues, under ``signup:<step>``.)"""

    codes: dict[str, Code] = field(default_factory=dict)


def take_fault(sim: Simulator, step: str) -> Fault | None:
    return sim.state.take_fault(f"signup:{step}")


def _sim(request: Request) -> Simulator:
    return request.app.state.sim


def _book(request: Request) -> SignupBook:
    return request.app.state.signup


def _fail_if_asked(request: Request, step: str) -> None:
    fault = take_fault(_sim(request), step)
    if fault is not None:
        raise GraphError(fault.code, fault.details)


# --------------------------------------------------------------------- the browser side


SDK_JS = """// Stand-in for Meta's JavaScript SDK (connect.facebook.net/en_US/sdk.js): FB.init and
// FB.login for Embedded Signup, opening the simulator's signup dialog in a popup.
(function () {
  var origin = %(origin)s, version = %(version)s, settings = {}, pending = null;
  window.addEventListener("message", function (event) {
    if (event.origin !== origin || !event.data || event.data.type !== "SIM_FB_LOGIN") return;
    var callback = pending;
    pending = null;
    if (callback) callback(event.data.response);
  });
  window.FB = {
    init: function (options) { settings = options || {}; },
    login: function (callback, options) {
      options = options || {};
      pending = callback;
      var query = new URLSearchParams({
        client_id: settings.appId || "",
        config_id: options.config_id || "",
        response_type: options.response_type || "token",
        extras: JSON.stringify(options.extras || {}),
        origin: window.location.origin
      });
      var dialog = origin + "/" + (settings.version || version) + "/dialog/oauth?" + query;
      var popup = window.open(dialog, "madoguchi_sim_signup", "width=520,height=720");
      if (!popup) { pending = null; callback({ status: "unknown", authResponse: null }); }
    }
  };
  if (typeof window.fbAsyncInit === "function") window.fbAsyncInit();
})();
"""


@router.get("/en_US/sdk.js")
async def sdk(request: Request) -> Response:
    sim = _sim(request)
    body = SDK_JS % {
        "origin": json.dumps(sim.config.public_url),
        "version": json.dumps(sim.config.graph_version),
    }
    return Response(body, media_type="text/javascript")


@router.get("/{version}/dialog/oauth", response_class=HTMLResponse)
async def dialog(version: str, request: Request) -> HTMLResponse:
    """The popup: log in, pick or create the business account, add and verify a number."""
    sim = _sim(request)
    params = request.query_params
    problem = None
    if params.get("client_id") != sim.config.app_id:
        problem = f"App ID {params.get('client_id')!r} is not a valid app (Invalid App ID)."
    elif params.get("config_id") != sim.config.signup_config_id:
        problem = (
            f"Configuration {params.get('config_id')!r} is not a Facebook Login for Business "
            "configuration of this app."
        )
    wabas = sorted(sim.state.wabas())
    return templates.TemplateResponse(
        request,
        "signup.html",
        {
            "problem": problem,
            "client_id": params.get("client_id", ""),
            "config_id": params.get("config_id", ""),
            "opener_origin": params.get("origin", "*"),
            "wabas": [
                (w, sim.state.waba_names.get(w, f"WhatsApp Business Account {w}")) for w in wabas
            ],
        },
        status_code=400 if problem else 200,
    )


class SignupIn(BaseModel):
    """What the business chose in the popup (or what a test chooses without one)."""

    client_id: str | None = None
    config_id: str | None = None
    business_name: str = Field(default="Simulated business", max_length=200)
    waba_id: str | None = Field(default=None, description="An existing WABA; none: a new one")
    waba_name: str | None = Field(default=None, max_length=200)
    display_phone_number: str = Field(min_length=4, max_length=32)
    verified_name: str | None = Field(default=None, max_length=200)
    # A two-step verification PIN the number already has (its registration must use it).
    existing_pin: str | None = Field(default=None, pattern=r"^\d{6}$")


@router.post("/_sim/signup/finish")
async def finish(request: Request, body: SignupIn) -> dict:
    """End of the popup: make the WABA and number Meta would have, hand out a code."""
    sim = _sim(request)
    if body.client_id is not None and body.client_id != sim.config.app_id:
        raise HTTPException(422, "client_id is not the simulator's app id")
    if body.config_id is not None and body.config_id != sim.config.signup_config_id:
        raise HTTPException(422, "config_id is not the app's Embedded Signup configuration")
    state = sim.state
    digits = payloads.digits(body.display_phone_number)
    if not 6 <= len(digits) <= 15:
        raise HTTPException(422, "display_phone_number: a phone number in international form")
    if state.number_by_digits(digits) is not None:
        raise HTTPException(422, f"{body.display_phone_number} is already a business number")
    if body.waba_id and body.waba_id not in state.wabas():
        raise HTTPException(422, f"no WhatsApp Business Account {body.waba_id}")
    waba_id = body.waba_id or payloads.new_numeric_id(15)
    if not body.waba_id:
        state.waba_names[waba_id] = body.waba_name or body.business_name
    number = SimNumber(
        phone_number_id=payloads.new_numeric_id(15),
        display_phone_number=body.display_phone_number,
        waba_id=waba_id,
        # Only the business token from the code can act for it.
        access_token=f"sim-unissued-{secrets.token_hex(8)}",
        verified_name=body.verified_name or body.business_name,
        registered=False,
        pin=body.existing_pin,
    )
    state.numbers[number.phone_number_id] = number
    code = f"sim-code-{secrets.token_urlsafe(18)}"
    business_id = payloads.new_numeric_id(15)
    _book(request).codes[code] = Code(
        waba_id=waba_id,
        phone_number_id=number.phone_number_id,
        business_id=business_id,
        issued_at=sim.clock.now(),
    )
    return {
        "code": code,
        "waba_id": waba_id,
        "phone_number_id": number.phone_number_id,
        "business_id": business_id,
    }


# ------------------------------------------------------------------------ Graph endpoints


@router.get("/{version}/oauth/access_token")
async def exchange_code(version: str, request: Request) -> dict:
    """The code for a business token: right app, right secret, once, before it expires."""
    sim = _sim(request)
    params = request.query_params
    if params.get("client_id") != sim.config.app_id:
        raise GraphError(101, "Error validating application. Invalid application ID.")
    if params.get("client_secret") != sim.config.app_secret:
        raise GraphError(
            1, "Error validating client secret.", title="Error validating client secret"
        )
    _fail_if_asked(request, "exchange")
    given = params.get("code") or ""
    code = _book(request).codes.get(given)
    if code is None:
        raise GraphError(100, "Invalid verification code format.", error_subcode=36007)
    if code.used:
        raise GraphError(100, "This authorization code has been used.", error_subcode=36009)
    now = sim.clock.now()
    if now - code.issued_at > sim.config.signup_code_ttl_seconds:
        raise GraphError(100, "This authorization code has expired.", error_subcode=36007)
    code.used = True
    token = f"sim-business-{secrets.token_urlsafe(24)}"
    ttl = sim.config.signup_token_ttl_seconds
    sim.state.grants[token] = Grant(
        token=token,
        app_id=sim.config.app_id,
        waba_ids={code.waba_id},
        scopes=list(SCOPES),
        issued_at=now,
        expires_at=now + ttl if ttl else 0.0,
    )
    answer: dict[str, Any] = {"access_token": token, "token_type": "bearer"}
    if ttl:
        answer["expires_in"] = int(ttl)
    return answer


@router.get("/{version}/debug_token")
async def debug_token(version: str, request: Request) -> dict:
    """What Meta knows of ``input_token``, asked with the app token ``app_id|app_secret``."""
    sim = _sim(request)
    auth = request.headers.get("authorization", "")
    app_token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    app_token = app_token or request.query_params.get("access_token", "")
    if app_token != f"{sim.config.app_id}|{sim.config.app_secret}":
        raise AuthError("Invalid OAuth access token signature.")
    token = request.query_params.get("input_token") or ""
    state = sim.state
    now = sim.clock.now()
    grant = state.grants.get(token)
    number = state.number_for_token(token)
    if grant is None and number is None:
        return {
            "data": {
                "is_valid": False,
                "scopes": [],
                "error": {"code": 190, "message": "Invalid OAuth access token."},
            }
        }
    if grant is not None:
        wabas, scopes = sorted(grant.waba_ids), grant.scopes
        issued, expires, valid = grant.issued_at, grant.expires_at, grant.valid(now)
    else:
        wabas, scopes = [number.waba_id], list(SCOPES)
        issued, expires, valid = 0.0, 0.0, True
    data: dict[str, Any] = {
        "app_id": sim.config.app_id,
        "type": "SYSTEM_USER",
        "application": "Madoguchi",
        "data_access_expires_at": 0,
        "expires_at": int(expires),
        "is_valid": valid,
        "issued_at": int(issued),
        "scopes": scopes,
        "granular_scopes": [{"scope": s, "target_ids": wabas} for s in scopes],
    }
    if not valid:
        data["error"] = (
            {"code": 190, "subcode": 460, "message": "The session was invalidated by the user."}
            if grant is not None and grant.revoked
            else {
                "code": 190,
                "subcode": 463,
                "message": f"Error validating access token: Session has expired at {int(expires)}.",
            }
        )
    return {"data": data}


# -------------------------------------------------------------------------- control API


class SignupFaultIn(BaseModel):
    step: str = Field(pattern="^(exchange|subscribe|register)$")
    code: int
    count: int = Field(default=1, ge=1)
    details: str | None = None


class TokenIn(BaseModel):
    waba_id: str
    expires_in_seconds: float | None = Field(default=None, description="from now; 0: never")
    revoke: bool = False


class NumberStateIn(BaseModel):
    quality_rating: str | None = Field(default=None, pattern="^(GREEN|YELLOW|RED|UNKNOWN)$")
    messaging_limit_tier: str | None = Field(default=None, max_length=32)
    throughput_level: str | None = Field(default=None, pattern="^(STANDARD|HIGH)$")
    name_status: str | None = Field(default=None, max_length=32)
    registered: bool | None = None
    # Also send the `phone_number_quality_update` webhook Meta sends on such a change.
    webhook_event: str | None = Field(default=None, max_length=32)


@router.post("/_sim/signup/faults")
async def add_signup_fault(request: Request, body: SignupFaultIn) -> dict:
    """The next call(s) of a signup step fail with Meta's error ``code``."""
    queue = _sim(request).state.faults.setdefault(f"signup:{body.step}", [])
    queue.append(Fault(code=body.code, count=body.count, details=body.details))
    return {"step": body.step, "queued": [vars(f) for f in queue]}


@router.delete("/_sim/signup/faults")
async def clear_signup_faults(request: Request) -> dict:
    faults = _sim(request).state.faults
    for step in STEPS:
        faults.pop(f"signup:{step}", None)
    return {"ok": True}


@router.post("/_sim/tokens")
async def change_tokens(request: Request, body: TokenIn) -> dict:
    """Expire (or revoke) the business tokens of a WABA, as time or the business would."""
    sim = _sim(request)
    grants = [g for g in sim.state.grants.values() if body.waba_id in g.waba_ids]
    if not grants:
        raise HTTPException(404, f"no business token for WhatsApp Business Account {body.waba_id}")
    now = sim.clock.now()
    for grant in grants:
        if body.expires_in_seconds is not None:
            grant.expires_at = now + body.expires_in_seconds if body.expires_in_seconds else 0.0
        if body.revoke:
            grant.revoked = True
    return {"tokens": len(grants)}


@router.get("/_sim/subscriptions")
async def subscriptions(request: Request) -> dict:
    """Which apps receive each WABA's webhooks."""
    return {w: sorted(apps) for w, apps in _sim(request).state.subscriptions.items()}


@router.post("/_sim/numbers/{phone_number_id}")
async def change_number(phone_number_id: str, request: Request, body: NumberStateIn) -> dict:
    """Change what Meta says of a number (quality, limit tier…), with its webhook if asked."""
    sim = _sim(request)
    number = sim.state.numbers.get(phone_number_id)
    if number is None:
        raise HTTPException(404, f"no business number {phone_number_id!r}")
    old_limit = number.messaging_limit_tier
    for key, value in body.model_dump(exclude_none=True, exclude={"webhook_event"}).items():
        setattr(number, key, value)
    answer: dict[str, Any] = {"number": number.model_dump(exclude={"access_token", "pin"})}
    if body.webhook_event:
        value = {
            "display_phone_number": number.digits,
            "event": body.webhook_event,
            "current_limit": number.messaging_limit_tier,
            "old_limit": old_limit,
        }
        delivery = sim.deliverer.deliver(
            "account",
            payloads.envelope(
                number.waba_id, "phone_number_quality_update", value, time_=sim.clock.now()
            ),
            f"quality update {body.webhook_event} for {phone_number_id}",
        )
        await sim.deliverer.wait_first_attempt(delivery)
        answer["delivery_id"] = delivery.id
    return answer
