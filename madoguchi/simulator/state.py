"""The simulator's in-memory world: numbers, customers, threads, media, templates, logs."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from . import payloads
from .config import SimNumber, SimulatorConfig
from .validation import BSUID_RE

WINDOW_SECONDS = 24 * 3600
ENTRY_POINT_SECONDS = 72 * 3600
USERNAME_RE = re.compile(r"^@?[A-Za-z0-9._]{3,35}$")


class Clock:
    """Wall-clock time that tests can shift forward (`POST /_sim/clock`)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> float:
        self.offset += seconds
        return self.now()


def make_bsuid(country: str, seed: str) -> str:
    """A stable business-scoped user id for `seed`: `CC.` + 17 digits."""
    digest = hashlib.sha256(f"madoguchi-sim:{seed}".encode()).digest()
    number = int.from_bytes(digest[:8], "big") % 10**17
    return f"{country.upper()}.{number:017d}"


def country_of(wa_id: str) -> str:
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse("+" + wa_id))
    except phonenumbers.NumberParseException:
        region = None
    return region if region and region != "ZZ" else "US"


@dataclass
class Customer:
    user_id: str
    wa_id: str | None
    name: str
    username: str | None
    country: str
    parent_user_id: str | None = None
    created_at: float = 0.0
    # per phone_number_id: clock time of the last message to that number
    last_inbound: dict[str, float] = field(default_factory=dict)
    # per phone_number_id: end of a free entry point window (click-to-WhatsApp ad)
    entry_point_until: dict[str, float] = field(default_factory=dict)
    # per phone_number_id: monotonic time until which the phone page shows that chat
    viewing_until: dict[str, float] = field(default_factory=dict)

    def is_viewing(self, phone_number_id: str) -> bool:
        return self.viewing_until.get(phone_number_id, 0.0) > time.monotonic()

    def public(self, clock: Clock | None = None) -> dict:
        now = clock.now() if clock else time.time()
        return {
            "id": self.user_id,
            "user_id": self.user_id,
            "wa_id": self.wa_id,
            "name": self.name,
            "username": self.username,
            "country": self.country,
            "parent_user_id": self.parent_user_id,
            "windows": {
                pnid: {
                    "last_message_at": int(ts),
                    "open": now - ts <= WINDOW_SECONDS,
                    "closes_at": int(ts + WINDOW_SECONDS),
                }
                for pnid, ts in self.last_inbound.items()
            },
        }


@dataclass
class ThreadMessage:
    """One message of a customer's chat with a business number, either direction."""

    wamid: str
    phone_number_id: str
    customer_id: str
    direction: str  # "in": customer -> business; "out": business -> customer
    type: str
    content: dict  # "in": the webhook's messages[] item; "out": the request's object
    timestamp: float
    status: str
    statuses: list[dict] = field(default_factory=list)
    context_id: str | None = None
    reactions: dict[str, str] = field(default_factory=dict)  # "customer"/"business" -> emoji
    errors: list[dict] = field(default_factory=list)
    pricing: dict | None = None
    conversation: dict | None = None
    rendered: dict | None = None  # templates: header/body/footer/buttons as shown
    biz_opaque_callback_data: str | None = None

    def set_status(self, status: str, ts: float) -> None:
        self.status = status
        self.statuses.append({"status": status, "timestamp": int(ts)})

    def public(self) -> dict:
        data = {
            "wamid": self.wamid,
            "direction": self.direction,
            "type": self.type,
            "timestamp": int(self.timestamp),
            "status": self.status,
            "statuses": list(self.statuses),
            "context_id": self.context_id,
            "reactions": dict(self.reactions),
            "content": self.content,
        }
        if self.errors:
            data["errors"] = self.errors
        if self.pricing:
            data["pricing"] = self.pricing
        if self.rendered:
            data["rendered"] = self.rendered
        return data


