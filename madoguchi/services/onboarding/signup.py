"""The server's half of Embedded Signup, one retriable step at a time.

The admin's browser runs Meta's signup popup and hands us an authorization code, the
WABA id and the phone number id. From there four steps at Meta connect the number:

1. ``exchange``: the code for the business's token (``GET /oauth/access_token``); the
   token is stored encrypted on the signup row at once;
2. ``subscribe``: the app to the WABA's webhooks (``POST /{waba_id}/subscribed_apps``);
3. ``register``: the number for Cloud API use with the two-step verification PIN the
   admin chose (``POST /{phone_number_id}/register``), skipped when Meta says the number
   is already connected;
4. ``details``: the number's display number, verified name, quality, limits and
   throughput; the number is saved (like a manual connect) and the account's templates
   are synced.

Each step's outcome is written on the signup row before the next starts. A failure stops
the run and names the step and Meta's error in words; the admin retries from that step
(a new PIN for a PIN error) with the token already obtained. Only a failed code exchange
needs a new code, that is launching Connect with Meta again: Meta's codes work once and
for seconds. Nothing is saved as a usable number before the last step, so a failed
signup never leaves a number that half works.

One WABA is handled by one solution provider at a time, and here by one workspace: a
WABA already connected to another workspace is refused before anything is asked of Meta.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from madoguchi.security.secrets import SecretBox
from madoguchi.services.channel import numbers
from madoguchi.services.channel.numbers import NumberSpec, PhoneNumberError
from madoguchi.services.onboarding.meta_app import MetaApp, in_words
from madoguchi.services.templates.catalog import TemplateService, TemplateServiceError
from madoguchi.store.db import Database
from madoguchi.store.models import Signup
from madoguchi.whatsapp.errors import (
    AccessTokenInvalid,
    GraphTransportError,
    MetaApiError,
    PermissionDenied,
)
from madoguchi.whatsapp.graph import PHONE_NUMBER_FIELDS, GraphClient

STEPS = ("exchange", "subscribe", "register", "details")
_PIN = re.compile(r"^[0-9]{6}$")
_RATE_BY_THROUGHPUT = {"HIGH": 1000}


class SignupError(PhoneNumberError):
    """The request cannot start or retry a signup; ``field`` names what to fix."""


class StepFailed(Exception):
    def __init__(self, message: str, meta_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.meta_code = meta_code


@dataclass(frozen=True)
class SignupRequest:
    """What the browser sends at the end of the popup, with the admin's choices."""

    code: str
    waba_id: str
    phone_number_id: str
    pin: str
    account_name: str | None = None
    default_queue_id: int | None = None


@dataclass(frozen=True)
class StepView:
    step: str
    state: str  # pending | done | skipped | failed
    message: str | None
    meta_code: int | None


@dataclass(frozen=True)
class SignupView:
    id: int
    state: str  # in_progress | failed | completed
    waba_id: str
    phone_number_id: str
    steps: list[StepView]
    failed_step: str | None
    message: str | None
    number_id: int | None
    retry_needs: str | None  # "pin" | "new_signup" | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _view(row: Signup) -> SignupView:
    steps = []
    failed = None
    for name in STEPS:
        info = (row.steps or {}).get(name) or {}
        state = info.get("state", "pending")
        if state == "failed":
            failed = name
        steps.append(StepView(name, state, info.get("message"), info.get("meta_code")))
    message = (row.steps or {}).get(failed, {}).get("message") if failed else None
    needs = None
    if failed == "exchange":
        needs = "new_signup"
    elif failed == "register":
        needs = "pin"
    return SignupView(
        id=row.id,
        state=row.state,
        waba_id=row.waba_id,
        phone_number_id=row.phone_number_id,
        steps=steps,
        failed_step=failed,
        message=message,
        number_id=row.number_id,
        retry_needs=needs,
    )


def _code_of(exc: Exception) -> int | None:
    return exc.code if isinstance(exc, MetaApiError) else None


# ----------------------------------------------------------------------------- checks


