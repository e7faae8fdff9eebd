"""Settings of the WhatsApp simulator: the business numbers it hosts and how it behaves."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, field_validator

DEMO_NUMBER = {
    "phone_number_id": "100000000000001",
    "display_phone_number": "+1 555 0100",
    "waba_id": "200000000000001",
    "access_token": "sim-token-demo",
    "verified_name": "Madoguchi Demo",
}


class SimNumber(BaseModel):
    """A business phone number hosted by the simulator (what Meta knows about it)."""

    phone_number_id: str
    display_phone_number: str
    waba_id: str
    access_token: str
    verified_name: str = "Madoguchi Demo"
    rate_per_second: int = Field(default=80, ge=1)
    quality_rating: Literal["GREEN", "YELLOW", "RED", "UNKNOWN"] = "GREEN"
    messaging_limit_tier: str = "TIER_1K"
    throughput_level: Literal["STANDARD", "HIGH"] = "STANDARD"
    # Registered for Cloud API use (numbers made by Embedded Signup start unregistered);
    # `pin` is the two-step verification PIN once one is set.
    registered: bool = True
    pin: str | None = None
    name_status: str = "APPROVED"

    @property
    def digits(self) -> str:
        """The display number as webhooks carry it: digits only."""
        return re.sub(r"\D", "", self.display_phone_number)


class SeedCustomer(BaseModel):
    """A customer present from start-up (same fields as `POST /_sim/customers`)."""

    wa_id: str | None = None
    user_id: str | None = None
    name: str | None = None
    username: str | None = None
    country: str | None = None
    parent_user_id: str | None = None


class SeedTemplate(BaseModel):
    """A template present from start-up, already APPROVED (unless `status` says otherwise)."""

    name: str
    language: str = "en_US"
    category: Literal["MARKETING", "UTILITY", "AUTHENTICATION"] = "UTILITY"
    components: list[dict] = Field(default_factory=list)
    status: str = "APPROVED"
    waba_id: str | None = None  # default: the first number's WABA


class SimulatorConfig(BaseModel):
    """Everything the simulator needs. Defaults give a ready demo on 127.0.0.1:8001."""

    webhook_url: str | None = "http://127.0.0.1:8000/webhooks/whatsapp"
    app_secret: str = "sim-app-secret"
    verify_token: str = "sim-verify-token"
    public_url: str = "http://127.0.0.1:8001"
    graph_version: str = "v26.0"
    numbers: list[SimNumber] = Field(default_factory=lambda: [SimNumber(**DEMO_NUMBER)])
    customers: list[SeedCustomer] = Field(default_factory=list)
    templates: list[SeedTemplate] = Field(default_factory=list)

    # The business's Meta app (Embedded Signup): its id, and the id of its Facebook Login
    # for Business configuration. The app secret is `app_secret` above.
    app_id: str = "100000000000777"
    signup_config_id: str = "100000000000888"
    # An Embedded Signup code is exchangeable this long, once; the business token it
    # gives expires after `signup_token_ttl_seconds` (0: never).
    signup_code_ttl_seconds: float = Field(default=30.0, gt=0)
    signup_token_ttl_seconds: float = Field(default=60 * 86400, ge=0)

    # Outbound message lifecycle.
    status_delay_seconds: float = Field(default=0.05, ge=0)
    # "webhook": a free-form send outside the 24 h window is accepted, then fails by a
    # `failed` status carrying 131047 (what the Cloud API does). "sync": answered at once
    # with HTTP 400 and code 131047.
    window_error_mode: Literal["webhook", "sync"] = "webhook"
    # A template sent to a phone the simulator does not know: by default Meta's 131026
    # ("not a WhatsApp user"); with this on, the phone is taken as a WhatsApp user's
    # (created on the spot), as most phones are: a broadcast to a list of phones then
    # gets sent/delivered statuses, not failures. Free-form sends still need a window.
    unknown_phones_are_customers: bool = False
    # Customers read what the business sends: a `read` status follows `delivered` (by
    # default only while the customer's chat is open on the phone page).
    customers_read: bool = False
    # Several statuses in one webhook delivery, as Meta groups them: statuses of one
    # number emitted within this many seconds go out together (at most
    # `status_batch_max`). 0: one delivery per status.
    status_batch_seconds: float = Field(default=0.0, ge=0)
    status_batch_max: int = Field(default=100, ge=1)

    # Templates: PENDING -> APPROVED/REJECTED after this many seconds; a name containing
    # `template_reject_marker` is rejected (reason below).
    auto_approve_templates_after: float = Field(default=2.0, ge=0)
    template_reject_marker: str = "reject"
    template_reject_reason: str = "INVALID_FORMAT"

    # Webhook delivery (at least once, retried with exponential back-off).
    delivery_timeout_seconds: float = Field(default=10.0, gt=0)
    delivery_max_attempts: int = Field(default=8, ge=1)
    delivery_backoff_seconds: float = Field(default=0.5, ge=0)
    delivery_backoff_max_seconds: float = Field(default=60.0, ge=0)
    delivery_concurrency: int = Field(default=16, ge=1)
    delivery_log_size: int = Field(default=5000, ge=10)

    # Media.
    media_url_ttl_seconds: int = Field(default=300, ge=1)
    sent_log_size: int = Field(default=5000, ge=10)

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("numbers")
    @classmethod
    def _unique_numbers(cls, value: list[SimNumber]) -> list[SimNumber]:
        ids = [n.phone_number_id for n in value]
        if len(set(ids)) != len(ids):
            raise ValueError("phone_number_id values must be unique")
        if not value:
            raise ValueError("at least one number is needed")
        # Copies: a simulator changes its numbers (registration, quality…), and the
        # objects given may be shared by other simulators (tests' module constants).
        return [n.model_copy() for n in value]
