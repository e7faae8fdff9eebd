"""What the simulator does: customers write, the business sends, statuses follow."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from dataclasses import dataclass, field
from typing import Any

from . import payloads
from .calls import CallCenter
from .config import SimNumber, SimulatorConfig
from .delivery import Deliverer, Delivery
from .state import ENTRY_POINT_SECONDS, Customer, Media, SimState, ThreadMessage
from .validation import (
    MEDIA_LIMITS,
    GraphError,
    SendRequest,
    base_mime,
    error_title,
    is_animated_webp,
    render_template,
)

TYPING_SECONDS = 25.0
VIEWING_SECONDS = 4.0
READABLE = ("sent", "delivered")


class CustomerInputError(ValueError):
    """A control-API request the simulated customer cannot do (answered with 422)."""


@dataclass
class _StatusBatch:
    """Statuses of one number waiting to go out in one webhook delivery."""

    number: SimNumber
    attempted: asyncio.Future  # set once the delivery's first attempt was made
    items: list[dict] = field(default_factory=list)


class Simulator:
    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.state = SimState(config)
        self.deliverer = Deliverer(config, self.state.clock)
        self.calls = CallCenter(self)
        self._status_batches: dict[str, _StatusBatch] = {}

    @property
    def clock(self):
        return self.state.clock

    async def start(self) -> None:
        await self.deliverer.start()

    async def stop(self) -> None:
        await self.calls.reset()
        await self.deliverer.stop()

    async def reset(self) -> None:
        await self.calls.reset()
        await self.deliverer.reset()  # cancels the batches' timers too
        self._status_batches.clear()
        self.state.reset()

    def number(self, phone_number_id: str | None) -> SimNumber | None:
        if phone_number_id is None:
            return self.config.numbers[0]
        return self.state.numbers.get(phone_number_id)

    # ======================================================== customer side

    async def customer_sends(self, customer: Customer, number: SimNumber, spec: dict) -> dict:
        """The customer writes to `number`. Returns after the first delivery attempt."""
        pnid = number.phone_number_id
        msg_type, obj, ctx, extra = self._build_customer_message(customer, number, spec)
        now = self.clock.now()
        referral = extra.get("referral")
        message = payloads.inbound_message(
            customer,
            msg_type,
            obj,
            timestamp=now,
            context_=ctx,
            referral_=referral,
            errors=extra.get("errors"),
        )
        record = self.state.add_message(
            ThreadMessage(
                wamid=message["id"],
                phone_number_id=pnid,
                customer_id=customer.user_id,
                direction="in",
                type=msg_type,
                content=message,
                timestamp=now,
                status="sent",
                statuses=[{"status": "sent", "timestamp": int(now)}],
                context_id=(ctx or {}).get("id"),
            )
        )
        customer.last_inbound[pnid] = now
        if referral:
            customer.entry_point_until[pnid] = now + ENTRY_POINT_SECONDS
        if msg_type == "reaction":
            target = self.state.messages[obj["message_id"]]
            if obj.get("emoji"):
                target.reactions["customer"] = obj["emoji"]
            else:
                target.reactions.pop("customer", None)

        def delivered() -> None:
            if record.status == "sent":
                record.set_status("delivered", self.clock.now())

        delivery = self.deliverer.deliver(
            "message",
            payloads.message_webhook(number, customer, message),
            f"{msg_type} from {customer.wa_id or customer.user_id} to {pnid}",
            on_delivered=delivered,
        )
        await self.deliverer.wait_first_attempt(delivery)
        first = delivery.attempts[0] if delivery.attempts else {}
        return {
            "wamid": record.wamid,
            "delivered": delivery.state == "delivered",
            "status_code": first.get("status_code"),
            "error": first.get("error"),
            "delivery_id": delivery.id,
            "delivery_state": delivery.state,
            "message": message,
        }

    def _thread_message(
        self, customer: Customer, number: SimNumber, wamid: Any, *, direction: str | None = None
    ) -> ThreadMessage:
        target = self.state.messages.get(wamid) if isinstance(wamid, str) else None
        if (
            target is None
            or target.customer_id != customer.user_id
            or target.phone_number_id != number.phone_number_id
            or (direction and target.direction != direction)
        ):
            raise CustomerInputError(f"no such message in this chat: {wamid!r}")
        return target

    def _build_customer_message(
        self, customer: Customer, number: SimNumber, spec: dict
    ) -> tuple[str, Any, dict | None, dict]:
        kind = spec.get("type", "text")
        extra: dict[str, Any] = {}
        ctx: dict | None = None
        reply_to = spec.get("reply_to") or (spec.get("context") or {}).get("message_id")
        if reply_to:
            target = self._thread_message(customer, number, reply_to)
            ctx = payloads.context(
                target.wamid, number.digits if target.direction == "out" else customer.wa_id
            )
        elif spec.get("forwarded"):
            ctx = {"forwarded": True}
        if spec.get("referral"):
            ref = spec["referral"]
            extra["referral"] = (
                payloads.referral(**ref) if isinstance(ref, dict) else (payloads.referral())
            )

        if kind == "text":
            body = spec.get("text", spec.get("body"))
            if not isinstance(body, str) or not body:
                raise CustomerInputError("text: a non-empty `text` is needed")
            return "text", payloads.text(body), ctx, extra
        if kind in MEDIA_LIMITS:
            return kind, self._customer_media(kind, number, spec), ctx, extra
        if kind == "location":
            try:
                lat, lon = float(spec["latitude"]), float(spec["longitude"])
            except (KeyError, TypeError, ValueError):
                raise CustomerInputError("location: `latitude` and `longitude` needed") from None
            return (
                "location",
                payloads.location(
                    lat,
                    lon,
                    name=spec.get("name"),
                    address=spec.get("address"),
                    url=spec.get("url"),
                ),
                ctx,
                extra,
            )
        if kind == "contacts":
            cards = spec.get("contacts")
            if not cards:
                if not spec.get("name"):
                    raise CustomerInputError("contacts: `contacts` or `name` needed")
                cards = [
                    payloads.contact_card(
                        spec["name"],
                        phone=spec.get("phone"),
                        wa_id=payloads.digits(spec.get("phone") or "") or None,
                        email=spec.get("email"),
                        company=spec.get("company"),
                    )
                ]
            return "contacts", cards, ctx, extra
        if kind in ("button_reply", "list_reply", "nfm_reply"):
            target = self._thread_message(
                customer, number, spec.get("message_wamid"), direction="out"
            )
            ctx = payloads.context(target.wamid, number.digits)
            return "interactive", self._interactive_reply(kind, target, spec), ctx, extra
        if kind == "call_permission_reply":
            target = self._thread_message(
                customer, number, spec.get("message_wamid"), direction="out"
            )
            ctx = payloads.context(target.wamid, number.digits)
            return "interactive", self._permission_reply(customer, number, target, spec), ctx, extra
        if kind == "button":
            target = self._thread_message(
                customer, number, spec.get("message_wamid"), direction="out"
            )
            if target.type != "template" or not target.rendered:
                raise CustomerInputError("button: the message is not a template")
            replies = [b for b in target.rendered["buttons"] if b["type"] == "QUICK_REPLY"]
            chosen = None
            if spec.get("index") is not None:
                buttons = target.rendered["buttons"]
                idx = int(spec["index"])
                if 0 <= idx < len(buttons) and buttons[idx]["type"] == "QUICK_REPLY":
                    chosen = buttons[idx]
            else:
                wanted = spec.get("text") or spec.get("payload")
                chosen = next((b for b in replies if wanted in (b["text"], b["payload"])), None)
            if chosen is None:
                raise CustomerInputError("button: no such quick-reply button")
            ctx = payloads.context(target.wamid, number.digits)
            return "button", payloads.button(chosen["payload"], chosen["text"]), ctx, extra
        if kind == "reaction":
            target = self._thread_message(customer, number, spec.get("message_wamid"))
            return "reaction", payloads.reaction(target.wamid, spec.get("emoji")), None, extra
        if kind == "request_welcome":
            return "request_welcome", None, None, extra
        if kind == "unsupported":
            extra["errors"] = [
                payloads.error(131051, error_title(131051), details="Message type unknown")
            ]
            return "unsupported", {"type": spec.get("original_type", "unknown")}, ctx, extra
        raise CustomerInputError(f"unknown message type {kind!r}")

    def _customer_media(self, kind: str, number: SimNumber, spec: dict) -> dict:
        if spec.get("media_id"):
            media = self.state.media.get(spec["media_id"])
            if media is None:
                raise CustomerInputError("media_id: unknown media")
        else:
            try:
                data = base64.b64decode(spec.get("file_b64") or "", validate=True)
            except (binascii.Error, ValueError):
                raise CustomerInputError("file_b64: not valid base64") from None
            if not data:
                raise CustomerInputError(f"{kind}: `file_b64` (or `media_id`) needed")
            mime = (
                spec.get("mime_type")
                or {
                    "image": "image/jpeg",
                    "video": "video/mp4",
                    "audio": "audio/ogg",
                    "document": "application/pdf",
                    "sticker": "image/webp",
                }[kind]
            )
            if kind == "audio" and spec.get("voice") and base_mime(mime) == "audio/ogg":
                mime = "audio/ogg; codecs=opus"
            media = self.store_media(
                data, mime, number.phone_number_id, filename=spec.get("filename")
            )
        return payloads.media(
            media.id,
            media.mime_type,
            media.sha256_b64,
            caption=spec.get("caption") if kind in ("image", "video", "document") else None,
            filename=(spec.get("filename") or media.filename or "file")
            if kind == "document"
            else None,
            voice=bool(spec.get("voice")) if kind == "audio" else None,
            animated=is_animated_webp(media.data) if kind == "sticker" else None,
        )

    def _permission_reply(
        self, customer: Customer, number: SimNumber, target: ThreadMessage, spec: dict
    ) -> dict:
        """The customer answers a call permission request (interactive or template)."""
        asked = target.type == "template" or (
            target.type == "interactive" and target.content.get("type") == "call_permission_request"
        )
        if not asked:
            raise CustomerInputError("call_permission_reply: the message asks no call permission")
        response = spec.get("response", "accept")
        if response not in ("accept", "reject"):
            raise CustomerInputError('call_permission_reply: response is "accept" or "reject"')
        permanent = bool(spec.get("permanent")) and response == "accept"
        expires = None
        if response == "accept":
            expires = self.calls.grant(customer, number, permanent=permanent)
        else:
            self.calls.revoke(customer, number)
        return payloads.call_permission_reply(response, expires, permanent)

    @staticmethod
    def _interactive_reply(kind: str, target: ThreadMessage, spec: dict) -> dict:
        content = target.content
        if target.type != "interactive":
            raise CustomerInputError(f"{kind}: the message is not interactive")
        action = content.get("action") or {}
        if kind == "button_reply":
            if content.get("type") != "button":
                raise CustomerInputError("button_reply: the message has no reply buttons")
            wanted = spec.get("button_id")
            for btn in action.get("buttons", []):
                reply = btn.get("reply", {})
                if wanted in (reply.get("id"), reply.get("title")):
                    return payloads.button_reply(reply["id"], reply["title"])
            raise CustomerInputError(f"button_reply: no button {wanted!r}")
        if kind == "list_reply":
            if content.get("type") != "list":
                raise CustomerInputError("list_reply: the message is not a list")
            wanted = spec.get("row_id")
            for section in action.get("sections", []):
                for row in section.get("rows", []):
                    if wanted in (row.get("id"), row.get("title")):
                        return payloads.list_reply(row["id"], row["title"], row.get("description"))
            raise CustomerInputError(f"list_reply: no row {wanted!r}")
        if content.get("type") != "flow":
            raise CustomerInputError("nfm_reply: the message is not a flow")
        response = spec.get("response", {})
        return payloads.nfm_reply(response if isinstance(response, str) else json.dumps(response))

    def store_media(
        self, data: bytes, mime_type: str, owner: str, *, filename: str | None = None
    ) -> Media:
        media = Media(
            id=payloads.new_numeric_id(16),
            data=data,
            mime_type=mime_type,
            owner=owner,
            created_at=self.clock.now(),
            filename=filename,
        )
        self.state.media[media.id] = media
        return media

    def open_chat(self, customer: Customer, number: SimNumber) -> list[str]:
        """The customer looks at the chat: business messages not yet read become read."""
        read = []
        for msg in self.state.thread(customer.user_id, number.phone_number_id):
            if msg.direction == "out" and msg.status in READABLE:
                self._emit_status(number, msg, customer, "read")
                read.append(msg.wamid)
        return read

    def view_chat(self, customer: Customer, number: SimNumber) -> list[str]:
        """The phone page shows this chat (it polls): keep it 'viewing' and read."""
        customer.viewing_until[number.phone_number_id] = time.monotonic() + VIEWING_SECONDS
        return self.open_chat(customer, number)

    def is_typing(self, customer: Customer, number: SimNumber) -> bool:
        key = (customer.user_id, number.phone_number_id)
        return self.state.typing_until.get(key, 0.0) > time.monotonic()

    # ======================================================== business side

    def mark_read(self, number: SimNumber, req: SendRequest) -> dict:
        target = self.state.messages.get(req.message_id or "")
        if (
            target is None
            or target.direction != "in"
            or target.phone_number_id != number.phone_number_id
        ):
            raise GraphError(
                100,
                f"Invalid message_id: {req.message_id!r} is not a message "
                f"received by this phone number.",
            )
        now = self.clock.now()
        for msg in self.state.thread(target.customer_id, number.phone_number_id):
            if msg.direction == "in" and msg.status != "read" and msg.timestamp <= target.timestamp:
                msg.set_status("read", now)
        if req.typing_indicator:
            key = (target.customer_id, number.phone_number_id)
            self.state.typing_until[key] = time.monotonic() + TYPING_SECONDS
        return {"success": True}

    def business_send(self, number: SimNumber, req: SendRequest) -> dict:
        """A validated send: run Meta's state checks, store it, start its statuses.
        Raises GraphError for synchronous errors."""
        state = self.state
        pnid = number.phone_number_id
        failure: GraphError | None = None
        fault = state.take_fault(pnid)
        if fault is not None:
            err = GraphError(fault.code, fault.details)
            if fault.mode == "sync":
                raise err
            failure = err

        customer = (
            state.find_by_phone(req.to) if req.to else state.customers.get(req.recipient or "")
        )
        if customer is None and req.to and req.type == "template":
            customer = self._phone_as_customer(req.to)
        rendered = None
        category = None
        if req.type == "template":
            template, rendered = self._template_for(number, req)
            category = template.category
            if category == "AUTHENTICATION" and req.recipient and not req.to:
                raise GraphError(
                    131062,
                    "Authentication templates cannot be sent to a "
                    "business-scoped user ID; use the phone number.",
                )
        self._check_media_refs(req)
        if req.type == "reaction" and customer is not None:
            target = state.messages.get(req.obj["message_id"])
            if target is None or target.customer_id != customer.user_id:
                raise GraphError(
                    131009,
                    f"Param reaction.message_id is not valid: "
                    f"{req.obj['message_id']!r} is not in this chat.",
                )

        if failure is None and customer is None:
            failure = GraphError(
                131026,
                "Message undeliverable: the recipient is not a "
                "WhatsApp user, or cannot receive this message.",
            )
        if failure is None and req.type != "template" and not state.window_open(customer, pnid):
            failure = GraphError(
                131047,
                "Message failed to send because more than 24 hours "
                "have passed since the customer last replied to "
                "this number.",
            )
            if self.config.window_error_mode == "sync":
                raise failure

        now = self.clock.now()
        wamid = payloads.new_wamid(req.to or req.recipient or "")
        recipient_key = customer.user_id if customer else (req.input or "")
        msg = ThreadMessage(
            wamid=wamid,
            phone_number_id=pnid,
            customer_id=recipient_key,
            direction="out",
            type=req.type or "text",
            content=req.obj["contacts"] if req.type == "contacts" else req.obj,
            timestamp=now,
            status="accepted",
            statuses=[{"status": "accepted", "timestamp": int(now)}],
            context_id=req.context_message_id,
            rendered=rendered,
            biz_opaque_callback_data=req.biz_opaque_callback_data,
        )
        if customer is not None and failure is None:
            msg.pricing, msg.conversation = self._pricing(customer, pnid, category)
        state.add_message(msg)
        if customer is not None:
            state.typing_until.pop((customer.user_id, pnid), None)
            if req.type == "reaction" and failure is None:
                target = state.messages[req.obj["message_id"]]
                if req.obj.get("emoji"):
                    target.reactions["business"] = req.obj["emoji"]
                else:
                    target.reactions.pop("business", None)

        recipient = customer or ({"wa_id": req.to} if req.to else {"user_id": req.recipient})
        self.deliverer.spawn(self._lifecycle(number, msg, recipient, failure))
        contact: dict[str, str] = {"input": req.input or ""}
        if req.to:
            contact["wa_id"] = req.to
        else:
            contact["user_id"] = req.recipient or ""
        return {
            "messaging_product": "whatsapp",
            "contacts": [contact],
            "messages": [{"id": wamid, "message_status": "accepted"}],
        }

    def _phone_as_customer(self, phone: str) -> Customer | None:
        """With ``unknown_phones_are_customers``: the phone's WhatsApp user, created now."""
        if not self.config.unknown_phones_are_customers:
            return None
        try:
            return self.state.add_customer(wa_id=phone)
        except ValueError:
            return None  # not a phone (or a business number): 131026 as before

    def _template_for(self, number: SimNumber, req: SendRequest):
        name = req.obj["name"]
        code = req.obj["language"]["code"]
        candidates = [t for t in self.state.waba_templates(number.waba_id) if t.name == name]
        template = next((t for t in candidates if t.language == code), None)
        if template is None:
            raise GraphError(132001, f"template name ({name}) does not exist in {code}")
        if template.status == "PAUSED":
            raise GraphError(132015, f"template {name} ({code}) is paused")
        if template.status == "DISABLED":
            raise GraphError(132016, f"template {name} ({code}) is disabled")
        if template.status != "APPROVED":
            raise GraphError(
                132001,
                f"template name ({name}) does not exist in {code} (status {template.status})",
            )
        return template, render_template(template, req.obj.get("components") or [])

    def _check_media_refs(self, req: SendRequest) -> None:
        """Media given by id must be known to the simulator (uploaded or received)."""
        refs: list[tuple[str, dict]] = []
        obj = req.obj
        if req.type in MEDIA_LIMITS:
            refs.append((req.type, obj))
        elif req.type == "interactive":
            header = obj.get("header") or {}
            if header.get("type") in ("image", "video", "document"):
                refs.append((f"interactive.header.{header['type']}", header[header["type"]]))
        elif req.type == "template":
            for comp in obj.get("components") or []:
                for param in comp.get("parameters") or []:
                    ptype = param.get("type")
                    if ptype in ("image", "video", "document"):
                        refs.append((f"template.{ptype}", param[ptype]))
        for path, ref in refs:
            media_id = ref.get("id")
            if media_id and media_id not in self.state.media:
                raise GraphError(
                    131009,
                    f"Param {path}.id is not valid: media {media_id!r} "
                    f"does not exist or has expired.",
                )

    def _pricing(
        self, customer: Customer, pnid: str, category: str | None
    ) -> tuple[dict, dict | None]:
        state = self.state
        if state.in_entry_point(customer, pnid):
            conv = payloads.conversation(
                f"sim-conv-{customer.user_id}-{pnid}",
                "referral_conversion",
                expiration_timestamp=customer.entry_point_until[pnid],
            )
            return payloads.pricing(
                category or "service", billable=False, type_="free_entry_point"
            ), conv
        if category is None:
            return payloads.pricing("service", billable=False, type_="free_customer_service"), None
        if category == "UTILITY" and state.window_open(customer, pnid):
            return payloads.pricing(category, billable=False, type_="free_customer_service"), None
        return payloads.pricing(category), None

    async def _lifecycle(
        self, number: SimNumber, msg: ThreadMessage, recipient: Any, failure: GraphError | None
    ) -> None:
        delay = self.config.status_delay_seconds
        await asyncio.sleep(delay)
        if failure is not None:
            msg.errors = [failure.webhook_error()]
            self._emit_status(number, msg, recipient, "failed")
            return
        first = self._emit_status(number, msg, recipient, "sent")
        await self._first_attempt(first)
        await asyncio.sleep(delay)
        if msg.status == "sent":  # not read meanwhile (then "delivered" is implied)
            self._emit_status(number, msg, recipient, "delivered")
        customer = self.state.customers.get(msg.customer_id)
        if customer is not None and (
            self.config.customers_read or customer.is_viewing(number.phone_number_id)
        ):
            await asyncio.sleep(delay)
            if msg.status in READABLE:
                self._emit_status(number, msg, recipient, "read")

    def _emit_status(
        self, number: SimNumber, msg: ThreadMessage, recipient: Any, status: str
    ) -> Delivery | asyncio.Future:
        """Post the status: in a delivery of its own, or in its number's next batch
        (``status_batch_seconds``); returns the delivery, or the batch's "first attempt
        made" future."""
        now = self.clock.now()
        msg.set_status(status, now)
        item = payloads.status(
            msg.wamid,
            status,
            recipient,
            timestamp=now,
            pricing_=msg.pricing if status != "failed" else None,
            conversation_=msg.conversation if status != "failed" else None,
            errors=msg.errors if status == "failed" else None,
            biz_opaque_callback_data=msg.biz_opaque_callback_data,
        )
        if self.config.status_batch_seconds > 0:
            return self._batch_status(number, item)
        body = payloads.statuses_webhook(number, [item])
        return self.deliverer.deliver("status", body, f"{status} {msg.wamid[:24]}…")

    def _batch_status(self, number: SimNumber, item: dict) -> asyncio.Future:
        batch = self._status_batches.get(number.phone_number_id)
        if batch is None:
            batch = _StatusBatch(number, asyncio.get_running_loop().create_future())
            self._status_batches[number.phone_number_id] = batch
            self.deliverer.spawn(self._flush_later(batch))
        batch.items.append(item)
        if len(batch.items) >= self.config.status_batch_max:
            self._flush_statuses(batch)
        return batch.attempted

    async def _flush_later(self, batch: _StatusBatch) -> None:
        await asyncio.sleep(self.config.status_batch_seconds)
        self._flush_statuses(batch)

    def _flush_statuses(self, batch: _StatusBatch) -> None:
        pnid = batch.number.phone_number_id
        if self._status_batches.get(pnid) is not batch:
            return  # already posted (full before its time was up)
        del self._status_batches[pnid]
        body = payloads.statuses_webhook(batch.number, batch.items)
        delivery = self.deliverer.deliver("status", body, f"{len(batch.items)} statuses")

        def attempted(_: asyncio.Future) -> None:
            if not batch.attempted.done():
                batch.attempted.set_result(None)

        assert delivery.first_attempt is not None
        delivery.first_attempt.add_done_callback(attempted)

    async def _first_attempt(self, emitted: Delivery | asyncio.Future) -> None:
        if isinstance(emitted, Delivery):
            await self.deliverer.wait_first_attempt(emitted)
        else:
            await asyncio.shield(emitted)

    # ============================================================ templates

    def schedule_review(self, template) -> None:
        self.deliverer.spawn(self._review(template))

    async def _review(self, template) -> None:
        await asyncio.sleep(self.config.auto_approve_templates_after)
        if template.status != "PENDING" or template.id not in self.state.templates:
            return
        marker = self.config.template_reject_marker
        if marker and marker in template.name:
            self.set_template_status(template, "REJECTED", self.config.template_reject_reason)
        else:
            self.set_template_status(template, "APPROVED", "NONE")

    def set_template_status(self, template, event: str, reason: str | None = None) -> Delivery:
        template.status = event
        template.reason = reason
        body = payloads.template_status_webhook(
            template.waba_id,
            template_id=template.id,
            name=template.name,
            language=template.language,
            event=event,
            reason=reason or "NONE",
            category=template.category,
            time_=self.clock.now(),
        )
        return self.deliverer.deliver("template_status", body, f"template {template.name} {event}")
