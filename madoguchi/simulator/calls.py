"""Meta's Calling API and the customers' phones: calls that really connect.

The business's side is the Graph API (``POST /{phone_number_id}/calls`` with ``connect``,
``pre_accept``, ``accept``, ``reject``, ``terminate``) and the ``calls`` webhooks; the
customer's side is a phone (``webrtc.PhoneLine``) that calls, rings, answers, hangs up and
really exchanges audio with the agent's browser. Meta's rules kept here: a business may
call a customer only with their permission (a reply to a permission request, or a call of
theirs to that number in the last 7 days), one call at a time per customer, and actions
only in the states that allow them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import payloads
from .config import SimNumber
from .state import Customer
from .validation import GraphError
from .webrtc import PhoneLine

if TYPE_CHECKING:
    from .core import Simulator

CALLBACK_SECONDS = 7 * 24 * 3600
PERMISSION_SECONDS = 7 * 24 * 3600
USER_INITIATED = "USER_INITIATED"
BUSINESS_INITIATED = "BUSINESS_INITIATED"
LIVE = ("ringing", "pre_accepted", "ongoing")


@dataclass
class SimCall:
    id: str
    number: SimNumber
    customer: Customer
    direction: str
    line: PhoneLine
    created_at: float
    state: str = "ringing"  # ringing | pre_accepted | ongoing | ended | rejected
    accepted_at: float | None = None
    ended_at: float | None = None
    ended_by: str | None = None  # customer | business
    actions: list[str] = field(default_factory=list)

    def public(self) -> dict:
        return {
            "id": self.id,
            "phone_number_id": self.number.phone_number_id,
            "customer_id": self.customer.user_id,
            "customer_name": self.customer.name,
            "direction": self.direction,
            "state": self.state,
            "created_at": int(self.created_at),
            "accepted_at": int(self.accepted_at) if self.accepted_at else None,
            "ended_at": int(self.ended_at) if self.ended_at else None,
            "ended_by": self.ended_by,
            "duration": self.duration,
            "actions": list(self.actions),
            "media": self.line.stats(),
        }

    @property
    def duration(self) -> int | None:
        if self.accepted_at is None or self.ended_at is None:
            return None
        return max(0, round(self.ended_at - self.accepted_at))


def new_call_id() -> str:
    return "wacid." + payloads.new_wamid()[len("wamid.") :]


def _value(call: SimCall, key: str, items: list[dict]) -> dict:
    return {
        "messaging_product": "whatsapp",
        "metadata": payloads.metadata(call.number),
        "contacts": [payloads.contact(call.customer)],
        key: items,
    }


class CallCenter:
    """Every call of the simulator, and the permissions customers gave."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.calls: dict[str, SimCall] = {}
        # (customer user_id, phone_number_id) -> clock time the permission ends (inf: never)
        self.permissions: dict[tuple[str, str], float] = {}
        # phone_number_id -> the `calling` settings the business set
        self.settings: dict[str, dict] = {}

    async def reset(self) -> None:
        for call in self.calls.values():
            await call.line.close()
        self.calls.clear()
        self.permissions.clear()
        self.settings.clear()

    # ------------------------------------------------------------ webhooks

    def _base(self, call: SimCall, event: str) -> dict:
        customer = call.customer
        business, user = call.number.digits, customer.wa_id
        user_initiated = call.direction == USER_INITIATED
        return payloads._drop_none(
            {
                "id": call.id,
                "from": user if user_initiated else business,
                "to": business if user_initiated else user,
                "from_user_id": customer.user_id if user_initiated else None,
                "to_user_id": None if user_initiated else customer.user_id,
                "event": event,
                "timestamp": payloads.unix(self.sim.clock.now()),
                "direction": call.direction,
            }
        )

    def _deliver(self, call: SimCall, key: str, item: dict, summary: str) -> None:
        body = payloads.envelope(call.number.waba_id, "calls", _value(call, key, [item]))
        self.sim.deliverer.deliver("call", body, f"{summary} ({call.id})")

    def _connect(self, call: SimCall, sdp_type: str, sdp: str) -> None:
        item = self._base(call, "connect")
        item["session"] = {"sdp_type": sdp_type, "sdp": sdp}
        self._deliver(call, "calls", item, f"call connect ({sdp_type})")

    def _status(self, call: SimCall, status: str) -> None:
        item = payloads._drop_none(
            {
                "id": call.id,
                "timestamp": payloads.unix(self.sim.clock.now()),
                "type": "call",
                "status": status,
                "recipient_id": call.customer.wa_id,
                "recipient_user_id": call.customer.user_id,
            }
        )
        self._deliver(call, "statuses", item, f"call status {status}")

    def _terminate(self, call: SimCall, status: str) -> None:
        item = self._base(call, "terminate")
        item["status"] = status
        if call.accepted_at is not None and call.ended_at is not None:
            item["start_time"] = payloads.unix(call.accepted_at)
            item["end_time"] = payloads.unix(call.ended_at)
            item["duration"] = call.duration
        self._deliver(call, "calls", item, f"call terminate {status}")

    async def _end(self, call: SimCall, state: str, by: str) -> None:
        call.state = state
        call.ended_at = self.sim.clock.now()
        call.ended_by = by
        await call.line.close()
        self._terminate(call, "COMPLETED" if call.accepted_at is not None else "FAILED")

    # ------------------------------------------------------------ permissions

    def grant(self, customer: Customer, number: SimNumber, *, permanent: bool) -> float | None:
        """The customer allowed calls; returns the expiry (None: permanent)."""
        until = math.inf if permanent else self.sim.clock.now() + PERMISSION_SECONDS
        self.permissions[(customer.user_id, number.phone_number_id)] = until
        return None if permanent else until

    def revoke(self, customer: Customer, number: SimNumber) -> None:
        self.permissions.pop((customer.user_id, number.phone_number_id), None)

    def may_call(self, customer: Customer, number: SimNumber) -> bool:
        until = self.permissions.get((customer.user_id, number.phone_number_id), 0.0)
        return until > self.sim.clock.now()

    # ------------------------------------------------------------ the customer's phone

    def live_call(self, customer: Customer) -> SimCall | None:
        return next(
            (c for c in self.calls.values() if c.customer is customer and c.state in LIVE), None
        )

    def calling_enabled(self, number: SimNumber) -> bool:
        return self.settings_of(number)["status"] == "ENABLED"

    def settings_of(self, number: SimNumber) -> dict:
        return self.settings.get(
            number.phone_number_id,
            {
                "status": "ENABLED",
                "call_icon_visibility": "DEFAULT",
                "callback_permission_status": "ENABLED",
            },
        )

    def set_settings(self, number: SimNumber, body: Any) -> dict:
        """``POST /{phone_number_id}/settings``: the ``calling`` object, checked as Meta does."""
        if not isinstance(body, dict) or not isinstance(body.get("calling"), dict):
            raise GraphError(100, "calling must be an object.")
        calling = body["calling"]
        current = dict(self.settings_of(number))
        allowed = {
            "status": ("ENABLED", "DISABLED"),
            "call_icon_visibility": ("DEFAULT", "DISABLE_ALL"),
            "callback_permission_status": ("ENABLED", "DISABLED"),
        }
        for key, value in calling.items():
            if key in allowed:
                if value not in allowed[key]:
                    raise GraphError(
                        100, f"calling.{key} must be one of {', '.join(allowed[key])}."
                    )
                current[key] = value
            elif key == "call_hours":
                if not isinstance(value, dict) or value.get("status") not in (
                    "ENABLED",
                    "DISABLED",
                ):
                    raise GraphError(100, "calling.call_hours.status must be ENABLED or DISABLED.")
                if value["status"] == "ENABLED" and not value.get("timezone_id"):
                    raise GraphError(100, "calling.call_hours.timezone_id is required.")
                current[key] = value
            else:
                raise GraphError(100, f"calling.{key} is not a calling setting.")
        self.settings[number.phone_number_id] = current
        return {"success": True}

    async def customer_calls(self, customer: Customer, number: SimNumber) -> SimCall:
        if not self.calling_enabled(number):
            raise ValueError("calling is disabled on this business number")
        if self.live_call(customer) is not None:
            raise ValueError("this customer is already on a call")
        call = SimCall(
            id=new_call_id(),
            number=number,
            customer=customer,
            direction=USER_INITIATED,
            line=PhoneLine(),
            created_at=self.sim.clock.now(),
        )
        self.calls[call.id] = call
        offer = await call.line.offer()
        # A customer who calls may be called back for a while (callback permission).
        key = (customer.user_id, number.phone_number_id)
        self.permissions[key] = max(
            self.permissions.get(key, 0.0), self.sim.clock.now() + CALLBACK_SECONDS
        )
        self._connect(call, "offer", offer)
        return call

    async def customer_answers(self, call: SimCall) -> None:
        if call.direction != BUSINESS_INITIATED or call.state != "ringing":
            raise ValueError(f"the call is {call.state}: nothing to answer")
        call.state = "ongoing"
        call.accepted_at = self.sim.clock.now()
        self._status(call, "ACCEPTED")

    async def customer_rejects(self, call: SimCall) -> None:
        if call.direction != BUSINESS_INITIATED or call.state != "ringing":
            raise ValueError(f"the call is {call.state}: nothing to reject")
        self._status(call, "REJECTED")
        await self._end(call, "rejected", "customer")

    async def customer_hangs_up(self, call: SimCall) -> None:
        if call.state not in LIVE:
            raise ValueError(f"the call has already ended ({call.state})")
        await self._end(call, "ended", "customer")

    # ------------------------------------------------------------ the business (Graph API)

    async def action(self, number: SimNumber, body: Any) -> dict:
        if not isinstance(body, dict):
            raise GraphError(100, "The request body must be a JSON object.")
        if body.get("messaging_product") != "whatsapp":
            raise GraphError(100, 'messaging_product must be "whatsapp".')
        action = body.get("action")
        if action == "connect":
            return await self._business_connect(number, body)
        if action not in ("pre_accept", "accept", "reject", "terminate"):
            raise GraphError(
                100,
                "action must be one of connect, pre_accept, accept, reject, terminate.",
            )
        call = self.calls.get(body.get("call_id"))  # type: ignore[arg-type]
        if call is None or call.number.phone_number_id != number.phone_number_id:
            raise GraphError(138100, f"No call with id {body.get('call_id')!r} on this number.")
        call.actions.append(action)
        if action in ("pre_accept", "accept"):
            await self._business_accepts(call, action, body)
        elif action == "reject":
            if call.direction != USER_INITIATED or call.state not in ("ringing", "pre_accepted"):
                raise GraphError(100, f"A call that is {call.state} cannot be rejected.")
            await self._end(call, "rejected", "business")
        else:
            if call.state not in LIVE:
                raise GraphError(100, f"The call has already ended ({call.state}).")
            await self._end(call, "ended", "business")
        return {"messaging_product": "whatsapp", "success": True}

    @staticmethod
    def _session(body: dict, sdp_type: str) -> str:
        session = body.get("session")
        if not isinstance(session, dict) or session.get("sdp_type") != sdp_type:
            raise GraphError(100, f'session.sdp_type must be "{sdp_type}".')
        sdp = session.get("sdp")
        if not isinstance(sdp, str) or not sdp.startswith("v=0"):
            raise GraphError(100, "session.sdp must be an SDP (starting with v=0).")
        return sdp

    async def _business_accepts(self, call: SimCall, action: str, body: dict) -> None:
        if call.direction != USER_INITIATED:
            raise GraphError(100, f"{action} is for calls the user made.")
        allowed = ("ringing",) if action == "pre_accept" else ("ringing", "pre_accepted")
        if call.state not in allowed:
            raise GraphError(100, f"A call that is {call.state} cannot be {action}ed.")
        sdp = self._session(body, "answer")
        if call.state == "ringing":
            try:
                await call.line.take_answer(sdp)
            except ValueError as exc:
                raise GraphError(100, f"session.sdp is not a usable answer: {exc}") from None
        if action == "pre_accept":
            call.state = "pre_accepted"
        else:
            call.state = "ongoing"
            call.accepted_at = self.sim.clock.now()

    async def _business_connect(self, number: SimNumber, body: dict) -> dict:
        to = body.get("to") or body.get("recipient")
        customer = self.sim.state.find_customer(str(to)) if to else None
        if customer is None:
            raise GraphError(100, f"No WhatsApp user {to!r}.")
        if not self.calling_enabled(number):
            raise GraphError(138000, "Calling is not enabled on this phone number.")
        if not self.may_call(customer, number):
            raise GraphError(
                138006,
                "The user has not given this business permission to call them.",
            )
        if self.live_call(customer) is not None:
            raise GraphError(138002, "The user is already on a call.")
        sdp = self._session(body, "offer")
        call = SimCall(
            id=new_call_id(),
            number=number,
            customer=customer,
            direction=BUSINESS_INITIATED,
            line=PhoneLine(),
            created_at=self.sim.clock.now(),
        )
        try:
            answer = await call.line.answer(sdp)
        except ValueError as exc:
            await call.line.close()
            raise GraphError(100, f"session.sdp is not a usable offer: {exc}") from None
        call.actions.append("connect")
        self.calls[call.id] = call
        self._connect(call, "answer", answer)
        self._status(call, "RINGING")
        return {"messaging_product": "whatsapp", "calls": [{"id": call.id}]}
