"""The video room a customer's link opens: the page (``/video/{token}``) and the websocket
(``/ws/video/{token}``) that relays the two browsers' session descriptions.

The customer needs no account: the link's token is the credential, for one room, until
it expires or the session ends. The agent joins the same room over their signed-in
session (same-origin only), and only the agent who sent the link may. Media never passes
through Madoguchi: the two browsers talk WebRTC directly. The relay is in-process: both
browsers must reach the same Madoguchi process (in the scaled mode, sticky routing of
``/ws/video/`` by token).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, Response
from starlette.routing import WebSocketRoute

from madoguchi.runtime import Runtime
from madoguchi.services.calling import video
from madoguchi.web.deps import SESSION_COOKIE, principal_from_credentials
from madoguchi.web.realtime import _same_origin

log = logging.getLogger(__name__)

router = APIRouter(tags=["video"])
PAGE = Path(__file__).parent / "api" / "calling" / "video.html"
SCRIPT = PAGE.with_name("video.js")
SIDES = ("agent", "customer")
MAX_FRAME = 64_000
CLOSE_REFUSED = 4404
CLOSE_TAKEN = 4409


class VideoRelay:
    """The browsers in each room, one per side; what one sends reaches the other."""

    def __init__(self) -> None:
        self.rooms: dict[int, dict[str, WebSocket]] = {}
        self.lock = asyncio.Lock()

    async def join(self, room_id: int, side: str, ws: WebSocket) -> WebSocket | None:
        """Join a side of a room; returns the other side's socket, if it is there."""
        async with self.lock:
            room = self.rooms.setdefault(room_id, {})
            if side in room:
                raise LookupError(side)
            room[side] = ws
            return room.get(_other(side))

    async def leave(self, room_id: int, side: str) -> WebSocket | None:
        async with self.lock:
            room = self.rooms.get(room_id, {})
            room.pop(side, None)
            if not room:
                self.rooms.pop(room_id, None)
            return room.get(_other(side))

    def peer(self, room_id: int, side: str) -> WebSocket | None:
        return self.rooms.get(room_id, {}).get(_other(side))


def _other(side: str) -> str:
    return "customer" if side == "agent" else "agent"


def relay_of(ws: WebSocket) -> VideoRelay:
    state = ws.app.state
    if not hasattr(state, "video_relay"):
        state.video_relay = VideoRelay()
    return state.video_relay


def _page(config: dict) -> str:
    """The page with its settings in an attribute (escaped: no inline script, per the CSP)."""
    return PAGE.read_text(encoding="utf-8").replace("__CONFIG__", html.escape(json.dumps(config)))


@router.get("/video-assets/video.js", include_in_schema=False)
async def video_script() -> Response:
    return Response(SCRIPT.read_bytes(), media_type="text/javascript")


@router.get("/video/{token}", response_class=HTMLResponse, include_in_schema=False)
async def video_page(token: str, request: Request) -> HTMLResponse:
    """The customer's side of the room (no account: the token is the credential)."""
    runtime: Runtime = request.app.state.runtime
    room = await video.room_for_token(runtime.db, token, datetime.now(UTC))
    if room is None:
        return HTMLResponse(_page({"error": "This video link has expired or was used."}), 404)
    return HTMLResponse(
        _page(
            {
                "token": token,
                "side": "customer",
                "ice_servers": runtime.settings.ice_servers,
                "expires_at": room.expires_at.isoformat(),
            }
        )
    )


async def video_socket(websocket: WebSocket) -> None:
    runtime: Runtime = websocket.app.state.runtime
    token = websocket.path_params["token"]
    side = websocket.query_params.get("as", "customer")
    await websocket.accept()
    room = await video.room_for_token(runtime.db, token, datetime.now(UTC))
    if room is None or side not in SIDES:
        await websocket.close(CLOSE_REFUSED, "this video link has expired or was used")
        return
    if side == "agent":
        cookie = websocket.cookies.get(SESSION_COOKIE)
        principal = None
        if cookie and _same_origin(websocket):
            principal = await principal_from_credentials(runtime, None, cookie)
        if principal is None or principal.user_id != room.agent_id:
            await websocket.close(CLOSE_REFUSED, "only the agent who sent the link may join")
            return
    relay = relay_of(websocket)
    try:
        other = await relay.join(room.id, side, websocket)
    except LookupError:
        await websocket.close(CLOSE_TAKEN, f"the {side} is already in this room")
        return
    try:
        await websocket.send_text(json.dumps({"type": "joined", "peer": other is not None}))
        if other is not None:
            await video.mark(runtime.db, room.id, "live", datetime.now(UTC))
            with contextlib.suppress(Exception):
                await other.send_text(json.dumps({"type": "peer-joined"}))
        while True:
            text = await websocket.receive_text()
            if len(text) > MAX_FRAME:
                continue
            try:
                kind = json.loads(text).get("type")
            except (ValueError, AttributeError):
                continue
            if kind not in ("offer", "answer", "bye"):
                continue
            peer = relay.peer(room.id, side)
            if peer is not None:
                with contextlib.suppress(Exception):
                    await peer.send_text(text)
            if kind == "bye":
                break
    except WebSocketDisconnect:
        pass
    finally:
        other = await relay.leave(room.id, side)
        fresh = await video.mark(runtime.db, room.id, "ended", datetime.now(UTC))
        if other is not None:
            with contextlib.suppress(Exception):
                await other.send_text(json.dumps({"type": "peer-left"}))
        log.debug("video room %s: %s left (%s)", room.id, side, fresh and fresh.status)


# A plain Starlette route, like the live events' socket.
router.routes.append(WebSocketRoute("/ws/video/{token}", video_socket))
