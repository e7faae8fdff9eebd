"""Inbound messages: what a WhatsApp user sent to one of our numbers.

Each message is read once, here, into one shape for every type: the type's own object
is kept as `content` (the agent desktop renders it), and `text` is the plain rendering
flows, search and notifications work on, so none of them needs to know Meta's per-type
layout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from madoguchi.whatsapp.updates import _read
from madoguchi.whatsapp.updates._read import WebhookFormatError
from madoguchi.whatsapp.updates.errors import MetaErrorInfo
from madoguchi.whatsapp.updates.identity import BusinessPhone, UserIdentity

__all__ = [
    "MEDIA_TYPES",
    "IdentityChange",
    "InboundMessage",
    "MediaRef",
    "MessageContext",
]

MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker"})


@dataclass(frozen=True, slots=True)
class MessageContext:
    """What the message points at: a reply's original, or the fact it was forwarded."""

    from_: str | None
    message_id: str | None
    forwarded: bool
    frequently_forwarded: bool
    referred_product: dict | None
    from_user_id: str | None

    @classmethod
    def from_value(cls, value: object, path: str) -> MessageContext:
        obj = _read.as_dict(value, path)
        return cls(
            from_=_read.opt_str(obj, "from", path),
            message_id=_read.opt_str(obj, "id", path),
            forwarded=_read.opt_bool(obj, "forwarded", path),
            frequently_forwarded=_read.opt_bool(obj, "frequently_forwarded", path),
            referred_product=_read.opt_dict(obj, "referred_product", path),
            from_user_id=_read.opt_str(obj, "from_user_id", path),
        )


@dataclass(frozen=True, slots=True)
class MediaRef:
    """A media attachment still on Meta's side: downloading it needs `media_id` and a token."""

    media_id: str
    mime_type: str | None
    sha256: str | None
    filename: str | None
    caption: str | None
    voice: bool
    animated: bool
    url: str | None

    @classmethod
    def from_value(cls, value: object, path: str) -> MediaRef:
        obj = _read.as_dict(value, path)
        return cls(
            media_id=_read.req_id(obj, "id", path),
            mime_type=_read.opt_str(obj, "mime_type", path),
            sha256=_read.opt_str(obj, "sha256", path),
            filename=_read.opt_str(obj, "filename", path),
            caption=_read.opt_str(obj, "caption", path),
            voice=_read.opt_bool(obj, "voice", path),
            animated=_read.opt_bool(obj, "animated", path),
            url=_read.opt_str(obj, "url", path),
        )


@dataclass(frozen=True, slots=True)
class IdentityChange:
    """A user's phone number or BSUID changed (a `system` message).

    Contacts are keyed on BSUID, and a new number means a new BSUID: without this the
    next message would open a stranger's conversation instead of continuing this one.
    """

    kind: str
    previous_wa_id: str | None
    new_wa_id: str | None
    previous_user_id: str | None
    new_user_id: str | None
    previous_parent_user_id: str | None
    new_parent_user_id: str | None

    @classmethod
    def from_system(cls, system: dict, sender_wa_id: str | None, path: str) -> IdentityChange:
        kind = _read.req_str(system, "type", path)
        new_wa_id = _read.opt_str(system, "wa_id", path) or _read.opt_str(system, "new_wa_id", path)
        return cls(
            kind=kind,
            # The message's `from` is the number the user is leaving.
            previous_wa_id=sender_wa_id if kind == "user_changed_number" else None,
            new_wa_id=new_wa_id,
            previous_user_id=_read.opt_str(system, "previous_user_id", path),
            new_user_id=_read.opt_str(system, "user_id", path),
            previous_parent_user_id=_read.opt_str(system, "previous_parent_user_id", path),
            new_parent_user_id=_read.opt_str(system, "parent_user_id", path),
        )


