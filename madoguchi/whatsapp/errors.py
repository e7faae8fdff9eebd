"""Meta's error codes as exception families.

Callers catch meaning (``except ServiceWindowClosed``), never numbers: the sender decides
whether to retry from ``retryable``, the desktop shows ``agent_message``, and admins are
paged on ``alerts_admin``. The same families describe errors that arrive later in ``failed``
status webhooks (:func:`error_from_code`), so a send refused at once and a send that fails
afterwards read the same to everyone downstream.

Only errors that guarantee the message was *not* accepted are retryable; a network failure
after the request may have reached Meta is :class:`GraphTransportError` with ``ambiguous``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "AccessTokenInvalid",
    "EngagementLimited",
    "GraphTransportError",
    "InvalidParameter",
    "MarketingOptedOut",
    "MediaDownloadFailed",
    "MediaUploadFailed",
    "MetaApiError",
    "PairRateLimitReached",
    "PermissionDenied",
    "PhoneNumberNotRegistered",
    "PolicyBlocked",
    "RecipientIdNotAllowed",
    "RequestRateLimited",
    "ServiceWindowClosed",
    "SpamRateLimited",
    "TemplateError",
    "ThroughputLimitReached",
    "TransientError",
    "Undeliverable",
    "UnknownMetaError",
    "UnsupportedMessageType",
    "error_from_code",
    "error_from_response",
    "error_from_webhook",
    "families",
]


class MetaApiError(Exception):
    """An error Meta reported, for a request or later in a status webhook."""

    error_codes: ClassVar[frozenset[int]] = frozenset()
    # Whole blocks Meta reserves for one family (132xxx are all template problems).
    code_ranges: ClassVar[tuple[range, ...]] = ()
    retryable: ClassVar[bool] = False
    # Nothing an agent can do: someone with access to Meta's settings has to act.
    alerts_admin: ClassVar[bool] = False
    # A first pause before retrying, for the sender's back-off; None when not retryable.
    suggested_delay: ClassVar[float | None] = None
    default_agent_message: ClassVar[str] = "WhatsApp refused the message."
    agent_messages_by_code: ClassVar[Mapping[int, str]] = {}

    def __init__(
        self,
        code: int | None = None,
        message: str = "",
        *,
        subcode: int | None = None,
        http_status: int | None = None,
        title: str | None = None,
        details: str | None = None,
        fbtrace_id: str | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.subcode = subcode
        self.http_status = http_status
        self.title = title
        self.details = details
        self.fbtrace_id = fbtrace_id
        self.error_type = error_type

    @property
    def agent_message(self) -> str:
        if self.code is not None and self.code in self.agent_messages_by_code:
            return self.agent_messages_by_code[self.code]
        return self.default_agent_message

    def as_dict(self) -> dict[str, Any]:
        """What to store with a failed message, so the cause survives a restart."""
        return {
            "family": type(self).__name__,
            "code": self.code,
            "subcode": self.subcode,
            "http_status": self.http_status,
            "title": self.title,
            "message": self.message,
            "details": self.details,
            "fbtrace_id": self.fbtrace_id,
            "retryable": self.retryable,
        }

    def __str__(self) -> str:
        head = f"(#{self.code}) " if self.code is not None else ""
        text = self.message or self.title or type(self).__name__
        if self.code is not None and text.startswith(f"(#{self.code})"):
            head = ""
        extra = []
        if self.details and self.details not in text:
            extra.append(self.details)
        if self.http_status is not None:
            extra.append(f"HTTP {self.http_status}")
        if self.fbtrace_id:
            extra.append(f"fbtrace_id={self.fbtrace_id}")
        return head + text + (f" [{'; '.join(extra)}]" if extra else "")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class ThroughputLimitReached(MetaApiError):
    error_codes = frozenset({130429})
    retryable = True
    suggested_delay = 1.0
    default_agent_message = (
        "WhatsApp is limiting how fast this number can send; the message will be retried shortly."
    )


class PairRateLimitReached(MetaApiError):
    error_codes = frozenset({131056})
    retryable = True
    suggested_delay = 6.0
    default_agent_message = (
        "Too many messages went to this customer in a short time; "
        "the message will be retried after a pause."
    )


class RequestRateLimited(MetaApiError):
    error_codes = frozenset({4, 80007})
    retryable = True
    suggested_delay = 60.0
    default_agent_message = (
        "The WhatsApp account reached its API request limit; "
        "the message will be retried in a minute or so."
    )


class TransientError(MetaApiError):
    """Meta's side failed (also any HTTP 5xx without a code we know)."""

    error_codes = frozenset({2, 131000, 131016, 133004})
    retryable = True
    suggested_delay = 5.0
    default_agent_message = "WhatsApp had a temporary problem; the message will be retried."


