"""The websocket hub of one process: who is connected, and which frames each one gets.

Connections are indexed by workspace, and a workspace's agents by user id, so an event
costs work proportional to its audience, not to the number of sockets: staff of the
workspace get everything, the agents named by the audience policy
(``services/contact_center/live_audience.py``) get theirs (and, for a colleague's presence,
the other agents a reduced frame), and the policy's one query
runs only when some agent of that workspace is connected here.

Each connection has a small bounded outbox drained by its own writer; a client that falls
``queue_limit`` frames behind is dropped (close 1013), so one slow browser never delays
the others or grows memory. Every frame carries ``seq``, contiguous per connection from 1
(the ``hello``): a gap means frames were lost, and the client re-reads state over REST.
Staff sockets may watch the wallboard: the whole board once, then each change as a delta
cut to what the socket may see (``_board_delta``); a supervisor's queues are read again
when a queue's settings change (``rescope``).
The hub knows nothing of HTTP: the endpoint in ``web/realtime.py`` moves frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable

from madoguchi.domain.events import CredentialsChanged, Event, PresenceChanged, QueueSettingsChanged
from madoguchi.services.access.tokens import Principal
from madoguchi.services.access.visibility import supervised_queue_ids
from madoguchi.services.contact_center.live_audience import (
    QUEUE_BOUND,
    STAFF_ROLES,
    agents_may_see,
    audience_of,
    limited_supervisor_admits,
    member_queues,
    needs_lookup,
)
from madoguchi.services.supervision import board as boards
from madoguchi.services.supervision.live_wallboard import BoardDelta
from madoguchi.services.supervision.wallboard import for_viewer
from madoguchi.store.db import Database

log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_TOO_SLOW = 1013  # "try again later": reconnect, then re-read state
CLOSE_UNAUTHENTICATED = 4401  # credentials refused or withdrawn


def frame_body(payload: dict) -> str:
    """A JSON object without its closing brace, so each connection appends its seq."""
    return json.dumps(payload, separators=(",", ":"), default=str)[:-1]


def _snapshot_frame(snapshot: dict, version: int, scope: frozenset[int] | None) -> str:
    """The ``wallboard.snapshot`` frame body: the whole board a viewer may see."""
    board = for_viewer(snapshot, scope)
    return frame_body(
        {
            "event": "wallboard.snapshot",
            "version": version,
            "board": {**board, "scope": sorted(scope) if scope else "all"},
        }
    )


class Connection:
    """One socket's state in the hub; a few hundred bytes when idle."""

    __slots__ = (
        "principal",
        "seq",
        "limit",
        "frames",
        "waiter",
        "active",
        "closed",
        "close_code",
        "close_reason",
        "recheck",
        "watching",
        "held",
        "board_version",
    )

    def __init__(self, principal: Principal, limit: int) -> None:
        self.principal = principal
        self.seq = 0
        self.limit = limit
        self.frames: deque[str] = deque()
        self.waiter: asyncio.Future | None = None
        self.active = False  # something was sent since the last heartbeat tick
        self.closed = False
        self.close_code = CLOSE_GOING_AWAY
        self.close_reason = ""
        # Re-reads the socket's credentials: the Principal they name now, or None.
        self.recheck: Callable[[], Awaitable[Principal | None]] | None = None
        self.watching = False  # subscribed to the wallboard (snapshot, then deltas)
        self.held: list | None = None  # deltas arriving while its snapshot is prepared
        self.board_version = 0  # the wallboard version this socket's browser holds

    @property
    def staff(self) -> bool:
        return self.principal.role in STAFF_ROLES

    def push(self, body: str) -> bool:
        """Queue one frame (``body`` from ``frame_body``); False if the connection is gone."""
        if self.closed:
            return False
        if len(self.frames) >= self.limit:
            self.close(CLOSE_TOO_SLOW, "client too slow; reconnect and re-read state")
            return False
        self.seq += 1
        self.frames.append(f'{body},"seq":{self.seq}}}')
        self.active = True
        self._wake()
        return True

    def close(self, code: int, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self.close_reason = reason
        self.frames.clear()
        self._wake()

    async def next_frame(self) -> str | None:
        """The next frame to send, waiting for one; None once the hub closed this."""
        while not self.frames:
            if self.closed:
                return None
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return self.frames.popleft()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class Hub:
    def __init__(
        self,
        db: Database,
        *,
        queue_limit: int = 256,
        heartbeat_seconds: float = 25.0,
        scope_check_seconds: float = 5.0,
    ) -> None:
        self.db = db
        self.queue_limit = queue_limit
        self.heartbeat_seconds = heartbeat_seconds
        self.scope_check_seconds = scope_check_seconds
        self._scope_checker: asyncio.Task | None = None
        self.instance = uuid.uuid4().hex[:12]
        self._staff: dict[int, set[Connection]] = {}
        self._agents: dict[int, dict[int, set[Connection]]] = {}
        # Supervisors limited to some queues (queue supervisors), with those queues.
        self._limited: dict[int, dict[Connection, frozenset[int]]] = {}
        self._all: set[Connection] = set()
        # Staff sockets watching the wallboard, and the feed their snapshots come from.
        self._watchers: dict[int, set[Connection]] = {}
        self.wallboard = None  # live_wallboard.WallboardFeed, set by web/realtime.py
        self._ticker: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self.dispatched = 0

    # ------------------------------------------------------------------ connections

    def connect(self, principal: Principal, supervised: frozenset[int] | None = None) -> Connection:
        """Index a new socket. ``supervised``: the queues a supervisor is limited to (None:
        the whole workspace), read once at connect."""
        conn = Connection(principal, self.queue_limit)
        ws = principal.workspace_id
        first_staff = conn.staff and not self.has_staff(ws)
        if conn.staff and supervised is not None and principal.role == "supervisor":
            self._limited.setdefault(ws, {})[conn] = supervised
        elif conn.staff:
            self._staff.setdefault(ws, set()).add(conn)
        elif principal.role == "agent" and principal.user_id is not None:
            self._agents.setdefault(ws, {}).setdefault(principal.user_id, set()).add(conn)
        # Anything else (an agent token bound to no user) is connected but sees no event.
        self._all.add(conn)
        if first_staff and self.wallboard is not None:
            # The first staff socket here: the board (not kept moving while nobody was
            # told of it) is brought up to date now, so the next change is a delta from it.
            self.wallboard.bring_up(ws)
        conn.push(
            frame_body(
                {
                    "event": "hello",
                    "role": principal.role,
                    "user_id": principal.user_id,
                    "workspace_id": ws,
                    "instance": self.instance,
                    "heartbeat_seconds": self.heartbeat_seconds,
                }
            )
        )
        return conn

    def disconnect(self, conn: Connection) -> None:
        conn.close(conn.close_code, conn.close_reason)
        self._all.discard(conn)
        ws = conn.principal.workspace_id
        self._unwatch(conn)
        staff = self._staff.get(ws)
        if staff is not None:
            staff.discard(conn)
            if not staff:
                del self._staff[ws]
        limited = self._limited.get(ws)
        if limited is not None:
            limited.pop(conn, None)
            if not limited:
                del self._limited[ws]
        agents = self._agents.get(ws)
        user_id = conn.principal.user_id
        if agents is not None and user_id in agents:
            agents[user_id].discard(conn)
            if not agents[user_id]:
                del agents[user_id]
            if not agents:
                del self._agents[ws]

    @property
    def connection_count(self) -> int:
        return len(self._all)

    # ------------------------------------------------------------------ events

    async def dispatch(self, event: Event) -> None:
        """Send ``event`` to every connection of this process allowed to see it."""
        if isinstance(event, BoardDelta):
            self._board_delta(event)
            return
        if isinstance(event, CredentialsChanged):
            await self.recheck_credentials(event)
            return
        if isinstance(event, QueueSettingsChanged):
            await self.rescope(event.workspace_id)
        ws = event.workspace_id
        staff = self._staff.get(ws)
        agents = self._agents.get(ws) if agents_may_see(event) else None
        limited = self._limited.get(ws)
        if not staff and not agents and not limited:
            return
        targets: list[Connection] = list(staff or ())
        colleagues: list[Connection] = []
        audience = None
        if agents or (limited and isinstance(event, QUEUE_BOUND)):
            try:
                if needs_lookup(event):
                    async with self.db.read() as session:
                        audience = await audience_of(session, event)
                else:
                    audience = await audience_of(None, event)
            except Exception:
                # Fail closed for agents, but staff still get the event.
                log.exception("audience of %s could not be resolved", event.name)
                audience = None
        subject_queues = None
        if limited and isinstance(event, PresenceChanged):
            try:
                async with self.db.read() as session:
                    subject_queues = await member_queues(session, ws, event.user_id)
            except Exception:
                log.exception("queues of %s could not be read", event.name)  # fail closed
        for conn, queues in tuple((self._limited.get(ws) or {}).items()):
            if limited_supervisor_admits(
                event, audience, queues, conn.principal.user_id, subject_queues
            ):
                targets.append(conn)
        if agents:
            # Re-read the index: sockets may have come or gone during the query.
            agents = self._agents.get(ws) or {}
            for user_id in audience.agent_ids if audience else ():
                targets.extend(agents.get(user_id, ()))
            if audience is not None and audience.colleague_view is not None:
                for user_id, conns in agents.items():
                    if user_id not in audience.agent_ids:
                        colleagues.extend(conns)
        if not targets and not colleagues:
            return
        self.dispatched += 1
        body = frame_body(event.to_dict())
        for conn in targets:
            self._send(conn, body)
        if colleagues:
            reduced = frame_body(audience.colleague_view)
            for conn in colleagues:
                self._send(conn, reduced)

    async def recheck_credentials(self, event: CredentialsChanged) -> None:
        """Close (4401) every socket of the user or token named whose credentials no
        longer sign in exactly as they did at connect (revoked, signed out, disabled,
        password changed, role changed). The client reconnects if it still may."""
        for conn in tuple(self._all):
            p = conn.principal
            if p.workspace_id != event.workspace_id:
                continue
            named = (event.user_id is not None and p.user_id == event.user_id) or (
                event.token_id is not None and p.token_id == event.token_id
            )
            if not named:
                continue
            try:
                now = await conn.recheck() if conn.recheck is not None else None
            except Exception:
                log.exception("websocket credentials could not be re-checked")
                now = None
            if now != p:
                conn.close(CLOSE_UNAUTHENTICATED, "credentials withdrawn: sign in again")
                if conn in self._all:
                    self.disconnect(conn)

    async def rescope(self, workspace_id: int) -> None:
        """A queue's supervisors may have changed: read again which queues each connected
        supervisor of the workspace may see, re-index the sockets whose scope moved and
        tell their browsers to re-read state (``resync``), now rather than at their next
        connection."""
        ws = workspace_id
        conns = [
            c
            for c in (*self._staff.get(ws, ()), *(self._limited.get(ws) or {}))
            if c.principal.role == "supervisor"
        ]
        if not conns:
            return
        scopes: dict[int | None, frozenset[int] | None] = {}
        try:
            async with self.db.read() as session:
                for conn in conns:
                    user_id = conn.principal.user_id
                    if user_id not in scopes:
                        queues = await supervised_queue_ids(session, conn.principal)
                        scopes[user_id] = frozenset(queues) if queues else None
        except Exception:
            log.exception("supervisors' queues could not be re-read")
            return
        body = frame_body({"event": "resync", "reason": "scope changed"})
        for conn in conns:
            new = scopes[conn.principal.user_id]
            if conn not in self._all or new == self.scope_of(conn):
                continue
            staff = self._staff.get(ws)
            if staff is not None:
                staff.discard(conn)
            limited = self._limited.get(ws)
            if limited is not None:
                limited.pop(conn, None)
            if new is None:
                self._staff.setdefault(ws, set()).add(conn)
            else:
                self._limited.setdefault(ws, {})[conn] = new
            if not self._staff.get(ws, True):
                del self._staff[ws]
            if ws in self._limited and not self._limited[ws]:
                del self._limited[ws]
            self._send(conn, body)

    # ------------------------------------------------------------------ wallboard

    def has_staff(self, workspace_id: int) -> bool:
        """Whether a staff socket of the workspace is connected here: someone the
        wallboard's changes go to (as deltas or nudges)."""
        return workspace_id in self._staff or workspace_id in self._limited

    def scope_of(self, conn: Connection) -> frozenset[int] | None:
        """The queues a limited supervisor's socket may see (None: all)."""
        return (self._limited.get(conn.principal.workspace_id) or {}).get(conn)

    async def watch_wallboard(self, conn: Connection) -> None:
        """Send a staff socket the whole wallboard (cut to its queues), then each change
        as a delta (``wallboard.delta``): the browser asks on open and after any gap."""
        if not conn.staff or self.wallboard is None or conn.closed:
            return
        ws = conn.principal.workspace_id
        conn.watching = True
        conn.held = []  # deltas arriving meanwhile wait for the snapshot
        self._watchers.setdefault(ws, set()).add(conn)
        try:
            version, snapshot = await self.wallboard.current(ws)
            body = await asyncio.to_thread(_snapshot_frame, snapshot, version, self.scope_of(conn))
        except Exception:
            log.exception("wallboard snapshot failed")
            conn.held = None
            self._unwatch(conn)
            return
        held, conn.held = conn.held, None
        if conn.closed or not conn.watching:
            return
        conn.board_version = version
        self._send(conn, body)
        for delta in held:
            if delta.base >= version:
                self._delta_to(conn, delta, {})

    def unwatch_wallboard(self, conn: Connection) -> None:
        self._unwatch(conn)

    def _unwatch(self, conn: Connection) -> None:
        conn.watching = False
        conn.held = None
        watchers = self._watchers.get(conn.principal.workspace_id)
        if watchers is not None:
            watchers.discard(conn)
            if not watchers:
                del self._watchers[conn.principal.workspace_id]

    def _board_delta(self, delta: BoardDelta) -> None:
        """A change of a workspace's board: a delta to each watching socket (cut to its
        queues), a ``wallboard.changed`` nudge to the other staff sockets it concerns."""
        ws = delta.workspace_id
        cuts: dict = {}
        for conn in tuple(self._watchers.get(ws, ())):
            if conn.held is not None:
                conn.held.append(delta)
            elif delta.whole:  # read anew: the whole board again
                self.spawn(self.watch_wallboard(conn))
            else:
                self._delta_to(conn, delta, cuts)
        if delta.base == 0:
            return  # this process's first board: nothing was shown from it to change
        nudge = None
        for conn in (*self._staff.get(ws, ()), *(self._limited.get(ws) or {})):
            if conn.watching:
                continue
            if self._cut_body(delta, self.scope_of(conn), cuts) is None:
                continue  # nothing this supervisor may see changed
            if nudge is None:
                nudge = frame_body({"event": "wallboard.changed", "version": delta.version})
            self._send(conn, nudge)

    def _cut_body(self, delta: BoardDelta, scope, cuts: dict) -> str | None:
        """The delta's rows a viewer of ``scope`` may see, as JSON members (None: none)."""
        if scope not in cuts:
            changes = boards.cut(delta.changes, scope)
            cuts[scope] = (
                None
                if boards.empty(changes) and scope is not None
                else json.dumps(changes, separators=(",", ":"), default=str)[1:-1]
            )
        return cuts[scope]

    def _delta_to(self, conn: Connection, delta: BoardDelta, cuts: dict) -> None:
        body = self._cut_body(delta, self.scope_of(conn), cuts)
        if body is None:
            return  # nothing of theirs: the next delta goes on from their version
        head = json.dumps(
            {
                "event": "wallboard.delta",
                "base": conn.board_version,
                "version": delta.version,
                "generated_at": delta.generated_at,
                "day": delta.day,
            },
            separators=(",", ":"),
        )[:-1]
        conn.board_version = delta.version
        self._send(conn, f"{head},{body}" if body else head)

    def spawn(self, work) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _send(self, conn: Connection, body: str) -> None:
        if not conn.push(body) and conn in self._all:
            self.disconnect(conn)  # too slow: out of the index now, its writer closes it

    def resync(self, reason: str) -> None:
        """Events may have been missed: every client should re-read state over REST."""
        body = frame_body({"event": "resync", "reason": reason})
        for conn in tuple(self._all):
            self._send(conn, body)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._ticker is None and self.heartbeat_seconds > 0:
            self._ticker = asyncio.create_task(self._heartbeat(), name="ws-heartbeat")
        if self._scope_checker is None and self.scope_check_seconds > 0:
            self._scope_checker = asyncio.create_task(self._check_scopes(), name="ws-scopes")

    async def _check_scopes(self) -> None:
        """Supervisors' queues re-read now and then: a change of a queue's supervisors
        that no ``queue.settings`` event announced here (``madoguchi apply`` in a
        deployment without Redis, a change made straight in the database) applies to the
        sockets already open within ``scope_check_seconds``. Only workspaces with a
        supervisor connected; a few rows each."""
        while True:
            await asyncio.sleep(self.scope_check_seconds)
            for ws in {*self._staff, *self._limited}:
                await self.rescope(ws)

    async def stop(self) -> None:
        for task in tuple(self._tasks):
            task.cancel()
        for attribute in ("_ticker", "_scope_checker"):
            task = getattr(self, attribute)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                setattr(self, attribute, None)
        for conn in tuple(self._all):
            conn.close(CLOSE_GOING_AWAY, "server shutting down")

    async def _heartbeat(self) -> None:
        """One task for all sockets: a ``ping`` frame to each that was idle for a tick,
        so a browser (which cannot see protocol pings) can tell a dead link from silence."""
        ping = frame_body({"event": "ping"})
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            for conn in tuple(self._all):
                if conn.active:
                    conn.active = False
                else:
                    self._send(conn, ping)
                    conn.active = False
