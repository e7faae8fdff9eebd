"""The X-Hub-Signature-256 check on webhook deliveries.

Meta signs the raw body with the app secret; anyone who can reach the endpoint can post
a body, so nothing is parsed or stored before this check passes. The comparison runs over
the exact bytes received (re-serialised JSON would not match) and in constant time, so a
timing probe cannot recover a valid digest byte by byte.
"""

from __future__ import annotations

import hashlib
import hmac
import string

__all__ = ["SignatureError", "SignatureInvalid", "SignatureMissing", "sign", "verify_signature"]

_PREFIX = "sha256="
_HEX = frozenset(string.hexdigits)
_DIGEST_LENGTH = hashlib.sha256().digest_size * 2


class SignatureError(Exception):
    """A delivery that must be refused; `reason` is safe to log and to answer with."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SignatureMissing(SignatureError):
    """Kept apart from a wrong signature: usually a misrouted request, not an attack."""


class SignatureInvalid(SignatureError):
    """Malformed or wrong: the body may have been forged or altered."""


def _digest(body: bytes, secret: str) -> str:
    # An empty key would make every forged body "verify" against an unset secret.
    if not secret:
        raise ValueError("the app secret is empty; refusing to sign or verify with it")
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str) -> str:
    """The header value Meta would send; the simulator and tests sign with it."""
    return _PREFIX + _digest(body, secret)


def verify_signature(body: bytes, header: str | None, secret: str) -> None:
    """Raise unless `header` is the HMAC-SHA256 of exactly `body` under `secret`."""
    expected = _digest(body, secret)
    if header is None or not header.strip():
        raise SignatureMissing("the X-Hub-Signature-256 header is missing")
    value = header.strip()
    if not value.lower().startswith(_PREFIX):
        raise SignatureInvalid("the signature header does not start with 'sha256='")
    given = value[len(_PREFIX) :]
    if len(given) != _DIGEST_LENGTH or not set(given) <= _HEX:
        raise SignatureInvalid(
            f"the signature is not {_DIGEST_LENGTH} hexadecimal characters after 'sha256='"
        )
    if not hmac.compare_digest(expected, given.lower()):
        raise SignatureInvalid("the signature does not match the request body")