def _check_request(request: SignupRequest) -> None:
    code = (request.code or "").strip()
    if not code or len(code) > 2048 or any(c.isspace() for c in code):
        raise SignupError(
            "code",
            "the authorization code from Meta's signup popup is missing or malformed; "
            "launch Connect with Meta again",
            code="invalid_code",
        )
    try:
        numbers.meta_id("waba_id", request.waba_id, "the WhatsApp Business Account id")
        numbers.meta_id("phone_number_id", request.phone_number_id, "the phone number id")
    except PhoneNumberError as exc:
        raise SignupError(exc.field, exc.message, code=exc.code, status=exc.status) from exc
    _check_pin(request.pin)
    if request.account_name is not None and len(request.account_name.strip()) > 200:
        raise SignupError(
            "account_name", "the account name has at most 200 characters", code="invalid_name"
        )


def _check_pin(pin: str | None) -> str:
    if not pin or not _PIN.match(pin):
        raise SignupError(
            "pin",
            "choose the number's two-step verification PIN: exactly six digits (if the "
            "number already has one, give that one)",
            code="invalid_pin",
        )
    return pin


async def _check_workspace(db: Database, workspace_id: int, request: SignupRequest) -> None:
    async with db.read() as session:
        try:
            await numbers.check_free(
                session, workspace_id, request.waba_id, request.phone_number_id
            )
            await numbers.check_queue(session, workspace_id, request.default_queue_id)
        except PhoneNumberError as exc:
            if exc.code == "waba_taken":
                raise SignupError(
                    "waba_id",
                    f"WhatsApp Business Account {request.waba_id} is already connected to "
                    "another workspace. Meta lets one solution provider handle a WhatsApp "
                    "Business Account at a time, and Madoguchi gives it to one workspace: "
                    "disconnect it there first, or pick another account in the signup",
                    code="waba_taken",
                    status=409,
                ) from exc
            raise SignupError(exc.field, exc.message, code=exc.code, status=exc.status) from exc


# ----------------------------------------------------------------------------- use cases


