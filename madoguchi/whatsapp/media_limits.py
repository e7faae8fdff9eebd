"""WhatsApp's media types and size limits, per media kind.

One table serves both directions: before an upload (so an agent learns at once that a GIF
cannot be sent, instead of reading error 131053 minutes later) and before storing an inbound
download (so a hostile or broken URL cannot fill the disk). Figures follow Meta's "supported
media types" page; sizes there are binary megabytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MediaKind = Literal["image", "video", "audio", "document", "sticker"]

KB = 1024
MB = 1024 * KB


@dataclass(frozen=True, slots=True)
class _KindRule:
    mime_types: tuple[str, ...]
    max_bytes: int
    max_bytes_animated: int | None = None


_RULES: dict[str, _KindRule] = {
    "image": _KindRule(("image/jpeg", "image/png"), 5 * MB),
    "video": _KindRule(("video/mp4", "video/3gpp"), 16 * MB),
    "audio": _KindRule(("audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"), 16 * MB),
    "document": _KindRule(
        (
            "application/pdf",
            "text/plain",
            "application/msword",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.ms-excel",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.ms-powerpoint",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ),
        100 * MB,
    ),
    "sticker": _KindRule(("image/webp",), 100 * KB, max_bytes_animated=500 * KB),
}

MEDIA_KINDS: tuple[str, ...] = tuple(_RULES)

# Spellings seen in the wild (browsers, older Meta pages) for types WhatsApp does accept.
_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "video/3gp": "video/3gpp",
    "audio/mp3": "audio/mpeg",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "audio/opus": "audio/ogg",
}


class MediaLimitError(ValueError):
    """A file WhatsApp would refuse (wrong type, too large, empty) or a download over its cap.

    A ``ValueError`` so that callers validating user input can treat it like any other
    invalid value; the message is written to be shown as is.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str | None = None,
        mime_type: str | None = None,
        size: int | None = None,
        limit: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.mime_type = mime_type
        self.size = size
        self.limit = limit


def normalize_mime(mime_type: str) -> str:
    """The bare, lower-case type: WhatsApp reports ``audio/ogg; codecs=opus`` for voice notes."""
    bare = mime_type.split(";", 1)[0].strip().lower()
    return _ALIASES.get(bare, bare)


def _mime_params(mime_type: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in mime_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip():
            params[key.strip().lower()] = value.strip().strip('"').lower()
    return params


def _rule(kind: str) -> _KindRule:
    try:
        return _RULES[kind]
    except KeyError:
        raise MediaLimitError(
            f"{kind!r} is not a WhatsApp media kind (kinds: {', '.join(MEDIA_KINDS)})",
            kind=kind,
        ) from None


def allowed_mime_types(kind: str) -> tuple[str, ...]:
    return _rule(kind).mime_types


def max_bytes(kind: str, animated: bool = False) -> int:
    rule = _rule(kind)
    if animated and rule.max_bytes_animated is not None:
        return rule.max_bytes_animated
    return rule.max_bytes


def kind_for_mime(mime_type: str) -> str | None:
    """The kind a file of this type is sent as; WebP is only ever a sticker on WhatsApp."""
    bare = normalize_mime(mime_type)
    for kind, rule in _RULES.items():
        if bare in rule.mime_types:
            return kind
    return None


def format_size(size: int, unit: int) -> str:
    """``17.2 MB`` / ``16 MB`` / ``120 KB``: whole numbers lose their decimals."""
    label = "MB" if unit == MB else "KB"
    value = size / unit
    text = f"{value:.0f}" if value == int(value) else f"{value:.1f}"
    return f"{text} {label}"


def _describe_limit(kind: str, animated: bool) -> str:
    if kind == "sticker":
        return " for an animated sticker" if animated else " for a static sticker"
    return ""


def check_media(kind: str, mime_type: str, size: int, *, animated: bool = False) -> None:
    """Raise :class:`MediaLimitError` unless WhatsApp accepts this file as ``kind``."""
    rule = _rule(kind)
    bare = normalize_mime(mime_type)
    if bare not in rule.mime_types:
        raise MediaLimitError(
            f"{bare or repr(mime_type)} is not an allowed {kind} type "
            f"(allowed: {', '.join(rule.mime_types)})",
            kind=kind,
            mime_type=mime_type,
            size=size,
        )
    codecs = _mime_params(mime_type).get("codecs")
    if bare == "audio/ogg" and codecs is not None and codecs != "opus":
        raise MediaLimitError(
            f"audio/ogg with codecs={codecs} is not allowed; WhatsApp accepts only the opus codec",
            kind=kind,
            mime_type=mime_type,
            size=size,
        )
    if size <= 0:
        raise MediaLimitError(f"{kind} is empty", kind=kind, mime_type=mime_type, size=size)
    limit = max_bytes(kind, animated)
    if size > limit:
        raise MediaLimitError(
            too_large_message(kind, size, limit, animated=animated),
            kind=kind,
            mime_type=mime_type,
            size=size,
            limit=limit,
        )


def too_large_message(what: str, size: int, limit: int, *, animated: bool = False) -> str:
    """The sentence for an oversized file, exact in bytes when rounding would hide the excess."""
    unit = MB if limit >= MB else KB
    shown, allowed = format_size(size, unit), format_size(limit, unit)
    if shown == allowed or float(shown.split()[0]) <= limit / unit:
        shown = f"{shown} ({size:,} bytes)"
        allowed = f"{allowed} ({limit:,} bytes)"
    suffix = _describe_limit(what, animated)
    return f"{what} is {shown}; WhatsApp allows at most {allowed}{suffix}"
