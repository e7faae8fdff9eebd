"""Remember the caller's address for the duration of a request (read by the audit log)."""

from __future__ import annotations

from madoguchi.services.audit.origin import client_address


class ClientAddressMiddleware:
    """Pure ASGI (no body buffering): sets ``client_address`` from the connection, which
    uvicorn has already resolved from X-Forwarded-For when the proxy is trusted."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        client = scope.get("client")
        token = client_address.set(client[0] if client else None)
        try:
            await self.app(scope, receive, send)
        finally:
            client_address.reset(token)
