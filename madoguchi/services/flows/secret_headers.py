"""Secret headers of a flow's HTTP Request widget: write-only, encrypted at rest.

A widget's ``secret_headers`` (name -> value) hold what must not be read back: an API
key, a bearer token. Like a WhatsApp number's access token they are stored encrypted
(:class:`madoguchi.security.secrets.SecretBox`, keyed by ``MADOGUCHI_SECRET_KEY``), shown
to everyone — supervisors reading ``GET /flows``, the editor, the audit log — only as
``{"set": true|false}``, never exported, and decrypted only by the runner, for the
request itself.

What a client sends for one secret header, when it saves a definition:

- a non-empty string: the new value (encrypted here);
- ``""``: no value (the header is named but not set);
- ``{"set": …}`` or ``null`` (what it was shown, or an export): keep the stored value —
  of the same widget and header name, as long as the widget still calls the same origin
  (scheme, host and port of its URL). Pointing the widget at another server drops the
  value, so a saved key cannot be redirected to a server of the editor's choosing
  without typing it again.

Stored, a value is ``"sealed:<Fernet token>"`` or ``""`` (not set).
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlsplit

from madoguchi.security.secrets import SecretBox

SEALED = "sealed:"
HTTP_TYPE = "http_request"
FIELD = "secret_headers"


def _http_nodes(definition: Any) -> list[dict]:
    if not isinstance(definition, dict) or not isinstance(definition.get("nodes"), list):
        return []
    return [
        n
        for n in definition["nodes"]
        if isinstance(n, dict) and n.get("type") == HTTP_TYPE and isinstance(n.get(FIELD), dict)
    ]


def has_secrets(definition: Any) -> bool:
    return bool(_http_nodes(definition))


def _origin(url: Any) -> tuple[str, str] | None:
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return (parts.scheme.lower(), parts.netloc.lower())


def seal(definition: Any, previous: Any, box: SecretBox) -> Any:
    """``definition`` as it is stored: new values encrypted, kept ones carried over from
    ``previous`` (the stored draft it replaces, if any). The input is not changed."""
    nodes = _http_nodes(definition)
    if not nodes:
        return definition
    stored = {n.get("id"): n for n in _http_nodes(previous) if isinstance(n.get("id"), str)}
    out = copy.deepcopy(definition)
    for node in _http_nodes(out):
        before = stored.get(node.get("id"))
        same_origin = before is not None and _origin(before.get("url")) == _origin(node.get("url"))
        kept = ((before or {}).get(FIELD) or {}) if same_origin else {}
        sealed: dict[str, str] = {}
        for name, value in node[FIELD].items():
            old = kept.get(name)
            old = old if isinstance(old, str) and old.startswith(SEALED) else ""
            if isinstance(value, str):
                if not value:
                    sealed[name] = ""
                elif old and _open(box, old) == value:
                    sealed[name] = old  # unchanged: the draft stays byte-for-byte the same
                else:
                    sealed[name] = SEALED + box.encrypt(value)
            else:  # {"set": …}, null: keep what is stored
                sealed[name] = old
        node[FIELD] = sealed
    return out


def _open(box: SecretBox, sealed: str) -> str | None:
    try:
        return box.decrypt(sealed.removeprefix(SEALED))
    except Exception:  # a key rotated away: the value counts as changed
        return None


def masked(definition: Any, *, export: bool = False) -> Any:
    """``definition`` for reading: each secret value replaced by ``{"set": true|false}``
    (or, for an export, by ``null``: nothing of it leaves the server)."""
    if not has_secrets(definition):
        return definition
    out = copy.deepcopy(definition)
    for node in _http_nodes(out):
        node[FIELD] = {
            name: None if export else {"set": isinstance(v, str) and v.startswith(SEALED)}
            for name, v in node[FIELD].items()
        }
    return out


def unseal(values: dict[str, str], box: SecretBox | None) -> dict[str, str]:
    """The plaintext headers of a request about to be made (only set ones)."""
    if not values:
        return {}
    if box is None:
        raise SecretHeaderError("secret headers cannot be decrypted: no MADOGUCHI_SECRET_KEY")
    out = {}
    for name, value in values.items():
        plain = _open(box, value)
        if plain is None:
            raise SecretHeaderError(
                f"the secret header {name!r} cannot be decrypted (MADOGUCHI_SECRET_KEY "
                "changed without listing the old one): enter it again in the flow"
            )
        out[name] = plain
    return out


class SecretHeaderError(Exception):
    """A stored secret header cannot be used."""
