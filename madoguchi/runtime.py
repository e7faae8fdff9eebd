"""The composition root: builds every adapter and wires the event handlers.

This is the one place that knows which capability listens to which event, so every other
import points down the layers and each capability can be read, tested or removed alone.
The web app, the CLI and the tests all build a ``Runtime`` the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine

from madoguchi.bus.fanout import FanOut, LocalFanOut
from madoguchi.bus.inprocess import InProcessBus
from madoguchi.domain.events import MessageQueued, MessageReceived
from madoguchi.metrics import Metrics
from madoguchi.security.secrets import SecretBox
from madoguchi.services import templates
from madoguchi.services.flow_runner import FlowRunner
from madoguchi.services.journal import DeliveryProcessor, Journal
from madoguchi.services.media import MediaDownloader
from madoguchi.services.routing_engine import RoutingEngine
from madoguchi.services.sender import Sender
from madoguchi.services.timers import TimerWorker
from madoguchi.settings import Settings
from madoguchi.store.db import Database
from madoguchi.store.media_store import LocalMediaStore
from madoguchi.whatsapp.graph import GraphClient

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: Settings, *, db: Database | None = None) -> None:
        self.settings = settings
        self.db = db or Database(settings.database_url)
        self.metrics = Metrics()
        self.bus = InProcessBus()
        self.fanout = self._make_fanout(settings)
        self.secrets = SecretBox(settings.secret_key.get_secret_value())
        self.media_store = LocalMediaStore(settings.media_dir)
        self.graph = GraphClient(
            settings.graph_api_url,
            settings.graph_api_version,
            timeout=settings.http_timeout_seconds,
        )
        self.journal = Journal(self.db, self.metrics)
        self.processor = DeliveryProcessor(
            self.db,
            self.bus.publish,
            acknowledgements_done=self.journal.quiet,
            arrival_rate=self.journal.arrival_rate,
        )
        self.journal.on_commit = self.processor.wake
        self.media = MediaDownloader(self)
        self.sender = Sender(self)
        self.timers = TimerWorker(self.db)
        self.routing = RoutingEngine(self)
        self.flows = FlowRunner(self)
        self._tasks: list[asyncio.Task] = []
        self._wire()

    def _wire(self) -> None:
        async def wake_media(event: MessageReceived) -> None:
            self.media.wake()

        async def wake_sender(event: MessageQueued) -> None:
            self.sender.wake()

        self.bus.subscribe(MessageReceived, wake_media)
        self.bus.subscribe(MessageQueued, wake_sender)
        # Flows before routing: a new conversation on a number with a flow goes in_flow
        # first, and the routing engine (which routes only `new` ones) leaves it alone.
        self.flows.wire()
        self.routing.wire()
        # Templates (status/quality webhooks), marketing opt-out, the window closed by Meta.
        templates.wire(self.bus, self.db, self.settings)
        # Realtime: every event reaches the websocket hub of every process.
        self.bus.subscribe(None, self.fanout.publish)

    @staticmethod
    def _make_fanout(settings: Settings) -> FanOut:
        if settings.redis_url:
            from madoguchi.bus.redis_fanout import RedisFanOut

            return RedisFanOut(settings.redis_url, settings.redis_channel)
        return LocalFanOut()

    def _spawn(self, coro: Coroutine) -> None:
        self._tasks.append(asyncio.create_task(coro))

    async def start(self, *, workers: bool = True) -> None:
        await self.fanout.start()
        # Webhook processing is part of receiving webhooks, not an optional worker.
        self._spawn(self.processor.run())
        if workers:
            self._spawn(self.media.run())
            self._spawn(self.timers.run())
            self._spawn(self.routing.run())
            if self.settings.sender_enabled:
                self._spawn(self.sender.run())

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.sender.stop()  # rows not yet sent go back to pending
        await self.fanout.stop()
        await self.journal.close()
        await self.graph.aclose()
        await self.flows.aclose()
        await self.db.dispose()