class SpamRateLimited(MetaApiError):
    error_codes = frozenset({131048})
    alerts_admin = True
    default_agent_message = (
        "WhatsApp stopped this message because recent messages from this number were "
        "reported or blocked too often; an administrator should review message quality."
    )


class ServiceWindowClosed(MetaApiError):
    error_codes = frozenset({131047})
    default_agent_message = (
        "The customer has not written in the last 24 hours, "
        "so only an approved template can be sent."
    )


class Undeliverable(MetaApiError):
    error_codes = frozenset({131026})
    default_agent_message = (
        "WhatsApp could not deliver the message: the customer may not use WhatsApp, may have "
        "an outdated app, or may have blocked this number."
    )


class EngagementLimited(MetaApiError):
    error_codes = frozenset({131049})
    default_agent_message = (
        "WhatsApp held back this marketing message to keep the customer's engagement healthy; "
        "try again later or with a different template."
    )


class MarketingOptedOut(MetaApiError):
    error_codes = frozenset({131050})
    default_agent_message = "The customer has stopped marketing messages from this business."


class UnsupportedMessageType(MetaApiError):
    error_codes = frozenset({131051})
    default_agent_message = "WhatsApp does not support this kind of message."


class MediaDownloadFailed(MetaApiError):
    """Meta could not fetch media a *customer* sent (it arrives on inbound messages)."""

    error_codes = frozenset({131052})
    default_agent_message = (
        "The file the customer sent could not be downloaded from WhatsApp; "
        "ask them to send it again."
    )


class MediaUploadFailed(MetaApiError):
    """Meta could not fetch or process media *we* sent; one retry can be worth it."""

    error_codes = frozenset({131053})
    default_agent_message = (
        "WhatsApp could not process the attached file; check its type and size and send it again."
    )


class RecipientIdNotAllowed(MetaApiError):
    error_codes = frozenset({131062})
    default_agent_message = (
        "This message cannot go to a customer known only by their WhatsApp username: "
        "it needs their phone number."
    )


class TemplateError(MetaApiError):
    error_codes = frozenset({132000, 132001, 132005, 132007, 132012, 132015, 132016})
    code_ranges = (range(132000, 133000),)
    default_agent_message = "The template could not be used; check it in the template list."
    agent_messages_by_code = {
        132000: "The template was sent with the wrong number of parameters.",
        132001: "The template does not exist in this language, or is not approved yet.",
        132005: "The template's text is too long once its parameters are filled in.",
        132007: "The template's content breaks WhatsApp's policies.",
        132012: "A template parameter has the wrong format.",
        132015: "The template is paused because of low quality.",
        132016: "The template is disabled because of low quality.",
    }


class PhoneNumberNotRegistered(MetaApiError):
    error_codes = frozenset({133010})
    alerts_admin = True
    default_agent_message = (
        "This WhatsApp number is not registered with the Cloud API; "
        "an administrator must register it."
    )


class AccessTokenInvalid(MetaApiError):
    error_codes = frozenset({190})
    alerts_admin = True
    default_agent_message = (
        "The WhatsApp access token for this number is invalid or expired; "
        "an administrator must reconnect the number."
    )


class PermissionDenied(MetaApiError):
    error_codes = frozenset({10, 131005})
    code_ranges = (range(200, 300),)
    alerts_admin = True
    default_agent_message = (
        "Madoguchi is not allowed to act for this WhatsApp account; "
        "an administrator must grant the permission again."
    )


class InvalidParameter(MetaApiError):
    """Our request was malformed or a value was refused: a bug or bad data, never retried."""

    error_codes = frozenset({100, 131008, 131009})
    default_agent_message = "WhatsApp refused a value in the message as invalid or missing."

    @property
    def agent_message(self) -> str:
        base = super().agent_message
        return f"{base} ({self.details})" if self.details else base


class PolicyBlocked(MetaApiError):
    error_codes = frozenset({368})
    alerts_admin = True
    default_agent_message = (
        "This WhatsApp number is temporarily blocked for policy violations; "
        "an administrator should check WhatsApp Manager."
    )


class UnknownMetaError(MetaApiError):
    """A code we have no family for: not retried, shown with Meta's own words."""

    @property
    def agent_message(self) -> str:
        what = self.title or self.message
        if self.code is not None:
            label = f"error {self.code}" + (f": {what}" if what else "")
        elif self.http_status is not None:
            label = f"HTTP {self.http_status}" + (f": {what}" if what else "")
        else:
            label = what
        return f"WhatsApp refused the message ({label})." if label else self.default_agent_message


