"""Where the current request comes from, for the audit log.

The web layer sets it once per request (a small ASGI middleware), so a use case deep down
can record the client address without every route passing it along.
"""

from __future__ import annotations

from contextvars import ContextVar

client_address: ContextVar[str | None] = ContextVar("madoguchi_client_address", default=None)