class SignupService:
    """Embedded Signup's steps at Meta, with the runtime's Graph client and secrets."""

    def __init__(self, db: Database, graph: GraphClient, secrets: SecretBox, app: MetaApp) -> None:
        self.db = db
        self.graph = graph
        self.secrets = secrets
        self.app = app

    async def start(self, workspace_id: int, request: SignupRequest) -> SignupView:
        """Check the request, then run every step; the answer says how far it got."""
        missing = self.app.missing()
        if missing:
            raise SignupError(
                None,
                "Connect with Meta is not set up on this server: set "
                f"{' and '.join(missing)} (see docs/onboarding.md)",
                code="not_configured",
                status=409,
            )
        _check_request(request)
        await _check_workspace(self.db, workspace_id, request)
        async with self.db.write() as session:
            row = Signup(
                workspace_id=workspace_id,
                waba_id=request.waba_id.strip(),
                phone_number_id=request.phone_number_id.strip(),
                state="in_progress",
                steps={},
                options={
                    "account_name": (request.account_name or "").strip() or None,
                    "default_queue_id": request.default_queue_id,
                    # Kept (encrypted) so that a retry of a later step needs no new PIN.
                    "pin_encrypted": self.secrets.encrypt(request.pin),
                },
            )
            session.add(row)
            await session.flush()
            signup_id = row.id
        return await self._run(workspace_id, signup_id, request.code.strip(), request.pin)

    async def retry(self, workspace_id: int, signup_id: int, pin: str | None) -> SignupView:
        """Run again from the failed step; a failed registration needs a new PIN, other
        steps reuse the one given at the start."""
        row = await self._own(workspace_id, signup_id)
        view = _view(row)
        if view.state == "completed":
            raise SignupError(
                None, "this signup is complete: nothing to retry", code="completed", status=409
            )
        if view.failed_step == "exchange":
            raise SignupError(
                None,
                "the authorization code could not be exchanged and Meta's codes work only "
                "once: launch Connect with Meta again",
                code="new_signup_needed",
                status=409,
            )
        if pin is not None or view.failed_step == "register":
            _check_pin(pin)
            async with self.db.write() as session:
                stored = await session.get(Signup, signup_id)
                stored.options = {**stored.options, "pin_encrypted": self.secrets.encrypt(pin)}
        else:
            pin = self.secrets.decrypt(row.options["pin_encrypted"])
        return await self._run(workspace_id, signup_id, None, pin)

    async def get(self, workspace_id: int, signup_id: int) -> SignupView:
        return _view(await self._own(workspace_id, signup_id))

    async def _own(self, workspace_id: int, signup_id: int) -> Signup:
        async with self.db.read() as session:
            row = await session.scalar(
                select(Signup).where(Signup.id == signup_id, Signup.workspace_id == workspace_id)
            )
        if row is None:
            raise SignupError(None, f"signup {signup_id} not found", code="not_found", status=404)
        return row

    # ------------------------------------------------------------------ the steps

    async def _run(
        self, workspace_id: int, signup_id: int, code: str | None, pin: str | None
    ) -> SignupView:
        row = await self._own(workspace_id, signup_id)
        token = (
            self.secrets.decrypt(row.access_token_encrypted) if row.access_token_encrypted else None
        )
        for step in STEPS:
            if (row.steps or {}).get(step, {}).get("state") in ("done", "skipped"):
                continue
            try:
                if step == "exchange":
                    token = await self._exchange(signup_id, code or "")
                    outcome = ("done", "Meta gave the business's token (stored encrypted)")
                elif step == "subscribe":
                    outcome = await self._subscribe(row.waba_id, token)
                elif step == "register":
                    outcome = await self._register(row.phone_number_id, token, pin or "")
                else:
                    outcome = await self._details(workspace_id, row, token)
            except StepFailed as failure:
                await self._record(
                    signup_id, step, "failed", failure.message, failure.meta_code, "failed"
                )
                return await self.get(workspace_id, signup_id)
            await self._record(signup_id, step, outcome[0], outcome[1], None, None)
            row = await self._own(workspace_id, signup_id)
        async with self.db.write() as session:
            stored = await session.get(Signup, signup_id)
            stored.state = "completed"
        return await self.get(workspace_id, signup_id)

    async def _record(
        self,
        signup_id: int,
        step: str,
        state: str,
        message: str,
        meta_code: int | None,
        signup_state: str | None,
    ) -> None:
        async with self.db.write() as session:
            row = await session.get(Signup, signup_id)
            steps = dict(row.steps or {})
            steps[step] = {
                "state": state,
                "message": message,
                "meta_code": meta_code,
                "at": datetime.now(UTC).isoformat(),
            }
            row.steps = steps
            row.state = signup_state or "in_progress"

    async def _exchange(self, signup_id: int, code: str) -> str:
        app = self.app
        try:
            answer = await self.graph.exchange_code(app.app_id or "", app.app_secret, code)
        except (MetaApiError, GraphTransportError) as exc:
            raise StepFailed(_exchange_message(exc, app.app_secret, code), _code_of(exc)) from exc
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise StepFailed(
                "Meta answered the code exchange without a token; try the signup again"
            )
        async with self.db.write() as session:
            row = await session.get(Signup, signup_id)
            row.access_token_encrypted = self.secrets.encrypt(token)
        return token

    async def _subscribe(self, waba_id: str, token: str | None) -> tuple[str, str]:
        try:
            await self.graph.subscribe_app(waba_id, token or "")
        except (MetaApiError, GraphTransportError) as exc:
            words = in_words(exc, token or "")
            if isinstance(exc, PermissionDenied | AccessTokenInvalid):
                hint = (
                    "the business must grant whatsapp_business_management for this account "
                    "in the signup; retry, or launch Connect with Meta again"
                )
            else:
                hint = "retry this step"
            raise StepFailed(
                f"Meta refused to send this account's webhooks to the app ({words}); {hint}",
                _code_of(exc),
            ) from exc
        return "done", f"the app receives WhatsApp Business Account {waba_id}'s webhooks"

    async def _register(self, phone_number_id: str, token: str | None, pin: str) -> tuple[str, str]:
        try:
            info = await self.graph.get_phone_number(
                phone_number_id, token or "", fields="status,code_verification_status"
            )
        except (MetaApiError, GraphTransportError) as exc:
            raise StepFailed(
                f"Meta could not tell whether phone number {phone_number_id} is registered "
                f"({in_words(exc, token or '')}); retry this step",
                _code_of(exc),
            ) from exc
        if str(info.get("status") or "").upper() == "CONNECTED":
            return "skipped", "the number was already registered for the Cloud API"
        try:
            _check_pin(pin)
        except SignupError as exc:
            raise StepFailed(exc.message) from exc
        try:
            await self.graph.register_number(phone_number_id, token or "", pin)
        except (MetaApiError, GraphTransportError) as exc:
            raise StepFailed(_register_message(exc, token or "", pin), _code_of(exc)) from exc
        return "done", "the number is registered for the Cloud API with the PIN chosen"

    async def _details(self, workspace_id: int, row: Signup, token: str | None) -> tuple[str, str]:
        token = token or ""
        try:
            info = await self.graph.get_phone_number(
                row.phone_number_id, token, fields=PHONE_NUMBER_FIELDS
            )
            account_name = row.options.get("account_name")
            if not account_name:
                waba = await self.graph.get_account(row.waba_id, token, fields="name")
                account_name = str(waba.get("name") or f"WhatsApp account {row.waba_id}")[:200]
        except (MetaApiError, GraphTransportError) as exc:
            raise StepFailed(
                f"Meta did not give the number's details ({in_words(exc, token)}); retry this step",
                _code_of(exc),
            ) from exc
        display = str(info.get("display_phone_number") or row.phone_number_id)[:32]
        throughput = (
            (info.get("throughput") or {}).get("level")
            if isinstance(info.get("throughput"), dict)
            else None
        )
        spec = NumberSpec(
            waba_id=row.waba_id,
            phone_number_id=row.phone_number_id,
            display_phone_number=display if display.startswith("+") else f"+{display}",
            access_token=token,
            account_name=account_name,
            rate_limit_per_second=_RATE_BY_THROUGHPUT.get(str(throughput).upper(), 80),
            default_queue_id=row.options.get("default_queue_id"),
        )
        if row.number_id is None:  # saved by an earlier try that stopped after it
            try:
                saved = await numbers.connect_number(
                    self.db, self.secrets, self.graph, workspace_id, spec
                )
            except PhoneNumberError as exc:
                raise StepFailed(f"the number could not be saved: {exc.message}") from exc
            async with self.db.write() as session:
                stored = await session.get(Signup, row.id)
                stored.number_id = saved.id
        synced = await self._sync_templates(workspace_id, row.waba_id)
        parts = [
            f"{spec.display_phone_number} ({info.get('verified_name') or 'no verified name yet'})",
            f"quality {info.get('quality_rating') or 'unknown'}",
            f"messaging limit {info.get('messaging_limit_tier') or 'unknown'}",
            f"throughput {throughput or 'unknown'}",
            f"name {str(info.get('name_status') or 'unknown').lower()}",
            synced,
        ]
        return "done", "; ".join(parts)

    async def _sync_templates(self, workspace_id: int, waba_id: str) -> str:
        try:
            report = await TemplateService(self.db, self.graph, self.secrets).sync(
                workspace_id, waba_id=waba_id
            )
        except TemplateServiceError as exc:
            return f"templates not synced ({exc}): sync them from the templates page"
        count = report.created + report.updated
        return f"{count} template{'s' if count != 1 else ''} synced"


