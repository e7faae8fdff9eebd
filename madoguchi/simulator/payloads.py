"""Pure builders of Meta-shaped webhook payloads (no I/O, no app needed).

Benchmarks and tests import these to build deliveries themselves. Business numbers and
customers may be given as objects (attributes) or mappings (keys):

- number: `phone_number_id`, `display_phone_number`, `waba_id`
- customer / recipient: `user_id` (BSUID), `wa_id` (phone, optional), `name`,
  `username` (optional), `parent_user_id` (optional)

Field shapes follow the reference summary in `shared/reference/whatsapp-cloud-api.md`.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from collections.abc import Mapping
from typing import Any

ERROR_CODES_URL = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"

MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _drop_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def unix(ts: float | None = None) -> str:
    """Unix seconds as Meta sends them in webhooks: a string."""
    return str(int(time.time() if ts is None else ts))


def digits(phone: str) -> str:
    return re.sub(r"\D", "", phone or "")


# ---------------------------------------------------------------------------- ids


def new_wamid(party: str = "") -> str:
    """A unique message id shaped like Meta's (`wamid.HBgL…`, base64 of a small record)."""
    who = (party or secrets.token_hex(6)).encode()[:60]
    raw = (
        b"\x1c\x18"
        + bytes([len(who)])
        + who
        + b"\x15\x02\x00\x12\x18\x14"
        + secrets.token_hex(10).upper().encode()
        + b"\x00"
    )
    return "wamid." + base64.b64encode(raw).decode()


def new_numeric_id(length: int = 16) -> str:
    """A Graph-style numeric object id (media, template…)."""
    first = str(secrets.randbelow(9) + 1)
    rest = "".join(str(secrets.randbelow(10)) for _ in range(length - 1))
    return first + rest


def new_fbtrace_id() -> str:
    return "A" + base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")[:22]


# ------------------------------------------------------------------- envelope parts


def metadata(number: Any) -> dict:
    return {
        "display_phone_number": digits(_get(number, "display_phone_number", "")),
        "phone_number_id": _get(number, "phone_number_id"),
    }


def envelope(waba_id: str, field: str, value: dict, *, time_: float | None = None) -> dict:
    """The `whatsapp_business_account` delivery around one change."""
    entry: dict[str, Any] = {"id": waba_id, "changes": [{"value": value, "field": field}]}
    if time_ is not None:
        entry["time"] = int(time_)
    return {"object": "whatsapp_business_account", "entry": [entry]}


def contact(customer: Any) -> dict:
    """One `contacts[]` item: profile, wa_id when the phone is shared, user_id (BSUID)."""
    profile = _drop_none({"name": _get(customer, "name"), "username": _get(customer, "username")})
    return _drop_none(
        {
            "profile": profile,
            "wa_id": _get(customer, "wa_id"),
            "user_id": _get(customer, "user_id"),
            "parent_user_id": _get(customer, "parent_user_id"),
        }
    )


def context(message_id: str, from_: str | None = None) -> dict:
    """`context` of a reply: the message replied to, and who wrote it (when a phone)."""
    return _drop_none({"from": from_, "id": message_id})


# ------------------------------------------------------- message objects by type


def text(body: str) -> dict:
    return {"body": body}


def media(
    media_id: str,
    mime_type: str,
    sha256_b64: str,
    *,
    caption: str | None = None,
    filename: str | None = None,
    voice: bool | None = None,
    animated: bool | None = None,
) -> dict:
    """image | video | audio | document | sticker object (sha256 is base64 in webhooks)."""
    return _drop_none(
        {
            "caption": caption,
            "filename": filename,
            "mime_type": mime_type,
            "sha256": sha256_b64,
            "id": media_id,
            "voice": voice,
            "animated": animated,
        }
    )


def location(
    latitude: float,
    longitude: float,
    *,
    name: str | None = None,
    address: str | None = None,
    url: str | None = None,
) -> dict:
    return _drop_none(
        {"latitude": latitude, "longitude": longitude, "name": name, "address": address, "url": url}
    )


