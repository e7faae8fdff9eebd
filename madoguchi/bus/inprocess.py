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
        self._handlers: dict[type[Event], list[Handler]] = defaultdict(list)
        self._catch_all: list[Handler] = []

    def subscribe(self, event_type: type[Event] | None, handler: Handler) -> None:
        """Call ``handler`` for every event of ``event_type`` (None: every event)."""
        if event_type is None:
            self._catch_all.append(handler)
        else:
            self._handlers[event_type].append(handler)

    async def publish(self, events: list[Event] | tuple[Event, ...]) -> None:
        for event in events:
            # Catch-all handlers (the realtime fan-out) first: browsers see an event before
            # the work it triggers (routing, flows) publishes its own.
            for handler in (*self._catch_all, *self._handlers.get(type(event), ())):
                try:
                    await handler(event)
                except Exception:
                    log.exception("event handler %r failed on %s", handler, event.name)
                # Handlers are many and SQLite calls do not yield: let waiting requests
                # (Meta's webhooks above all) in between them.
                await asyncio.sleep(0)