@dataclass
class Media:
    id: str
    data: bytes
    mime_type: str
    owner: str  # phone_number_id
    created_at: float
    filename: str | None = None

    @property
    def sha256_hex(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def sha256_b64(self) -> str:
        return base64.b64encode(hashlib.sha256(self.data).digest()).decode()


@dataclass
class Template:
    id: str
    waba_id: str
    name: str
    language: str
    category: str
    components: list[dict]
    status: str = "PENDING"
    parameter_format: str = "POSITIONAL"
    reason: str | None = None
    created_at: float = 0.0

    def component(self, ctype: str) -> dict | None:
        for comp in self.components:
            if str(comp.get("type", "")).upper() == ctype:
                return comp
        return None

    def public(self) -> dict:
        data: dict[str, Any] = {
            "name": self.name,
            "parameter_format": self.parameter_format,
            "components": self.components,
            "language": self.language,
            "status": self.status,
            "category": self.category,
            "id": self.id,
        }
        if self.status == "REJECTED":
            data["rejected_reason"] = self.reason or "NONE"
        return data


@dataclass
class Grant:
    """A business token issued through Embedded Signup: the WABAs it may act for."""

    token: str
    app_id: str
    waba_ids: set[str]
    scopes: list[str]
    issued_at: float
    expires_at: float  # clock time; 0: never
    revoked: bool = False

    def valid(self, now: float) -> bool:
        return not self.revoked and (not self.expires_at or now < self.expires_at)


@dataclass
class Fault:
    code: int
    count: int
    mode: str = "sync"  # "sync": error response; "webhook": accepted, then `failed` status
    details: str | None = None


class SimState:
    """All mutable state. Lives in one event loop: no locks needed."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.clock = Clock()
        self.numbers: dict[str, SimNumber] = {n.phone_number_id: n for n in config.numbers}
        # Like the numbers, what Embedded Signup made survives a reset.
        self.grants: dict[str, Grant] = {}
        self.waba_names: dict[str, str] = {}
        # WABA id -> ids of the apps receiving its webhooks (the configured ones: our app).
        self.subscriptions: dict[str, set[str]] = {
            n.waba_id: {config.app_id} for n in config.numbers
        }
        self.reset()

    def reset(self) -> None:
        self.clock.offset = 0.0
        self.customers: dict[str, Customer] = {}
        self._by_phone: dict[str, Customer] = {}  # wa_id → customer (a wa_id never changes)
        self.threads: dict[tuple[str, str], list[ThreadMessage]] = {}
        self.messages: dict[str, ThreadMessage] = {}
        self.media: dict[str, Media] = {}
        self.templates: dict[str, Template] = {}
        self.sent: deque[dict] = deque(maxlen=self.config.sent_log_size)
        self.sent_seq = 0
        self.faults: dict[str, list[Fault]] = {}
        self.rate_windows: dict[str, deque[float]] = {}
        # (customer_id, phone_number_id) -> monotonic time the business stops "typing…"
        self.typing_until: dict[tuple[str, str], float] = {}
        for seed in self.config.customers:
            self.add_customer(**seed.model_dump())
        for tpl in self.config.templates:
            waba = tpl.waba_id or self.config.numbers[0].waba_id
            self.add_template(
                waba, tpl.model_dump(exclude={"waba_id", "status"}), status=tpl.status
            )

    # ------------------------------------------------------------------ numbers

    def number_for_token(self, token: str | None) -> SimNumber | None:
        for number in self.numbers.values():
            if token and number.access_token == token:
                return number
        return None

    def token_valid(self, token: str | None) -> bool:
        """A number's own token, or a business token from Embedded Signup still valid."""
        if self.number_for_token(token) is not None:
            return True
        grant = self.grants.get(token or "")
        return grant is not None and grant.valid(self.clock.now())

    def may_use_number(self, token: str | None, number: SimNumber) -> bool:
        return number.access_token == token or token in self.granted_tokens(number.waba_id)

    def granted_tokens(self, waba_id: str) -> set[str]:
        now = self.clock.now()
        return {g.token for g in self.grants.values() if waba_id in g.waba_ids and g.valid(now)}

    def waba_tokens(self, waba_id: str) -> set[str]:
        own = {n.access_token for n in self.numbers.values() if n.waba_id == waba_id}
        return own | self.granted_tokens(waba_id)

    def wabas(self) -> set[str]:
        return {n.waba_id for n in self.numbers.values()}

    def number_by_digits(self, digits: str) -> SimNumber | None:
        for number in self.numbers.values():
            if number.digits == digits:
                return number
        return None

    # ---------------------------------------------------------------- customers

    def add_customer(
        self,
        *,
        wa_id: str | None = None,
        user_id: str | None = None,
        name: str | None = None,
        username: str | None = None,
        country: str | None = None,
        parent_user_id: str | None = None,
    ) -> Customer:
        """Create a customer, or return the existing one with the same phone or BSUID.
        Raises ValueError on bad input."""
        if wa_id:
            wa_id = payloads.digits(wa_id)
            if not 6 <= len(wa_id) <= 15:
                raise ValueError("wa_id must be a phone number in international form")
            if self.number_by_digits(wa_id):
                raise ValueError("wa_id is one of the business numbers")
        if username:
            username = username.lstrip("@")
            if not USERNAME_RE.match(username):
                raise ValueError("username: 3-35 letters, digits, dots or underscores")
        if not wa_id and not username:
            raise ValueError("a customer needs a phone (wa_id) or a username")
        if user_id and not BSUID_RE.match(user_id):
            raise ValueError("user_id must look like CC.<alphanumerics>, e.g. JP.7021133001")
        existing = (self.customers.get(user_id) if user_id else None) or (
            self.find_by_phone(wa_id) if wa_id else None
        )
        if existing:
            return existing
        if country:
            country = country.upper()
            if not re.fullmatch(r"[A-Z]{2}", country):
                raise ValueError("country must be an ISO 3166 two-letter code")
        else:
            country = country_of(wa_id) if wa_id else "US"
        if user_id is None:
            user_id = make_bsuid(country, wa_id or f"user:{username}")
        customer = Customer(
            user_id=user_id,
            wa_id=wa_id,
            name=name or (f"Customer {wa_id[-4:]}" if wa_id else f"@{username}"),
            username=username,
            country=country,
            parent_user_id=parent_user_id,
            created_at=self.clock.now(),
        )
        self.customers[user_id] = customer
        if wa_id:
            self._by_phone.setdefault(wa_id, customer)
        return customer

    def find_by_phone(self, wa_id: str) -> Customer | None:
        return self._by_phone.get(wa_id)

    def find_customer(self, key: str) -> Customer | None:
        """By BSUID, phone (digits, with or without +) or username."""
        if key in self.customers:
            return self.customers[key]
        digits = payloads.digits(key)
        if digits and digits == key.lstrip("+"):
            found = self.find_by_phone(digits)
            if found:
                return found
        name = key.lstrip("@")
        for customer in self.customers.values():
            if customer.username and customer.username == name:
                return customer
        return None

    # ----------------------------------------------------------------- messages

    def thread(self, customer_id: str, phone_number_id: str) -> list[ThreadMessage]:
        return self.threads.setdefault((customer_id, phone_number_id), [])

    def add_message(self, message: ThreadMessage) -> ThreadMessage:
        self.thread(message.customer_id, message.phone_number_id).append(message)
        self.messages[message.wamid] = message
        return message

    def window_open(self, customer: Customer, phone_number_id: str) -> bool:
        last = customer.last_inbound.get(phone_number_id)
        return last is not None and self.clock.now() - last <= WINDOW_SECONDS

    def in_entry_point(self, customer: Customer, phone_number_id: str) -> bool:
        return customer.entry_point_until.get(phone_number_id, 0.0) >= self.clock.now()

    # ---------------------------------------------------------------- templates

    def add_template(self, waba_id: str, data: dict, *, status: str = "PENDING") -> Template:
        template = Template(
            id=payloads.new_numeric_id(15),
            waba_id=waba_id,
            name=data["name"],
            language=data["language"],
            category=data["category"],
            components=data["components"],
            parameter_format=data.get("parameter_format", "POSITIONAL"),
            status=status,
            created_at=self.clock.now(),
        )
        self.templates[template.id] = template
        return template

    def waba_templates(self, waba_id: str) -> list[Template]:
        return [t for t in self.templates.values() if t.waba_id == waba_id]

    # ------------------------------------------------------------------- faults

    def take_fault(self, phone_number_id: str) -> Fault | None:
        queue = self.faults.get(phone_number_id)
        if not queue:
            return None
        fault = queue[0]
        fault.count -= 1
        if fault.count <= 0:
            queue.pop(0)
        return fault

    def rate_exceeded(self, number: SimNumber) -> bool:
        """Sliding one-second window of accepted send requests (real time, not the clock)."""
        window = self.rate_windows.setdefault(number.phone_number_id, deque())
        now = time.monotonic()
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= number.rate_per_second:
            return True
        window.append(now)
        return False
