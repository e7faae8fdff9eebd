"""Durable timers: rows that fire once when due, after any number of restarts.

Offer timeouts, queue overflow, auto-close and flow waits are all "do X at T". Keeping
them in memory would lose them on a restart, so each is a ``timers`` row; a worker claims
due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so with several processes each timer
fires in exactly one) and calls the handler registered for its kind. A handler re-checks
the state it acts on, so a timer that lost its reason (the offer was accepted meanwhile)
does nothing. A timer fires at most once: a crash between its claim and its handler
loses that one firing, which is why the routing engine also sweeps its queues.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.store.db import Database
from madoguchi.store.models import Timer

log = logging.getLogger(__name__)

TimerHandler = Callable[[Timer], Awaitable[None]]
POLL_SECONDS = 0.5


async def schedule(
    session: AsyncSession,
    workspace_id: int,
    kind: str,
    ref_id: int,
    due_at: datetime,
    payload: dict | None = None,
    *,
    replace: bool = True,
) -> Timer:
    """Add a timer; by default it replaces the pending one of the same kind and ref."""
    if replace:
        await cancel(session, kind, ref_id)
    timer = Timer(
        workspace_id=workspace_id, kind=kind, ref_id=ref_id, due_at=due_at, payload=payload
    )
    session.add(timer)
    await session.flush()
    return timer


async def cancel(session: AsyncSession, kind: str, ref_id: int) -> None:
    await session.execute(
        update(Timer)
        .where(Timer.kind == kind, Timer.ref_id == ref_id, Timer.state == "pending")
        .values(state="cancelled")
    )


class TimerWorker:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.handlers: dict[str, TimerHandler] = {}
        self._wake = asyncio.Event()

    def register(self, kind: str, handler: TimerHandler) -> None:
        self.handlers[kind] = handler

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                fired = await self.fire_due()
            except Exception:
                log.exception("firing timers failed")
                fired = 0
            if fired:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)

    async def fire_due(self, now: datetime | None = None, limit: int = 100) -> int:
        """Claim and run every due timer (up to ``limit``); returns how many fired."""
        now = now or datetime.now(UTC)
        async with self.db.write() as session:
            timers = (
                await session.scalars(
                    select(Timer)
                    .where(Timer.state == "pending", Timer.due_at <= now)
                    .order_by(Timer.due_at, Timer.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for timer in timers:
                timer.state, timer.fired_at = "fired", now
        for timer in timers:
            handler = self.handlers.get(timer.kind)
            if handler is None:
                log.error("no handler for timer kind %r (timer %s)", timer.kind, timer.id)
                continue
            try:
                await handler(timer)
            except Exception:
                log.exception("timer %s (%s) failed", timer.id, timer.kind)
        return len(timers)