_IDENTITY_CHANGES = frozenset({"user_changed_number", "user_changed_user_id"})


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message a user sent, with everything ingest needs to store and route it."""

    waba_id: str
    phone_number_id: str
    display_phone_number: str | None
    wamid: str
    timestamp: datetime
    type: str
    sender: UserIdentity
    content: dict
    text: str | None
    media: MediaRef | None
    context: MessageContext | None
    referral: dict | None
    errors: tuple[MetaErrorInfo, ...]
    raw: dict
    identity_change: IdentityChange | None

    @classmethod
    def from_value(
        cls,
        value: object,
        path: str,
        *,
        waba_id: str,
        phone: BusinessPhone,
        contacts: Sequence[UserIdentity],
        lone: bool,
    ) -> InboundMessage:
        """Parse `messages[i]`; `contacts` are the value's, `lone` if it holds one message."""
        obj = _read.as_dict(value, path)
        wamid = _read.req_str(obj, "id", path)
        timestamp = _read.req_time(obj, "timestamp", path)
        given_type = _read.req_str(obj, "type", path)
        kind = "unsupported" if given_type == "unknown" else given_type

        reader = _CONTENT_READERS.get(kind, _read_other)
        content, text = reader(obj, given_type, path)

        media = None
        if kind in MEDIA_TYPES:
            media = MediaRef.from_value(content, _read.child(path, kind))

        identity_change = None
        own = UserIdentity(
            user_id=_read.opt_str(obj, "from_user_id", path),
            wa_id=_read.opt_str(obj, "from", path),
            username=None,
            profile_name=None,
            parent_user_id=_read.opt_str(obj, "from_parent_user_id", path),
        )
        if kind == "system" and content.get("type") in _IDENTITY_CHANGES:
            identity_change = IdentityChange.from_system(
                content, own.wa_id, _read.child(path, "system")
            )
            if not own.user_id and identity_change.previous_user_id:
                # The notice is about the user we knew, by the id we knew them by.
                own = UserIdentity(
                    identity_change.previous_user_id, own.wa_id, None, None, own.parent_user_id
                )
        sender = own.merged(own.matching(contacts, lone=lone))
        sender.require(path)

        context_value = obj.get("context")
        context = None
        if context_value is not None:
            context = MessageContext.from_value(context_value, _read.child(path, "context"))

        return cls(
            waba_id=waba_id,
            phone_number_id=phone.phone_number_id,
            display_phone_number=phone.display_phone_number,
            wamid=wamid,
            timestamp=timestamp,
            type=kind,
            sender=sender,
            content=content,
            text=text,
            media=media,
            context=context,
            referral=_read.opt_dict(obj, "referral", path),
            errors=MetaErrorInfo.many(obj, "errors", path),
            raw=obj,
            identity_change=identity_change,
        )


# Each reader returns (content, text) for one message type, failing on a malformed object.
_Reader = Callable[[dict, str, str], tuple[dict, str | None]]


def _type_object(obj: dict, kind: str, path: str) -> dict:
    if obj.get(kind) is None:
        raise WebhookFormatError(_read.child(path, kind), f"is required for a {kind!r} message")
    return _read.as_dict(obj[kind], _read.child(path, kind))


def _non_empty(value: str | None) -> str | None:
    return value if value else None


def _read_text(obj: dict, kind: str, path: str) -> tuple[dict, str | None]:
    content = _type_object(obj, "text", path)
    return content, _read.req_str(content, "body", _read.child(path, "text"))


def _read_media(obj: dict, kind: str, path: str) -> tuple[dict, str | None]:
    content = _type_object(obj, kind, path)
    return content, _non_empty(_read.opt_str(content, "caption", _read.child(path, kind)))


def _read_location(obj: dict, kind: str, path: str) -> tuple[dict, str | None]:
    content = _type_object(obj, "location", path)
    here = _read.child(path, "location")
    name = _read.opt_str(content, "name", here)
    address = _read.opt_str(content, "address", here)
    parts = [part for part in (name, address) if part]
    if parts:
        return content, ", ".join(parts)
    latitude, longitude = content.get("latitude"), content.get("longitude")
    for key, coordinate in (("latitude", latitude), ("longitude", longitude)):
        if coordinate is not None and (
            isinstance(coordinate, bool) or not isinstance(coordinate, int | float)
        ):
            raise WebhookFormatError(_read.child(here, key), "must be a number")
    if latitude is None or longitude is None:
        return content, None
    return content, f"{latitude},{longitude}"


