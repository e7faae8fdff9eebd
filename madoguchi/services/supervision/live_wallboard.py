"""The wallboard, live: one snapshot per workspace shared by every viewer, and a nudge
to their browsers when it changed.

Every event of the realtime fan-out (so every process sees every process's events)
bumps its workspace's version. A nudge (``WallboardChanged``) goes to this process's
sockets at most once per ``interval`` per workspace, however many events arrived, and
browsers then re-read ``GET /api/v1/wallboard`` — no polling loop anywhere. A read
gets a snapshot that includes every event noticed before it; the computation is shared
by every reader waiting at that moment, and spaced (the next one starts no sooner than
``interval`` after the previous, or three times the previous one's duration when that
is longer), then cut to each viewer's queues, so fifty
supervisors under fifty events a second cost at most 1/``interval`` computations a
second, not one per reader per event. A snapshot older than ``max_age`` is recomputed
anyway.

A computation is incremental: the feed keeps each workspace's ``wallboard.Facts`` and
re-reads only what the events since the last one name (their conversations, the
agents of those, the lifecycle log since its last read) plus the small tables (queues,
members, presence, people); the snapshot is then assembled from the facts in a worker
thread, off the event loop. Every ``full_every`` seconds, after a lost Redis
subscription (``resync``) and at the workspace's midnight the facts are read whole
again, which corrects anything the events did not announce (a change made straight in
the database, a lifecycle row committed out of order on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from madoguchi.domain.events import AccountEventReceived, Event, MediaStored, WallboardChanged
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


Deliver = Callable[[Event], Awaitable[None]]
# Events that change nothing the wallboard shows.
_IGNORED = (WallboardChanged, AccountEventReceived, MediaStored)


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
        self.max_age = max_age
        self.full_every = full_every
        self._facts: dict[int, wallboard.Facts] = {}
        self._full_at: dict[int, float] = {}
        self._dirty: dict[int, set[int]] = {}  # conversations named by events since
        self._people: dict[int, set[int]] = {}  # people whose last reply may have moved
        self.full_reads = 0  # computations that read everything (tests and bench read it)
        self._versions: dict[int, int] = {}
        self._pending: dict[int, asyncio.TimerHandle] = {}
        self._cache: dict[int, tuple[int, float, dict[str, Any]]] = {}
        self._computing: dict[int, asyncio.Task] = {}
        self._last_start: dict[int, float] = {}
        self._last_took: dict[int, float] = {}
        self._rendered: dict[tuple[int, int | None], tuple[tuple, asyncio.Task]] = {}
        self._subscribers: list[Deliver] = []
        self._tasks: set[asyncio.Task] = set()
        self.computed = 0  # snapshots built (the benchmark reads it)

    # ------------------------------------------------------------------ nudges

    def subscribe(self, deliver: Deliver) -> None:
        """``deliver`` (a hub's dispatch) receives the coalesced ``WallboardChanged``."""
        self._subscribers.append(deliver)

    def unsubscribe(self, deliver: Deliver) -> None:
        if deliver in self._subscribers:
            self._subscribers.remove(deliver)

    async def notice(self, event: Event) -> None:
        """A fan-out listener: an event happened somewhere in the workspace."""
        if isinstance(event, _IGNORED):
            return
        workspace_id = event.workspace_id
        conversation_id = getattr(event, "conversation_id", None)
        if conversation_id is not None:
            self._dirty.setdefault(workspace_id, set()).add(conversation_id)
        for attribute in ("agent_id", "previous_agent_id", "author_id", "supervisor_id"):
            person = getattr(event, attribute, None)
            if person is not None:
                self._people.setdefault(workspace_id, set()).add(person)
        self.touch(workspace_id)

    def touch(self, workspace_id: int) -> None:
        self._versions[workspace_id] = self._versions.get(workspace_id, 0) + 1
        if workspace_id not in self._pending:
            loop = asyncio.get_running_loop()
            self._pending[workspace_id] = loop.call_later(self.interval, self._flush, workspace_id)

    def resync(self, reason: str) -> None:
        """Events may have been missed: every snapshot is stale, read everything again."""
        self._cache.clear()
        self._facts.clear()
        for workspace_id in list(self._versions):
            self.touch(workspace_id)

    def _flush(self, workspace_id: int) -> None:
        self._pending.pop(workspace_id, None)
        event = WallboardChanged(
            workspace_id=workspace_id, version=self._versions.get(workspace_id, 0)
        )
        task = asyncio.get_running_loop().create_task(self._deliver(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, event: Event) -> None:
        for deliver in tuple(self._subscribers):
            try:
                await deliver(event)
            except Exception:
                log.exception("wallboard nudge failed")

    async def stop(self) -> None:
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()
        for task in tuple(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ------------------------------------------------------------------ snapshots

    async def snapshot(self, workspace_id: int) -> dict[str, Any]:
        """A snapshot that includes every event noticed before this call.

        Computations are shared and spaced: at most one runs per workspace, and the next
        starts no sooner than ``interval`` after the previous one started, so a stream of
        events and many readers cost a bounded number of computations per second.
        """
        return (await self._snapshot(workspace_id))[2]

    async def rendered(self, workspace_id: int, limit: int | None = None) -> bytes:
        """The whole snapshot as JSON bytes (its first ``limit`` conversations), rendered
        once per snapshot and limit for all readers."""
        version, started, snapshot = await self._snapshot(workspace_id)
        key = (version, started)
        cached = self._rendered.get((workspace_id, limit))
        if cached is None or cached[0] != key:
            # Rendered in a worker thread, shared by the readers arriving meanwhile.
            task = asyncio.get_running_loop().create_task(
                asyncio.to_thread(_render, snapshot, limit)
            )
            cached = self._rendered[(workspace_id, limit)] = (key, task)
        return await asyncio.shield(cached[1])

    async def _snapshot(self, workspace_id: int) -> tuple[int, float, dict[str, Any]]:
        wanted = self._versions.get(workspace_id, 0)
        while True:
            cached = self._cache.get(workspace_id)
            if (
                cached is not None
                and cached[0] >= wanted
                and time.monotonic() - cached[1] < self.max_age
            ):
                return cached
            running = self._computing.get(workspace_id)
            if running is None:
                running = asyncio.get_running_loop().create_task(self._compute(workspace_id))
                self._computing[workspace_id] = running
            await asyncio.shield(running)

    async def _compute(self, workspace_id: int) -> None:
        try:
            # Spaced by the interval, or by three times the last computation's duration
            # when that is longer: the wallboard takes at most about a quarter of the
            # event loop, whatever the size of the operation, and ingest keeps the rest.
            gap = max(self.interval, 3 * self._last_took.get(workspace_id, 0.0))
            wait = self._last_start.get(workspace_id, -1e9) + gap - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            started = time.monotonic()
            self._last_start[workspace_id] = started
            version = self._versions.get(workspace_id, 0)
            facts, full = await self._read(workspace_id, started)
            # The assembly (every figure, 5,000 conversations sorted) off the event loop.
            now = datetime.now(UTC)
            result = await asyncio.to_thread(wallboard.assemble, facts.frozen(), now)
            took = time.monotonic() - started
            if not full:  # a full read now and then does not space out the next ones
                self._last_took[workspace_id] = took
            result["compute_ms"] = round(took * 1000, 1)
            self.computed += 1
            self._cache[workspace_id] = (version, started, result)
        finally:
            self._computing.pop(workspace_id, None)

    async def _read(self, workspace_id: int, started: float) -> tuple[wallboard.Facts, bool]:
        """The workspace's facts brought up to date: what the events since the last
        read named, or everything when due (see the module doc)."""
        facts = self._facts.get(workspace_id)
        dirty = self._dirty.pop(workspace_id, set())
        people = self._people.pop(workspace_id, set())
        now = datetime.now(UTC)
        try:
            async with self.db.read() as session:
                full = facts is None or started - self._full_at.get(workspace_id, -1e9) >= (
                    self.full_every
                )
                if not full:
                    fresh = await wallboard.load_structure(session, workspace_id, now, facts)
                    full = fresh is not facts  # a new day (or time zone): read it all
                if full:
                    self._full_at[workspace_id] = started
                    self.full_reads += 1
                    facts = await wallboard.load_all(session, workspace_id, now)
                else:
                    agents = await wallboard.load_conversations(session, workspace_id, facts, dirty)
                    if agents or people:
                        await wallboard.load_last_replies(session, facts, agents | people)
                    await wallboard.load_today(session, workspace_id, facts, now)
        except BaseException:
            self._facts.pop(workspace_id, None)  # what the events named is lost: read all
            raise
        self._facts[workspace_id] = facts
        return facts, full


def _render(snapshot: dict[str, Any], limit: int | None) -> bytes:
    return json.dumps(page(snapshot, limit, "all"), separators=(",", ":")).encode()