def contact_card(
    formatted_name: str,
    *,
    phone: str | None = None,
    wa_id: str | None = None,
    email: str | None = None,
    company: str | None = None,
) -> dict:
    """One item of a `contacts` message (a shared vCard)."""
    parts = formatted_name.split(" ", 1)
    card: dict[str, Any] = {
        "name": _drop_none(
            {
                "formatted_name": formatted_name,
                "first_name": parts[0],
                "last_name": parts[1] if len(parts) > 1 else None,
            }
        )
    }
    if phone:
        card["phones"] = [_drop_none({"phone": phone, "wa_id": wa_id, "type": "CELL"})]
    if email:
        card["emails"] = [{"email": email, "type": "HOME"}]
    if company:
        card["org"] = {"company": company}
    return card


def button_reply(button_id: str, title: str) -> dict:
    """`interactive` object of a tapped reply button."""
    return {"type": "button_reply", "button_reply": {"id": button_id, "title": title}}


def list_reply(row_id: str, title: str, description: str | None = None) -> dict:
    """`interactive` object of a chosen list row."""
    return {
        "type": "list_reply",
        "list_reply": _drop_none({"id": row_id, "title": title, "description": description}),
    }


def nfm_reply(response_json: str, *, name: str = "flow", body: str = "Sent") -> dict:
    """`interactive` object of a WhatsApp Flow answer."""
    return {
        "type": "nfm_reply",
        "nfm_reply": {"name": name, "body": body, "response_json": response_json},
    }


def call_permission_reply(response: str, expires: float | None, permanent: bool) -> dict:
    """The customer's answer to a call permission request (an interactive reply)."""
    reply: dict[str, Any] = {
        "response": response,
        "is_permanent": permanent,
        "response_source": "user_action",
    }
    if expires is not None:
        reply["expiration_timestamp"] = int(expires)
    return {"type": "call_permission_reply", "call_permission_reply": reply}


def button(payload: str, text_: str) -> dict:
    """`button` object: a template's quick-reply button was tapped."""
    return {"payload": payload, "text": text_}


def reaction(message_id: str, emoji: str | None) -> dict:
    """`reaction` object; no emoji means the reaction was removed."""
    return _drop_none({"message_id": message_id, "emoji": emoji or None})


def referral(
    *,
    source_url: str = "https://fb.me/madoguchi-sim-ad",
    source_id: str = "120000000000001",
    source_type: str = "ad",
    headline: str = "Chat with us",
    body: str = "Questions? Message us on WhatsApp.",
    media_type: str = "image",
    image_url: str | None = "https://example.com/ad.jpg",
    ctwa_clid: str | None = None,
    welcome_message: str | None = None,
) -> dict:
    """`referral` of a message that came from a click-to-WhatsApp ad."""
    data = {
        "source_url": source_url,
        "source_id": source_id,
        "source_type": source_type,
        "body": body,
        "headline": headline,
        "media_type": media_type,
        "image_url": image_url if media_type == "image" else None,
        "ctwa_clid": ctwa_clid or secrets.token_urlsafe(24),
    }
    if welcome_message:
        data["welcome_message"] = {"text": welcome_message}
    return _drop_none(data)


def error(code: int, title: str, *, message: str | None = None, details: str | None = None) -> dict:
    """An `errors[]` item as webhooks carry it."""
    return {
        "code": code,
        "title": title,
        "message": message or title,
        "error_data": {"details": details or title},
        "href": ERROR_CODES_URL,
    }


def inbound_message(
    customer: Any,
    type_: str,
    obj: Any = None,
    *,
    wamid: str | None = None,
    timestamp: float | None = None,
    context_: dict | None = None,
    referral_: dict | None = None,
    errors: list[dict] | None = None,
) -> dict:
    """One `messages[]` item from `customer`. `obj` is the type's object (`text(...)`…);
    `request_welcome` has none. No `from` when the customer shares no phone."""
    message: dict[str, Any] = _drop_none(
        {
            "from": _get(customer, "wa_id"),
            "from_user_id": _get(customer, "user_id"),
            "from_parent_user_id": _get(customer, "parent_user_id"),
            "id": wamid or new_wamid(_get(customer, "wa_id") or _get(customer, "user_id")),
            "timestamp": unix(timestamp),
            "type": type_,
        }
    )
    if context_:
        message["context"] = context_
    if referral_:
        message["referral"] = referral_
    if obj is not None:
        message[type_] = obj
    if errors:
        message["errors"] = errors
    return message


