"""The in-process event bus of the embedded mode.

It knows no handlers by itself: the composition root subscribes them. A failing handler is
logged and does not stop the others, because the event's cause is already committed and
one broken listener must not hide an inbound message from the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable

from madoguchi.domain.events import Event

log = logging.getLogger(__name__)

Handler = Callable[[Event], Awaitable[None]]


class InProcessBus:
    def __init__(self) -> None:
        # Per event type, in subscription order: (handler, takes a list of events).
        self._handlers: dict[type[Event], list[tuple[Callable, bool]]] = defaultdict(list)
        self._catch_all: list[Handler] = []

    def subscribe(self, event_type: type[Event] | None, handler: Handler) -> None:
        """Call ``handler`` for every event of ``event_type`` (None: every event)."""
        if event_type is None:
            self._catch_all.append(handler)
        else:
            self._handlers[event_type].append((handler, False))

    def subscribe_many(
        self, event_type: type[Event], handler: Callable[[list[Event]], Awaitable[None]]
    ) -> None:
        """Call ``handler`` once with every event of ``event_type`` that one publish
        carries in a row (a batch of inbound messages: one read for all, not one each)."""
        self._handlers[event_type].append((handler, True))

    async def publish(self, events: list[Event] | tuple[Event, ...]) -> None:
        """Each run of events of one type: the catch-all handlers (the realtime fan-out)
        for each first, so browsers see an event before the work it triggers (routing,
        flows) publishes its own; then each handler of the type in subscription order,
        with each event or, subscribed with ``subscribe_many``, the run at once."""
        start = 0
        while start < len(events):
            kind = type(events[start])
            end = start + 1
            while end < len(events) and type(events[end]) is kind:
                end += 1
            run = list(events[start:end])
            start = end
            for event in run:
                for handler in self._catch_all:
                    await self._call(handler, event, event.name)
            for handler, many in self._handlers.get(kind, ()):
                if many:
                    await self._call(handler, run, run[0].name)
                    continue
                for event in run:
                    await self._call(handler, event, event.name)

    @staticmethod
    async def _call(handler: Callable, arg, name: str) -> None:
        try:
            await handler(arg)
        except Exception:
            log.exception("event handler %r failed on %s", handler, name)
        # Handlers are many and SQLite calls do not yield: let waiting requests
        # (Meta's webhooks above all) in between them.
        await asyncio.sleep(0)
