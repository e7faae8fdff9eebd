"""The wallboard, live: one board per workspace, kept up to date change by change, and
what changed sent to the browsers watching it (see docs/realtime.md).

Every event of the realtime fan-out (so every process sees the events of every process,
whichever produced them) names what it touched: conversations, people, or the small
tables (presence, queues, members, monitoring). At most once per ``interval`` per
workspace the feed reads just those rows (the conversations named, the people's last
replies, the lifecycle log since its last read, the small tables) and moves its
``board.Board`` by them in a worker thread: counters per queue and per agent are
adjusted by the difference, never counted again over the workspace. The rows that
changed form a delta, numbered (``version``, ``base``), which goes to the subscribers (the
hubs: each cuts it to what each watching socket may see). A browser gets the whole board
on subscribing and after any gap in the numbering, then only deltas.

Reconciliation: every ``full_every`` seconds, after a lost Redis subscription
(``resync``), at the workspace's midnight and after any failed read, the board is read
whole again and compared with the one kept by changes; what differs goes out as a
delta of corrections and is counted in ``corrections`` (a change made straight in the
database, a lifecycle row committed out of order on PostgreSQL).

``GET /api/v1/wallboard`` reads the same board (``snapshot``/``rendered``): one
snapshot per version, rendered once for all readers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from madoguchi.domain.events import (
    AccountEventReceived,
    CredentialsChanged,
    Event,
    MediaStored,
    MonitorChanged,
    PresenceChanged,
    QueueSettingsChanged,
    WallboardChanged,
)
from madoguchi.domain.service_metrics import day_bounds
from madoguchi.services.supervision import board as boards
from madoguchi.services.supervision import wallboard
from madoguchi.store.db import Database

log = logging.getLogger(__name__)


def page(board: dict[str, Any], limit: int | None, scope: Any) -> dict[str, Any]:
    """``board`` with its first ``limit`` conversations (all when None) and their total."""
    rows = board["conversations"]
    return {
        **board,
        "conversations": rows if limit is None else rows[:limit],
        "conversations_total": len(rows),
        "scope": scope,
    }


@dataclass(frozen=True, slots=True)
class BoardDelta:
    """What changed on a workspace's board from version ``base`` to ``version``."""

    workspace_id: int
    base: int
    version: int
    generated_at: str
    day: str
    changes: dict[str, Any]
    whole: bool = False  # the board was read anew: watchers take it whole again


Deliver = Callable[[Any], Awaitable[None]]
# Events that change nothing the wallboard shows.
_IGNORED = (WallboardChanged, AccountEventReceived, MediaStored)
# Events that change the small tables (presence, monitoring, people, queues).
_STRUCTURAL = (PresenceChanged, MonitorChanged, CredentialsChanged, QueueSettingsChanged)
STRUCTURE_EVERY = 5.0  # seconds: the small tables are read at least this often anyway
WHOLE = "_whole"
MAX_DIRTY = 20_000  # more named conversations than this: read everything instead


class _Workspace:
    """One workspace's board and what the events since its last update named."""

    __slots__ = (
        "board",
        "version",
        "dirty",
        "people",
        "full_at",
        "whole_asked",
        "whole_read",
        "pending",
        "running",
        "wanted",
        "done",
        "last_took",
        "last_start",
        "snapshot",
        "rendered",
        "lock",
        "structural",
        "structure_at",
    )

    def __init__(self) -> None:
        self.board: boards.Board | None = None
        self.version = 0  # of the board's state (deltas go from one to the next)
        self.dirty: set[int] = set()
        self.people: set[int] = set()
        self.full_at = -1e9
        # Whole reads asked for (``resync``) and the last one an update read after: a
        # number, not a time, so an update already reading when one is asked cannot
        # count for it (it read the database before the change that was asked about).
        self.whole_asked = 0
        self.whole_read = 0
        self.pending: asyncio.TimerHandle | None = None
        self.running: asyncio.Task | None = None
        self.wanted = 0  # events noticed
        self.done = 0  # events included in the board
        self.last_took = 0.0
        self.last_start = -1e9
        self.snapshot: tuple[int, dict[str, Any]] | None = None
        self.rendered: dict[int | None, tuple[int, asyncio.Task]] = {}
        self.lock = asyncio.Lock()
        self.structural = True  # an event changed the small tables since their last read
        self.structure_at = -1e9


