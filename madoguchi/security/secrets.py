"""Encryption of secrets at rest (access tokens of WhatsApp numbers).

A database dump must not hand out working Meta tokens, so every token is stored as a
Fernet token whose key is derived from ``MADOGUCHI_SECRET_KEY``. HKDF turns any
operator-chosen string into a proper 32-byte key; ``previous_keys`` lets an operator
rotate the key without re-entering every token (old keys decrypt, the new one encrypts).
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_HKDF_INFO = b"madoguchi/secrets-at-rest/v1"


class SecretDecryptionError(Exception):
    """The stored secret was encrypted with a key we do not have (or was tampered with)."""


def _fernet_for(secret_key: str) -> Fernet:
    if not secret_key:
        raise ValueError("MADOGUCHI_SECRET_KEY must not be empty")
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


class SecretBox:
    def __init__(self, secret_key: str, previous_keys: tuple[str, ...] = ()) -> None:
        self._fernet = MultiFernet([_fernet_for(k) for k in (secret_key, *previous_keys)])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise SecretDecryptionError(
                "a stored secret cannot be decrypted: MADOGUCHI_SECRET_KEY changed "
                "without listing the old key"
            ) from exc


def token_fingerprint(token: str) -> str:
    """A digest of a plaintext token, to tell "unchanged" without decrypting the stored one.

    Salted with a fixed label so it matches no other SHA-256 of the same token.
    """
    return hashlib.sha256(b"madoguchi-token-fingerprint:" + token.encode()).hexdigest()
