"""Typed inbound webhook updates from the WhatsApp Cloud API.

`parse_delivery` turns a verified delivery body into `InboundMessage`, `MessageStatus`
and `AccountEvent` values; past this package nothing reads Meta's raw dicts except the
`content`, `value` and `raw` fields kept for storage and display.
"""

from madoguchi.whatsapp.updates.account import (
    AccountEvent,
    AccountUpdate,
    BusinessCapabilityUpdate,
    PhoneNumberNameUpdate,
    PhoneNumberQualityUpdate,
    TemplateQualityUpdate,
    TemplateStatusUpdate,
    UnknownFieldEvent,
    UserIdUpdate,
    UserPreferencesUpdate,
    WebhookErrors,
)
from madoguchi.whatsapp.updates.calls import CallEvent
from madoguchi.whatsapp.updates.envelope import OBJECT, RejectedUpdate, Update, parse_delivery
from madoguchi.whatsapp.updates.errors import MetaErrorInfo, WebhookFormatError
from madoguchi.whatsapp.updates.identity import BusinessPhone, UserIdentity
from madoguchi.whatsapp.updates.message import (
    MEDIA_TYPES,
    IdentityChange,
    InboundMessage,
    MediaRef,
    MessageContext,
)
from madoguchi.whatsapp.updates.status import MessageStatus

__all__ = [
    "MEDIA_TYPES",
    "OBJECT",
    "AccountEvent",
    "AccountUpdate",
    "BusinessCapabilityUpdate",
    "BusinessPhone",
    "CallEvent",
    "IdentityChange",
    "InboundMessage",
    "MediaRef",
    "MessageContext",
    "MessageStatus",
    "MetaErrorInfo",
    "PhoneNumberNameUpdate",
    "PhoneNumberQualityUpdate",
    "RejectedUpdate",
    "TemplateQualityUpdate",
    "TemplateStatusUpdate",
    "UnknownFieldEvent",
    "Update",
    "UserIdUpdate",
    "UserIdentity",
    "UserPreferencesUpdate",
    "WebhookErrors",
    "WebhookFormatError",
    "parse_delivery",
]