class WallboardFeed:
    def __init__(
        self,
        db: Database,
        *,
        interval: float = 0.5,
        max_age: float = 10.0,
        full_every: float = 60.0,
    ) -> None:
        self.db = db
        self.interval = interval
        self.max_age = max_age  # kept for settings compatibility: the board is always live
        self.full_every = full_every
        self._spaces: dict[int, _Workspace] = {}
        self._subscribers: list[Deliver] = []
        self._watching: dict[Deliver, Callable[[int], bool] | None] = {}
        self._tasks: set[asyncio.Task] = set()
        self.computed = 0  # updates applied (tests and the benchmark read these)
        self.full_reads = 0
        self.corrections = 0  # rows a reconciliation found different from the kept board
        self.update_cpu = 0.0  # CPU seconds spent moving boards by changes (worker thread)
        self.reconcile_cpu = 0.0  # CPU seconds spent building whole boards and comparing
        self.update_seconds: list[float] = []  # wall time of each incremental update

    def _space(self, workspace_id: int) -> _Workspace:
        space = self._spaces.get(workspace_id)
        if space is None:
            space = self._spaces[workspace_id] = _Workspace()
        return space

    # ------------------------------------------------------------------ events in

    def subscribe(self, deliver: Deliver, watching: Callable[[int], bool] | None = None) -> None:
        """``deliver`` (a hub) receives each ``BoardDelta``; it sends the deltas to the
        sockets watching and ``wallboard.changed`` nudges to other staff sockets.
        ``watching(workspace_id)`` says whether it has anyone to tell of that workspace's
        changes now (None: always): a board nobody is told of is not kept moving."""
        self._subscribers.append(deliver)
        self._watching[deliver] = watching

    def unsubscribe(self, deliver: Deliver) -> None:
        if deliver in self._subscribers:
            self._subscribers.remove(deliver)
        self._watching.pop(deliver, None)

    def watched(self, workspace_id: int) -> bool:
        """Whether some subscriber has someone to tell of this workspace's changes. When
        none has, events only mark what they touched (cheap: an inbound burst with no
        supervisor connected costs no board updates); a read (``current``) catches up
        from those marks, and the next event after someone connects moves it live."""
        return any(w is None or w(workspace_id) for w in self._watching.values())

    async def notice(self, event: Event) -> None:
        """A fan-out listener: an event happened somewhere in the workspace."""
        if isinstance(event, _IGNORED):
            return
        space = self._space(event.workspace_id)
        if space.board is None and space.running is None:
            # No board (yet, or dropped): the next update reads everything anyway, so
            # there is nothing to mark (and nothing grows while nobody reads it).
            space.wanted += 1
            if self.watched(event.workspace_id):
                self._schedule(event.workspace_id, space)
            return
        conversation_id = getattr(event, "conversation_id", None)
        if conversation_id is not None:
            space.dirty.add(conversation_id)
        for attribute in ("agent_id", "previous_agent_id", "author_id", "supervisor_id"):
            person = getattr(event, attribute, None)
            if person is not None:
                space.people.add(person)
        if isinstance(event, _STRUCTURAL):
            space.structural = True
        if len(space.dirty) > MAX_DIRTY:
            space.board = None
            if space.running is None:
                space.dirty.clear()
                space.people.clear()
        self.touch(event.workspace_id)

    def touch(self, workspace_id: int) -> None:
        """Something changed: an update within ``interval`` if anyone is told of the
        board's changes (``watched``); otherwise the next read (``current``) runs it."""
        space = self._space(workspace_id)
        space.wanted += 1
        if self.watched(workspace_id):
            self._schedule(workspace_id, space)

    def bring_up(self, workspace_id: int) -> None:
        """Someone is now told of this board's changes (the first staff socket): bring
        it up to the events noticed so far at once, so every later event is a delta from
        a board they could have been shown (a process's first board nudges nobody)."""
        space = self._space(workspace_id)
        space.wanted += 1
        if space.pending is not None:
            space.pending.cancel()
            space.pending = None
        if space.running is None:
            self._start(workspace_id)

    def _schedule(self, workspace_id: int, space: _Workspace) -> None:
        if space.pending is not None or space.running is not None:
            return
        gap = max(self.interval, 2 * space.last_took)
        delay = max(0.0, space.last_start + gap - time.monotonic())
        delay = max(delay, min(self.interval, 0.05))  # gather a burst's events
        loop = asyncio.get_running_loop()
        space.pending = loop.call_later(delay, self._start, workspace_id)

    def _start(self, workspace_id: int) -> None:
        space = self._space(workspace_id)
        space.pending = None
        if space.running is None:
            space.running = asyncio.get_running_loop().create_task(self._update(workspace_id))
            self._tasks.add(space.running)
            space.running.add_done_callback(self._tasks.discard)

    def resync(self, reason: str) -> None:
        """Events may have been missed: every board is read whole again."""
        for workspace_id, space in self._spaces.items():
            space.whole_asked += 1
            self.touch(workspace_id)

    async def stop(self) -> None:
        for space in self._spaces.values():
            if space.pending is not None:
                space.pending.cancel()
                space.pending = None
        for task in tuple(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ------------------------------------------------------------------ updating

    async def _update(self, workspace_id: int) -> None:
        space = self._space(workspace_id)
        try:
            async with space.lock:
                await self._advance(workspace_id, space)
        except Exception:
            log.exception("wallboard update failed; the next reads everything")
            space.board = None
        finally:
            space.running = None
        if space.wanted > space.done and self.watched(workspace_id):
            self._schedule(workspace_id, space)

    async def _advance(self, workspace_id: int, space: _Workspace) -> None:
        """Bring the board up to the events noticed so far (under the lock)."""
        started = time.monotonic()
        space.last_start = started
        wanted = space.wanted
        asked = space.whole_asked
        whole_due = asked > space.whole_read or started - space.full_at >= self.full_every
        now = datetime.now(UTC)
        dirty, space.dirty = space.dirty, set()
        people, space.people = space.people, set()
        board = space.board
        base = space.version
        changes = fresh = None
        # The small tables (presence, queues, members, people, monitoring) are read when
        # an event changed them, now and then anyway, and for every whole read.
        reread = (
            board is None
            or space.structural
            or started - space.structure_at >= STRUCTURE_EVERY
            or whole_due
        )
        try:
            async with self.db.read() as session:
                if reread:
                    space.structural = False
                    space.structure_at = started
                    structure = await wallboard.load_structure(session, workspace_id, now)
                else:
                    structure = None
                same_day = board is not None and (
                    structure is None
                    or (
                        board.day == structure.day
                        and board.structure.timezone == structure.timezone
                    )
                )
                if same_day and structure is None and _today(board, now) != board.day:
                    same_day = False  # midnight passed: read it all
                    structure = await wallboard.load_structure(session, workspace_id, now)
                if same_day:
                    changes = await self._read_changes(
                        session, workspace_id, board, structure, dirty, people, now
                    )
                if not same_day or whole_due:
                    fresh = await self._read_all(session, workspace_id, structure, now)
                    if changes is not None:  # the kept board takes the same occupancy
                        changes.occupancy = fresh.load.occupancy
        except BaseException:
            space.board = None  # what the events named is lost: read all next time
            space.structural = True
            raise
        delta = await asyncio.to_thread(self._move, board, changes, fresh, now)
        if fresh is not None:
            space.full_at = started
            space.whole_read = asked
            self.full_reads += 1
            space.board = fresh
        else:
            took = time.monotonic() - started
            space.last_took = took
            self.update_seconds.append(took)
            del self.update_seconds[:-1000]
        space.done = wanted
        self.computed += 1
        whole = delta.pop(WHOLE, False)
        # A new day or time zone changes the board's header even when no row differs.
        moved_day = fresh is not None and (
            board is None
            or (board.day, board.structure.timezone) != (fresh.day, fresh.structure.timezone)
        )
        if not whole and not moved_day and boards.empty(delta):
            return
        space.version += 1
        space.snapshot = None
        message = BoardDelta(
            workspace_id=workspace_id,
            base=base,
            version=space.version,
            generated_at=now.isoformat(),
            day=space.board.day.isoformat(),
            changes=delta,
            whole=whole,
        )
        await self._deliver(message)

    def _move(self, board, changes, fresh, now) -> dict[str, Any]:
        """The kept board moved by ``changes``, then (``fresh``: read whole) compared
        with the fresh one: the delta of both (in a worker thread), marked ``WHOLE``
        when there was no board to compare with (watchers take the whole board again)."""
        cpu = time.thread_time()
        delta = board.apply(changes, now) if changes is not None else None
        self.update_cpu += time.thread_time() - cpu
        if fresh is None:
            return delta
        cpu = time.thread_time()
        try:
            return self._reconcile(board, delta, fresh, now)
        finally:
            self.reconcile_cpu += time.thread_time() - cpu

    def _reconcile(self, board, delta, fresh, now) -> dict[str, Any]:
        fresh.apply(fresh.load, now)
        fresh.load = None
        fresh.build_rows(now)
        if board is None:  # everything is new: readers take the whole board again
            return {**boards.diff(boards.EMPTY, fresh.snapshot(now)), WHOLE: True}
        corrections = boards.diff(board.snapshot(now), fresh.snapshot(now))
        if delta is None:  # a new day: everything may differ, nothing is a correction
            return corrections
        count = sum(len(corrections[k]) for k in boards.DELTA_KEYS)
        if count:
            self.corrections += count
            log.info("wallboard reconciliation: %d rows differed from the kept board", count)
        return boards.merge(delta, corrections)

    async def _read_all(self, session, workspace_id: int, structure, now: datetime):
        rows = await wallboard.read_conversations(session, workspace_id)
        holders = {r.offered_agent_id or r.assigned_agent_id for r in rows.values()}
        people = {
            u.id
            for u in structure.users
            if u.role == "agent" or u.id in structure.queues_of or u.id in holders
        }
        replies = await wallboard.read_last_replies(session, people)
        log_rows = await wallboard.read_log(session, workspace_id, structure.midnight)
        occupancy = await wallboard.read_occupancy(session, workspace_id, structure, now)
        fresh = boards.Board(structure)
        fresh.load = boards.Changes(rows=rows, replies=replies, log=log_rows, occupancy=occupancy)
        fresh.log_read_at = now
        return fresh

    async def _read_changes(self, session, workspace_id, board, structure, dirty, people, now):
        """What changed since the board's last update (``structure`` None: the small
        tables were not read again)."""
        rows = await wallboard.read_conversations(session, workspace_id, dirty)
        for conversation_id, row in rows.items():
            for r in (board.rows.get(conversation_id), row):
                if r is not None:
                    people.update(a for a in (r.assigned_agent_id, r.offered_agent_id) if a)
        replies = await wallboard.read_last_replies(session, people) if people else {}
        since = board.structure.midnight
        if board.log_read_at is not None:
            since = max(since, board.log_read_at - wallboard.LOG_LOOKBACK)
        log_rows = await wallboard.read_log(session, workspace_id, since)
        board.log_read_at = now
        return boards.Changes(structure=structure, rows=rows, replies=replies, log=log_rows)

    async def _deliver(self, message: Any) -> None:
        for deliver in tuple(self._subscribers):
            try:
                await deliver(message)
            except Exception:
                log.exception("wallboard delivery failed")

    # ------------------------------------------------------------------ reading

    async def current(self, workspace_id: int) -> tuple[int, dict[str, Any]]:
        """The board's version and whole snapshot, including every event noticed before
        this call (an update is run first when some are not in yet)."""
        space = self._space(workspace_id)
        wanted, failures = space.wanted, 0
        while space.board is None or space.done < wanted:
            if space.pending is not None:
                space.pending.cancel()
                space.pending = None
            if space.running is None:
                self._start(workspace_id)
            await asyncio.shield(space.running)
            if space.board is None:
                failures += 1
                if failures >= 2:
                    raise RuntimeError("the wallboard could not be read")
        cached = space.snapshot
        if cached is not None and cached[0] == space.version:
            return cached
        async with space.lock:
            version = space.version
            snapshot = await asyncio.to_thread(space.board.snapshot, datetime.now(UTC))
        snapshot["version"] = version
        snapshot["compute_ms"] = round(space.last_took * 1000, 1)
        snapshot["feed"] = self.stats()
        space.snapshot = (version, snapshot)
        return space.snapshot

    def stats(self) -> dict[str, Any]:
        """This process's feed so far (operators and the benchmark read it)."""
        took = sorted(self.update_seconds)
        return {
            "updates": self.computed,
            "full_reads": self.full_reads,
            "corrections": self.corrections,
            "worker_cpu_ms": round(self.update_cpu * 1000, 1),
            "reconcile_cpu_ms": round(self.reconcile_cpu * 1000, 1),
            "update_p50_ms": round(took[len(took) // 2] * 1000, 1) if took else None,
        }

    async def snapshot(self, workspace_id: int) -> dict[str, Any]:
        """The whole snapshot now (see ``current``)."""
        return (await self.current(workspace_id))[1]

    async def rendered(self, workspace_id: int, limit: int | None = None) -> bytes:
        """The whole snapshot as JSON bytes (its first ``limit`` conversations), rendered
        once per version and limit for all readers, in a worker thread."""
        version, snapshot = await self.current(workspace_id)
        space = self._space(workspace_id)
        cached = space.rendered.get(limit)
        if cached is None or cached[0] != version:
            task = asyncio.get_running_loop().create_task(
                asyncio.to_thread(_render, snapshot, limit)
            )
            cached = space.rendered[limit] = (version, task)
        return await asyncio.shield(cached[1])


def _today(board: boards.Board, now: datetime):
    return day_bounds(now, board.structure.timezone)[1]


def _render(snapshot: dict[str, Any], limit: int | None) -> bytes:
    return json.dumps(page(snapshot, limit, "all"), separators=(",", ":")).encode()
