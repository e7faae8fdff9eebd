"""``GET /api/v1/ws``: the live event stream of one browser session (see docs/realtime.md).

Authentication happens at connect, and again whenever the bus says the user's or token's
credentials changed (``CredentialsChanged``: revoke, sign-out, disable, password or role
change), in every process; a socket whose credentials no longer hold is closed with 4401.
Credentials are the session cookie ``madoguchi_session`` (a
browser; its Origin must be this host's) or an API token, as ``?token=`` or an
``Authorization: Bearer`` header. A refused socket is accepted and closed at once with
code 4401, because a browser sees no HTTP status for a rejected upgrade.

Per socket: the endpoint's own task reads the client (``{"event": "ping"}`` is answered
with ``pong``; a staff socket's ``{"event": "wallboard.watch"}`` is answered with the
whole wallboard, ``wallboard.snapshot``, then ``wallboard.delta`` frames until
``wallboard.unwatch``; anything else is ignored) and one writer task drains the hub's outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket
from starlette.routing import WebSocketRoute

from madoguchi.runtime import Runtime
from madoguchi.services.access.visibility import supervised_queue_ids
from madoguchi.web.deps import SESSION_COOKIE, principal_from_credentials
from madoguchi.web.hub import CLOSE_UNAUTHENTICATED, Connection, Hub, frame_body

log = logging.getLogger(__name__)

router = APIRouter(tags=["realtime"])

CLOSE_FORBIDDEN_ORIGIN = 4403
CLOSE_TIMEOUT_SECONDS = 5.0
MAX_CLIENT_MESSAGE = 4096
_PONG = frame_body({"event": "pong"})
_TOKEN_IN_QUERY = re.compile(r"([?&]token=)[^&\s\"]*")


class RedactTokens(logging.Filter):
    """uvicorn logs every websocket's path with its query: keep ``?token=`` out of logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(a, str) and "token=" in a for a in record.args
        ):
            record.args = tuple(
                _TOKEN_IN_QUERY.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args
            )
        return True


def _redact_server_logs() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, RedactTokens) for f in logger.filters):
        logger.addFilter(RedactTokens())


def get_hub(websocket: WebSocket) -> Hub:
    return websocket.app.state.hub


@contextlib.asynccontextmanager
async def hub_running(app, runtime: Runtime) -> AsyncIterator[Hub]:
    """This process's hub for the app's lifetime, fed by the runtime's fan-out."""
    _redact_server_logs()
    settings = runtime.settings
    hub = Hub(
        runtime.db,
        queue_limit=settings.ws_send_queue,
        heartbeat_seconds=settings.ws_heartbeat_seconds,
        scope_check_seconds=settings.scope_check_seconds,
    )
    hub.wallboard = runtime.wallboard
    app.state.hub = hub
    runtime.fanout.add_listener(hub.dispatch, hub.resync)
    runtime.wallboard.subscribe(hub.dispatch, hub.has_staff)
    await hub.start()
    try:
        yield hub
    finally:
        runtime.wallboard.unsubscribe(hub.dispatch)
        runtime.fanout.remove_listener(hub.dispatch)
        await hub.stop()


def _same_origin(websocket: WebSocket) -> bool:
    """A browser always sends Origin: it must name this host, or any page on the web could
    open a socket riding the user's session cookie. Non-browser clients send none."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    host = websocket.headers.get("host", "")
    return urlsplit(origin).netloc.lower() == host.lower()


async def live_events(websocket: WebSocket) -> None:
    runtime: Runtime = websocket.app.state.runtime
    token = websocket.query_params.get("token")
    authorization = f"Bearer {token}" if token else websocket.headers.get("authorization")
    session_cookie = None if authorization else websocket.cookies.get(SESSION_COOKIE)
    await websocket.accept()
    if session_cookie is not None and not _same_origin(websocket):
        await websocket.close(CLOSE_FORBIDDEN_ORIGIN, "cross-origin session socket refused")
        return
    try:
        principal = await principal_from_credentials(runtime, authorization, session_cookie)
    except Exception:
        log.exception("websocket authentication failed")
        principal = None
    if principal is None:
        await websocket.close(CLOSE_UNAUTHENTICATED, "a session or an API token is required")
        return

    hub = get_hub(websocket)
    supervised = None
    if principal.role == "supervisor":
        async with runtime.db.read() as session:
            queues = await supervised_queue_ids(session, principal)
        supervised = frozenset(queues) if queues else None
    conn = hub.connect(principal, supervised)

    async def recheck():
        return await principal_from_credentials(runtime, authorization, session_cookie)

    conn.recheck = recheck  # credentials withdrawn later close the socket (hub)
    writer = asyncio.create_task(_write(websocket, conn))
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            _on_client_message(hub, conn, message.get("text"))
    finally:
        hub.disconnect(conn)
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)


# A plain Starlette route: FastAPI's websocket wrapper (dependency solving, exit stacks)
# would cost about 6 KiB per open socket for nothing this endpoint uses.
router.routes.append(WebSocketRoute("/api/v1/ws", live_events, name="live_events"))


def _on_client_message(hub: Hub, conn: Connection, text: str | None) -> None:
    if not text or len(text) > MAX_CLIENT_MESSAGE:
        return
    with contextlib.suppress(ValueError, AttributeError):
        event = json.loads(text).get("event")
        if event == "ping":
            conn.push(_PONG)
        elif event == "wallboard.watch" and conn.staff:
            # The whole board now, then deltas (again after any gap the browser sees).
            hub.spawn(hub.watch_wallboard(conn))
        elif event == "wallboard.unwatch":
            hub.unwatch_wallboard(conn)


async def _write(websocket: WebSocket, conn: Connection) -> None:
    try:
        while (frame := await conn.next_frame()) is not None:
            await websocket.send_text(frame)
        # The hub closed this connection (too slow, or shutting down). A client that
        # stopped reading may never take the close frame: do not wait for it forever.
        await asyncio.wait_for(
            websocket.close(conn.close_code, conn.close_reason), CLOSE_TIMEOUT_SECONDS
        )
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the peer went away mid-send: the reader sees it too
        log.debug("websocket writer ended: %r", exc)