_FAMILIES: tuple[type[MetaApiError], ...] = (
    ThroughputLimitReached,
    PairRateLimitReached,
    RequestRateLimited,
    TransientError,
    SpamRateLimited,
    ServiceWindowClosed,
    Undeliverable,
    EngagementLimited,
    MarketingOptedOut,
    UnsupportedMessageType,
    MediaDownloadFailed,
    MediaUploadFailed,
    RecipientIdNotAllowed,
    TemplateError,
    PhoneNumberNotRegistered,
    AccessTokenInvalid,
    PermissionDenied,
    InvalidParameter,
    PolicyBlocked,
)

_BY_CODE: dict[int, type[MetaApiError]] = {
    code: family for family in _FAMILIES for code in family.error_codes
}


def families() -> tuple[type[MetaApiError], ...]:
    """Every family with known codes (UnknownMetaError excluded)."""
    return _FAMILIES


def family_for_code(code: int | None) -> type[MetaApiError]:
    if code is None:
        return UnknownMetaError
    if code in _BY_CODE:
        return _BY_CODE[code]
    for family in _FAMILIES:
        if any(code in block for block in family.code_ranges):
            return family
    return UnknownMetaError


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


_CODE_PREFIX = re.compile(r"^\(#\d+\)\s*")


def error_from_code(
    code: int | None,
    title: str | None = None,
    message: str | None = None,
    details: str | None = None,
    *,
    http_status: int | None = None,
) -> MetaApiError:
    """The family for an ``errors[]`` entry of a webhook (or any code known without a body)."""
    family = family_for_code(code)
    if family is UnknownMetaError and http_status is not None:
        family = _family_for_status(http_status)
    return family(
        code, message or title or "", title=title, details=details, http_status=http_status
    )


def error_from_webhook(error: Mapping[str, Any]) -> MetaApiError:
    """An ``errors[]`` object from a status or message webhook, as Meta delivers it."""
    error_data = error.get("error_data")
    details = error_data.get("details") if isinstance(error_data, Mapping) else None
    return error_from_code(
        _as_int(error.get("code")),
        title=error.get("title"),
        message=error.get("message"),
        details=details,
    )


def _family_for_status(http_status: int) -> type[MetaApiError]:
    if http_status >= 500:
        return TransientError
    if http_status == 429:
        return RequestRateLimited
    return UnknownMetaError


def _decode(body: bytes | str | dict | None) -> tuple[Any, str]:
    if body is None:
        return None, ""
    if isinstance(body, Mapping):
        return body, ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes | bytearray) else body
    try:
        return json.loads(text), text
    except ValueError:
        return None, text


def error_from_response(http_status: int, body: bytes | str | dict | None) -> MetaApiError:
    """The family for a non-2xx Graph response, JSON or not."""
    parsed, text = _decode(body)
    error = parsed.get("error") if isinstance(parsed, Mapping) else None
    if not isinstance(error, Mapping):
        family = _family_for_status(http_status)
        snippet = " ".join(text.split())[:200]
        return family(None, snippet or f"HTTP {http_status}", http_status=http_status)

    code = _as_int(error.get("code"))
    family = family_for_code(code)
    if family is UnknownMetaError:
        family = _family_for_status(http_status)
    message = str(error.get("message") or "")
    error_data = error.get("error_data")
    details = error_data.get("details") if isinstance(error_data, Mapping) else None
    title = error.get("error_user_title") or _CODE_PREFIX.sub("", message) or None
    return family(
        code,
        message,
        subcode=_as_int(error.get("error_subcode")),
        http_status=http_status,
        title=title,
        details=details,
        fbtrace_id=error.get("fbtrace_id"),
        error_type=error.get("type"),
    )


class GraphTransportError(Exception):
    """No usable answer from Meta.

    ``ambiguous`` is False when the request surely never reached Meta (connection refused,
    connect or pool timeout): resending is safe. It is True when Meta may have received and
    acted on it (read timeout, connection lost after sending, an unreadable 2xx): resending
    could send the customer the same message twice, so it must not happen blindly.
    """

    def __init__(self, message: str, *, ambiguous: bool) -> None:
        super().__init__(message)
        self.ambiguous = ambiguous

    @property
    def retryable(self) -> bool:
        return not self.ambiguous

    @property
    def agent_message(self) -> str:
        if self.ambiguous:
            return (
                "WhatsApp did not confirm the message: it may or may not have been sent. "
                "Check with the customer before sending it again."
            )
        return "WhatsApp could not be reached; the message will be retried."
