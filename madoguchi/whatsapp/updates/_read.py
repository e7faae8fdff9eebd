"""Typed reads from json-decoded payloads, each failure naming its exact JSON path.

Every `from_value` goes through these so that a malformed delivery is refused with the
same kind of message wherever the problem is, and so no parser silently coerces a list
into a string or a string into a date.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = [
    "WebhookFormatError",
    "as_dict",
    "child",
    "index",
    "opt_bool",
    "opt_dict",
    "opt_id",
    "opt_int",
    "opt_list",
    "opt_str",
    "opt_time",
    "req_dict",
    "req_id",
    "req_int",
    "req_list",
    "req_str",
    "req_time",
    "unix_time",
]


class WebhookFormatError(ValueError):
    """The delivery does not have the shape Meta documents.

    Carries the exact JSON path so the 400 answer (and the log) says where to look
    without anyone diffing payloads by hand.
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _wrong(path: str, wanted: str, value: object) -> WebhookFormatError:
    return WebhookFormatError(path, f"must be {wanted}, got {_kind(value)}")


def as_dict(value: object, path: str) -> dict:
    if not isinstance(value, dict):
        raise _wrong(path, "an object", value)
    return value


def _required(obj: dict, key: str, path: str) -> object:
    if key not in obj or obj[key] is None:
        raise WebhookFormatError(child(path, key), "is required")
    return obj[key]


def req_dict(obj: dict, key: str, path: str) -> dict:
    return as_dict(_required(obj, key, path), child(path, key))


def opt_dict(obj: dict, key: str, path: str) -> dict | None:
    value = obj.get(key)
    return None if value is None else as_dict(value, child(path, key))


def req_list(obj: dict, key: str, path: str) -> list:
    value = _required(obj, key, path)
    if not isinstance(value, list):
        raise _wrong(child(path, key), "an array", value)
    return value


def opt_list(obj: dict, key: str, path: str) -> list | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise _wrong(child(path, key), "an array", value)
    return value


def req_str(obj: dict, key: str, path: str) -> str:
    value = _required(obj, key, path)
    if not isinstance(value, str):
        raise _wrong(child(path, key), "a string", value)
    if not value:
        raise WebhookFormatError(child(path, key), "must not be empty")
    return value


def opt_str(obj: dict, key: str, path: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _wrong(child(path, key), "a string", value)
    return value


def _id(value: object, path: str) -> str:
    # Graph ids are strings in messages webhooks but plain numbers in template ones.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value:
        return value
    raise _wrong(path, "a non-empty string or integer id", value)


def req_id(obj: dict, key: str, path: str) -> str:
    return _id(_required(obj, key, path), child(path, key))


def opt_id(obj: dict, key: str, path: str) -> str | None:
    value = obj.get(key)
    return None if value is None else _id(value, child(path, key))


def _int(value: object, path: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.lstrip("-").isdigit():
        return int(value)
    raise _wrong(path, "an integer", value)


def req_int(obj: dict, key: str, path: str) -> int:
    return _int(_required(obj, key, path), child(path, key))


def opt_int(obj: dict, key: str, path: str) -> int | None:
    value = obj.get(key)
    return None if value is None else _int(value, child(path, key))


def opt_bool(obj: dict, key: str, path: str) -> bool:
    value = obj.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _wrong(child(path, key), "a boolean", value)
    return value


def unix_time(value: object, path: str) -> datetime:
    """Unix seconds, sent as a string in messages webhooks and as a number elsewhere."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        seconds = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        seconds = int(value)
    else:
        raise _wrong(path, "unix seconds (a string of digits)", value)
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise WebhookFormatError(path, f"unix time {seconds} is out of range") from None


def req_time(obj: dict, key: str, path: str) -> datetime:
    return unix_time(_required(obj, key, path), child(path, key))


def opt_time(obj: dict, key: str, path: str) -> datetime | None:
    value = obj.get(key)
    return None if value is None else unix_time(value, child(path, key))
