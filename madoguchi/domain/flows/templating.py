"""``{{variables}}`` in flow texts: finding them, and filling them in.

A reference is ``{{name}}`` or ``{{name | fallback}}`` (spaces optional); a name is
letters, digits and underscores, dotted for namespaces (``contact.name``,
``order.status``). A variable that is not set renders as its fallback, or as nothing:
a customer never sees ``{{…}}`` braces. Values that are not text render as people write
them: ``3`` not ``3.0``, ``true``/``false``, JSON for objects and lists.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

NAME = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*"
VARIABLE_NAME = re.compile(rf"^{NAME}$")
_REFERENCE = re.compile(r"\{\{\s*(" + NAME + r")\s*(?:\|\s*([^{}]*?)\s*)?\}\}")
_ANY_BRACES = re.compile(r"\{\{(.*?)\}\}")


def references(text: str | None) -> list[str]:
    """The variable names ``text`` refers to, in order (repeats kept)."""
    if not text:
        return []
    return [m.group(1) for m in _REFERENCE.finditer(text)]


def malformed(text: str | None) -> list[str]:
    """``{{…}}`` groups that are not a valid reference (``{{ 1x }}``, ``{{}}``)."""
    if not text:
        return []
    bad = []
    for m in _ANY_BRACES.finditer(text):
        if not _REFERENCE.fullmatch(m.group(0)):
            bad.append(m.group(0))
    return bad


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def render(
    text: str | None, variables: Mapping[str, Any], escape: Callable[[str], str] | None = None
) -> str:
    """``text`` with every reference replaced by its variable's value (passed through
    ``escape`` when given: a URL's values are percent-encoded)."""
    if not text:
        return text or ""

    def fill(match: re.Match) -> str:
        value = variables.get(match.group(1))
        empty = value is None or value == ""
        out = (match.group(2) or "") if empty else as_text(value)
        return escape(out) if escape is not None else out

    return _REFERENCE.sub(fill, text)


def url_value(value: str) -> str:
    """A value inserted into a URL: percent-encoded, so a customer's ``../`` or ``?``
    or ``#`` stays data and never changes the path, the query or the fragment."""
    return quote(value, safe="")


def render_url(template: str | None, variables: Mapping[str, Any]) -> str:
    return render(template, variables, escape=url_value)


def render_json(value: Any, variables: Mapping[str, Any]) -> Any:
    """Render every string inside a JSON value (an HTTP body); a string that is exactly
    one reference keeps the variable's own type (``"{{count}}"`` stays a number)."""
    if isinstance(value, str):
        whole = _REFERENCE.fullmatch(value.strip())
        if whole and not whole.group(2):
            return variables.get(whole.group(1))
        return render(value, variables)
    if isinstance(value, list):
        return [render_json(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: render_json(v, variables) for k, v in value.items()}
    return value


def json_strings(value: Any, at: str) -> Iterator[tuple[str, str]]:
    """(path, string) for every string inside a JSON value, for reference checks."""
    if isinstance(value, str):
        yield at, value
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from json_strings(v, f"{at}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from json_strings(v, f"{at}.{k}")


_PATH_PART = re.compile(r"[^.\[\]]+|\[\d+\]")


def lookup(data: Any, path: str) -> Any:
    """``order.items[0].name`` (or ``order.items.0.name``) inside parsed JSON; None when
    any step is missing. An empty path or ``$`` is the whole document."""
    path = path.strip()
    if path in ("", "$"):
        return data
    current = data
    for part in _PATH_PART.findall(path.removeprefix("$.")):
        if part.startswith("["):
            part = part[1:-1]
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
        if current is None:
            return None
    return current