def message_webhook(number: Any, customer: Any, message: dict) -> dict:
    """A complete delivery: `customer` wrote `message` (from `inbound_message`) to `number`."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": metadata(number),
        "contacts": [contact(customer)],
        "messages": [message],
    }
    return envelope(_get(number, "waba_id"), "messages", value)


# ----------------------------------------------------------------------- statuses


def pricing(category: str, *, billable: bool = True, type_: str = "regular") -> dict:
    """Per-message pricing (PMP). `type_`: regular, free_customer_service, free_entry_point."""
    return {
        "billable": billable,
        "pricing_model": "PMP",
        "category": category.lower(),
        "type": type_,
    }


def conversation(
    conversation_id: str, origin_type: str, *, expiration_timestamp: float | None = None
) -> dict:
    data: dict[str, Any] = {"id": conversation_id, "origin": {"type": origin_type}}
    if expiration_timestamp is not None:
        data["expiration_timestamp"] = unix(expiration_timestamp)
    return data


def status(
    wamid: str,
    status_: str,
    recipient: Any,
    *,
    timestamp: float | None = None,
    pricing_: dict | None = None,
    conversation_: dict | None = None,
    errors: list[dict] | None = None,
    biz_opaque_callback_data: str | None = None,
) -> dict:
    """One `statuses[]` item. `recipient` gives `wa_id` (optional) and `user_id`."""
    return _drop_none(
        {
            "id": wamid,
            "status": status_,
            "timestamp": unix(timestamp),
            "recipient_id": _get(recipient, "wa_id"),
            "recipient_user_id": _get(recipient, "user_id"),
            "recipient_parent_user_id": _get(recipient, "parent_user_id"),
            "biz_opaque_callback_data": biz_opaque_callback_data,
            "conversation": conversation_,
            "pricing": pricing_,
            "errors": errors,
        }
    )


def status_webhook(
    number: Any,
    wamid: str,
    status_: str,
    recipient: Any,
    *,
    timestamp: float | None = None,
    pricing: dict | None = None,
    conversation: dict | None = None,
    errors: list[dict] | None = None,
    biz_opaque_callback_data: str | None = None,
) -> dict:
    """A complete delivery of one status (sent, delivered, read, failed…) of `wamid`."""
    return statuses_webhook(
        number,
        [
            status(
                wamid,
                status_,
                recipient,
                timestamp=timestamp,
                pricing_=pricing,
                conversation_=conversation,
                errors=errors,
                biz_opaque_callback_data=biz_opaque_callback_data,
            )
        ],
    )


def statuses_webhook(number: Any, statuses: list[dict]) -> dict:
    """A delivery of several `statuses[]` items of one number (Meta groups them)."""
    value = {"messaging_product": "whatsapp", "metadata": metadata(number), "statuses": statuses}
    return envelope(_get(number, "waba_id"), "messages", value)


# ---------------------------------------------------------------------- templates


def template_status_webhook(
    waba_id: str,
    *,
    template_id: str,
    name: str,
    language: str,
    event: str,
    reason: str | None = "NONE",
    category: str | None = None,
    time_: float | None = None,
) -> dict:
    """`message_template_status_update`: a template was APPROVED, REJECTED, PAUSED…"""
    value = _drop_none(
        {
            "event": event,
            "message_template_id": int(template_id) if template_id.isdigit() else template_id,
            "message_template_name": name,
            "message_template_language": language,
            "reason": reason,
            "message_template_category": category,
        }
    )
    return envelope(
        waba_id,
        "message_template_status_update",
        value,
        time_=time.time() if time_ is None else time_,
    )
