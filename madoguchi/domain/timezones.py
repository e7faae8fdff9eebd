"""IANA time zone names, checked the same way wherever a person may type one.

The name is stored, not an offset: ``Europe/Paris`` knows its daylight-saving changes,
``+01:00`` does not. A name is accepted when ``zoneinfo`` lists it (so the server can
compute with it) and it is a real zone name rather than one of the tz database's files
that browsers do not know (``localtime``, ``posixrules``, ``right/…``): the web app hands
the name to the browser's ``Intl``, which refuses anything else.
"""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

DEFAULT_TIMEZONE = "UTC"
MAX_LENGTH = 64  # the width of every ``timezone`` column
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
_EXAMPLES = "such as Asia/Tokyo, Europe/Paris or UTC"


@cache
def known_timezones() -> frozenset[str]:
    """Every accepted name (read once: listing the tz database scans ~600 files)."""
    return frozenset(
        name
        for name in available_timezones()
        if name not in _NOT_ZONES and not name.startswith(("posix/", "right/"))
    )


def timezone_problem(name: object) -> str | None:
    """Why ``name`` is not a usable IANA time zone name, or None when it is one."""
    if not isinstance(name, str) or not name.strip():
        return f"give an IANA time zone name, {_EXAMPLES}"
    if len(name) > MAX_LENGTH or name not in known_timezones():
        return f"{name[:MAX_LENGTH]!r} is not an IANA time zone name ({_EXAMPLES})"
    return None
