"""The one error the calling use cases raise: a refusal the API shows as it is."""

from __future__ import annotations


class CallRefused(Exception):
    """The call action cannot be done; ``code`` is stable for API clients."""

    def __init__(
        self, code: str, message: str, status: int = 409, extra: dict | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        # More for API clients (e.g. Meta's error code and what it means), kept flat.
        self.extra = extra or {}
