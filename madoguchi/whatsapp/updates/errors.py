"""Errors about a delivery: ours (the payload is malformed) and Meta's (inside the payload)."""

from __future__ import annotations

from dataclasses import dataclass

from madoguchi.whatsapp.updates import _read
from madoguchi.whatsapp.updates._read import WebhookFormatError

__all__ = ["MetaErrorInfo", "WebhookFormatError"]


@dataclass(frozen=True, slots=True)
class MetaErrorInfo:
    """One entry of an `errors[]` array, as Meta reports a failure to us.

    Kept typed because the code decides what happens next (retry, template needed,
    opt-out); the prose fields are for people.
    """

    code: int
    title: str | None
    message: str | None
    details: str | None
    href: str | None

    @classmethod
    def from_value(cls, value: object, path: str) -> MetaErrorInfo:
        obj = _read.as_dict(value, path)
        error_data = _read.opt_dict(obj, "error_data", path)
        details = None
        if error_data is not None:
            details = _read.opt_str(error_data, "details", _read.child(path, "error_data"))
        return cls(
            code=_read.req_int(obj, "code", path),
            title=_read.opt_str(obj, "title", path),
            message=_read.opt_str(obj, "message", path),
            details=details,
            href=_read.opt_str(obj, "href", path),
        )

    @classmethod
    def many(cls, obj: dict, key: str, path: str) -> tuple[MetaErrorInfo, ...]:
        """The `errors` list of `obj`, absent meaning none."""
        items = _read.opt_list(obj, key, path) or []
        base = _read.child(path, key)
        return tuple(cls.from_value(item, _read.index(base, i)) for i, item in enumerate(items))