def _read_contacts(obj: dict, kind: str, path: str) -> tuple[dict, str | None]:
    cards = _read.req_list(obj, "contacts", path)
    base = _read.child(path, "contacts")
    names = []
    for i, card in enumerate(cards):
        card_path = _read.index(base, i)
        card_obj = _read.as_dict(card, card_path)
        name = _read.opt_dict(card_obj, "name", card_path) or {}
        formatted = _read.opt_str(name, "formatted_name", _read.child(card_path, "name"))
        if formatted:
            names.append(formatted)
    return {"contacts": cards}, ", ".join(names) or None


_INTERACTIVE_TITLES = {"button_reply": "title", "list_reply": "title", "nfm_reply": "body"}


def _read_interactive(obj: dict, kind: str, path: str) -> tuple[dict, str | None]:
    content = _type_object(obj, "interactive", path)
    here = _read.child(path, "interactive")
    reply_type = _read.req_str(content, "type", here)
    title_key = _INTERACTIVE_TITLES.get(reply_type)
    if title_key is None:
        # A reply kind we do not know yet: kept whole, rendered by nobody.
        return content, None
    reply = _read.req_dict(content, reply_type, here)
    return content, _non_empty(_read.opt_str(reply, title_key, _read.child(here, reply_type)))


def _read_button(obj: dict, kind: str, path: str) -> tuple[dict, str | None]:
    content = _type_object(obj, "button", path)
    here = _read.child(path, "button")
    _read.opt_str(content, "payload", here)
    return content, _non_empty(_read.opt_str(content, "text", here))


def _read_reaction(obj: dict, kind: str, path: str) -> tuple[dict, str | None]:
    content = _type_object(obj, "reaction", path)
    here = _read.child(path, "reaction")
    _read.req_str(content, "message_id", here)
    # No emoji means the user took the reaction back.
    return content, _non_empty(_read.opt_str(content, "emoji", here))


def _read_order(obj: dict, kind: str, path: str) -> tuple[dict, str | None]:
    content = _type_object(obj, "order", path)
    here = _read.child(path, "order")
    _read.opt_list(content, "product_items", here)
    return content, _non_empty(_read.opt_str(content, "text", here))


def _read_system(obj: dict, kind: str, path: str) -> tuple[dict, str | None]:
    content = _type_object(obj, "system", path)
    here = _read.child(path, "system")
    _read.opt_str(content, "type", here)
    return content, _non_empty(_read.opt_str(content, "body", here))


def _read_request_welcome(obj: dict, kind: str, path: str) -> tuple[dict, str | None]:
    content = _read.opt_dict(obj, "request_welcome", path)
    return (content if content is not None else {}), None


def _read_unsupported(obj: dict, kind: str, path: str) -> tuple[dict, str | None]:
    # Older versions said "unknown" and carried no object; newer ones name the real type.
    found = _read.opt_dict(obj, "unsupported", path) or {}
    original = _read.opt_str(found, "type", _read.child(path, "unsupported"))
    return {**found, "type": original}, None


def _read_other(obj: dict, kind: str, path: str) -> tuple[dict, str | None]:
    # A type newer than this parser: never an error, so the delivery is still stored.
    found = obj.get(kind)
    if isinstance(found, dict):
        return found, None
    if found is None:
        return {}, None
    return {kind: found}, None


_CONTENT_READERS: dict[str, _Reader] = {
    "text": _read_text,
    **dict.fromkeys(MEDIA_TYPES, _read_media),
    "location": _read_location,
    "contacts": _read_contacts,
    "interactive": _read_interactive,
    "button": _read_button,
    "reaction": _read_reaction,
    "order": _read_order,
    "system": _read_system,
    "request_welcome": _read_request_welcome,
    "unsupported": _read_unsupported,
}
