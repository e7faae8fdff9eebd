"""The `X-Hub-Signature-256` header Meta puts on every webhook POST."""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Hub-Signature-256"


def signature(body: bytes, app_secret: str) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of the exact bytes posted, keyed with the app secret."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(body: bytes, app_secret: str, header_value: str | None) -> bool:
    """True when `header_value` is the right signature of `body` (constant-time compare)."""
    if not header_value:
        return False
    return hmac.compare_digest(signature(body, app_secret), header_value)
