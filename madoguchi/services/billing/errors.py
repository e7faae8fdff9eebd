"""The one error of the billing use cases: a request that cannot be met, with a stable
``code`` for API clients, a sentence for people and the HTTP status it maps to."""

from __future__ import annotations


class BillingError(ValueError):
    def __init__(self, code: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
