"""The HTTP transport under every httpx client Madoguchi opens for many requests.

httpx's own pool (httpcore on anyio) costs about 2.5 ms of CPU per request once dozens
are in flight: each request scans every pooled connection and asks anyio for socket
details. That made the client, not WhatsApp's limit, the ceiling of the outbox sender.
Keeping httpx's API and putting aiohttp's connection pool underneath (``httpx-aiohttp``,
by one of httpx's maintainers) measured about 7x less CPU per request on this code's
own workload (``make bench`` prints the sender figures).

The one thing the adapter gets wrong for us is *which* failures happened before the
request left: it reports a dropped keep-alive connection as ``httpx.ConnectTimeout``.
For the sender that difference is the difference between "retry" and "maybe delivered,
do not resend", so :func:`never_sent` decides from aiohttp's own exception.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

__all__ = ["never_sent", "pooled_transport"]

# Failures before a single byte of the request left this machine (httpx's own transport).
_HTTPX_NEVER_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
)
# The same under aiohttp: the connection could not be made (refused, DNS, TLS handshake,
# proxy) or was not obtained in time. A disconnect on an open connection is not here.
_AIOHTTP_NEVER_SENT: tuple[type[Exception], ...] = (
    aiohttp.ClientConnectorError,
    aiohttp.ConnectionTimeoutError,
    aiohttp.ClientProxyConnectionError,
    aiohttp.InvalidURL,
)


class _Stream(httpx.AsyncByteStream):
    """A response body whose read errors all come out as httpx errors."""

    def __init__(self, inner: httpx.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_error():
            async for chunk in self._inner:
                yield chunk

    async def aclose(self) -> None:
        with _as_httpx_error():
            await self._inner.aclose()


class _Transport(AiohttpTransport):
    """The adapter, with every aiohttp error it leaves unmapped turned into an httpx one
    (callers catch ``httpx.RequestError``; a raw aiohttp error would escape them), and
    optionally a resolver of our own (the flow HTTP guard checks every address there, the
    ones actually connected to)."""

    def __init__(self, *, resolver_factory=None, **kwargs) -> None:
        super().__init__(**kwargs)
        self._resolver_factory = resolver_factory

    def get_client(self) -> aiohttp.ClientSession:
        if self._resolver_factory is None:
            return super().get_client()
        connector = aiohttp.TCPConnector(
            keepalive_timeout=self.limits.keepalive_expiry,
            ssl=self.ssl_context,
            limit=self.limits.max_connections or 0,
            resolver=self._resolver_factory(),
        )
        return aiohttp.ClientSession(connector=connector, trust_env=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        with _as_httpx_error(request):
            response = await super().handle_async_request(request)
        response.stream = _Stream(response.stream)
        return response


@contextlib.contextmanager
def _as_httpx_error(request: httpx.Request | None = None) -> Iterator[None]:
    try:
        yield
    except aiohttp.ClientError as exc:
        raise httpx.TransportError(f"{type(exc).__name__}: {exc}", request=request) from exc


def pooled_transport(limits: httpx.Limits, resolver_factory=None) -> httpx.AsyncBaseTransport:
    """An HTTP/1.1 transport with ``limits`` (connections, keep-alive expiry); with
    ``resolver_factory``, names are resolved by the aiohttp resolver it makes."""
    return _Transport(limits=limits, resolver_factory=resolver_factory)


async def exchange(transport: httpx.AsyncBaseTransport, request: httpx.Request) -> httpx.Response:
    """Send ``request`` straight to ``transport`` and read the whole response.

    For small request/response calls made many times a second (Graph JSON calls, the
    simulator's webhooks): ``AsyncClient`` re-parses the URL, merges defaults and runs its
    cookie jar on every call, which cost as much CPU as the HTTP exchange itself. The
    request carries its own timeouts (``extensions={"timeout": ...}``).
    """
    response = await transport.handle_async_request(request)
    response.request = request
    try:
        await response.aread()
    finally:
        await response.aclose()
    return response


def never_sent(exc: httpx.RequestError) -> bool:
    """True when ``exc`` certainly happened before the request reached the server."""
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientError):
        return isinstance(cause, _AIOHTTP_NEVER_SENT)
    return isinstance(exc, _HTTPX_NEVER_SENT)
