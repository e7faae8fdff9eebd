"""Realtime fan-out: every event reaches the websocket hub of every app process.

Domain handlers (routing, flows) run once, in the process that published the event; the
bus does that. Websockets, though, are spread over all processes, so the runtime also
subscribes a fan-out to every event. ``LocalFanOut`` (embedded mode) hands the event to
this process's hub; ``RedisFanOut`` (scaled mode, ``bus/redis_fanout.py``) also carries it
to every other process.

Listeners are the hub's ``dispatch`` (an event) and, optionally, a gap callback: called
when events may have been missed (the Redis subscription was lost and re-established), so
the hub can tell its clients to re-read state.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from madoguchi.domain.events import Event

log = logging.getLogger(__name__)

Listener = Callable[[Event], Awaitable[None]]
GapListener = Callable[[str], None]


class FanOut(Protocol):
    def add_listener(self, listener: Listener, on_gap: GapListener | None = None) -> None: ...

    def remove_listener(self, listener: Listener) -> None: ...

    async def publish(self, event: Event) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class _Listeners:
    """The local side shared by both fan-outs: call every listener, never raise."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._gap_listeners: dict[Listener, GapListener] = {}

    def add_listener(self, listener: Listener, on_gap: GapListener | None = None) -> None:
        self._listeners.append(listener)
        if on_gap is not None:
            self._gap_listeners[listener] = on_gap

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)
        self._gap_listeners.pop(listener, None)

    async def _deliver_local(self, event: Event) -> None:
        for listener in tuple(self._listeners):
            try:
                await listener(event)
            except Exception:
                log.exception("realtime listener %r failed on %s", listener, event.name)

    def _notify_gap(self, reason: str) -> None:
        for on_gap in tuple(self._gap_listeners.values()):
            try:
                on_gap(reason)
            except Exception:
                log.exception("realtime gap listener %r failed", on_gap)


class LocalFanOut(_Listeners):
    """One process: the event goes straight to this process's listeners."""

    async def publish(self, event: Event) -> None:
        await self._deliver_local(event)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
