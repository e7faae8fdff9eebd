"""The in-process event bus of the embedded mode.

It knows no handlers by itself: the composition root subscribes them. A failing handler is
logged and does not stop the others, because the event's cause is already committed and
one broken listener must not hide an inbound message from the rest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable

from madoguchi.domain.events import Event

log = logging.getLogger(__name__)

Handler = Callable[[Event], Awaitable[None]]

# Handlers are many and SQLite calls do not yield: after a handler, the bus lets waiting
# requests (Meta's webhooks above all) in once this long has passed since it last did.
# It yielded after every handler call: a slice of 2,000 statuses published 4,000 turns
# of the event loop, each of which let the campaign feeder or the sender run, and the
# journal's processor waited ~12 s for its own publish between two slices (a minute
# behind after a campaign's status webhooks stopped; docs/benchmarks.md, Campaigns).
YIELD_SECONDS = 0.002


class InProcessBus:
    def __init__(self) -> None:
        # Per event type, in subscription order: (handler, takes a list of events).
        self._handlers: dict[type[Event], list[tuple[Callable, bool]]] = defaultdict(list)
        self._catch_all: list[Handler] = []
        self._yielded = time.perf_counter()  # when the bus last let the loop run others

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

    async def _call(self, handler: Callable, arg, name: str) -> None:
        try:
            await handler(arg)
        except Exception:
            log.exception("event handler %r failed on %s", handler, name)
        if time.perf_counter() - self._yielded >= YIELD_SECONDS:
            await asyncio.sleep(0)  # let waiting requests in (see YIELD_SECONDS)
            self._yielded = time.perf_counter()