def _exchange_message(exc: MetaApiError | GraphTransportError, secret: str, code: str) -> str:
    words = in_words(exc, secret, code)
    subcode = getattr(exc, "subcode", None)
    if isinstance(exc, MetaApiError) and exc.code in (1, 101):
        return (
            f"Meta refused the app's credentials ({words}): check MADOGUCHI_META_APP_ID and "
            "MADOGUCHI_APP_SECRET, then launch Connect with Meta again"
        )
    if isinstance(exc, MetaApiError) and (subcode in (36007, 36009) or exc.code == 100):
        return (
            f"Meta refused the authorization code ({words}); a code works once and only for "
            "a few seconds: launch Connect with Meta again"
        )
    return f"the code could not be exchanged for a token ({words}); launch Connect with Meta again"


def _register_message(exc: MetaApiError | GraphTransportError, token: str, pin: str) -> str:
    words = in_words(exc, token, pin)
    code = _code_of(exc)
    if code == 133005:
        return (
            f"the PIN does not match the two-step verification PIN already set on this "
            f"number ({words}): retry with the number's current PIN, or reset it in "
            "WhatsApp Manager first"
        )
    if code == 133006:
        return (
            f"Meta wants the number verified (SMS or voice code) before it can be registered "
            f"({words}): finish the verification in WhatsApp Manager, then retry"
        )
    if code in (133008, 133009, 133015):
        return f"Meta asks to wait before registering again ({words}): retry in a few minutes"
    return f"Meta refused to register the number ({words}); retry this step"
