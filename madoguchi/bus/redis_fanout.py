"""Realtime fan-out across processes through Redis pub/sub (scaled mode).

``publish`` delivers the event to this process's listeners at once, then queues it for
Redis; a publisher task sends the queue (pipelined when it backs up) on one channel,
``<prefix>:events``, as ``{"origin": <process id>, "event": event.to_dict()}``. A
subscriber task hands every message from the *other* processes to the local listeners
(a process skips its own: it delivered them already, in order, even with Redis down).

Redis is a convenience, never a dependency of correctness: while it is unreachable the
app keeps serving, events keep reaching this process's sockets, outgoing events wait in a
bounded queue (oldest dropped first), and both tasks reconnect with capped exponential
backoff, logging once per outage. When the subscription comes back, events of the other
processes may have been missed: the gap listeners are told so (the hub asks its clients to
re-read state).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import uuid
from collections import deque
from itertools import islice

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from madoguchi.bus.fanout import _Listeners
from madoguchi.domain.events import Event, event_from_dict
from madoguchi.security.redact import redact_url

log = logging.getLogger(__name__)

PUBLISH_BATCH = 200


class RedisFanOut(_Listeners):
    def __init__(
        self,
        url: str,
        prefix: str = "madoguchi",
        *,
        max_pending: int = 10_000,
        min_backoff: float = 0.05,
        max_backoff: float = 5.0,
        startup_wait: float = 3.0,
    ) -> None:
        super().__init__()
        self.url = url
        self.channel = f"{prefix}:events"
        self.origin = uuid.uuid4().hex[:16]
        self.max_pending = max_pending
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.startup_wait = startup_wait
        self.subscribed = asyncio.Event()
        self.dropped = 0  # events never sent because the queue overflowed
        self._pending: deque[str] = deque()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._pub: aioredis.Redis | None = None
        self._sub: aioredis.Redis | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        # No hidden retries inside redis-py: the loops below own reconnection, so an
        # outage is seen (and its gap reported) instead of being papered over.
        self._pub = aioredis.from_url(
            self.url, socket_connect_timeout=5, socket_timeout=5, retry=Retry(NoBackoff(), 0)
        )
        self._sub = aioredis.from_url(
            self.url,
            socket_connect_timeout=5,
            socket_keepalive=True,
            health_check_interval=15,
            client_name=f"madoguchi-fanout-{self.origin}",
            retry=Retry(NoBackoff(), 0),
        )
        self._tasks = [
            asyncio.create_task(self._subscribe_loop(), name="redis-fanout-subscribe"),
            asyncio.create_task(self._publish_loop(), name="redis-fanout-publish"),
        ]
        # A fresh process should not serve sockets before it hears the other processes;
        # but a Redis outage must not stop it from starting either.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), self.startup_wait)
        if not self.subscribed.is_set():
            log.warning(
                "Redis fan-out not subscribed yet at %s; starting anyway", redact_url(self.url)
            )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for client in (self._pub, self._sub):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()
        self._pub = self._sub = None

    # ------------------------------------------------------------------ publishing

    async def publish(self, event: Event) -> None:
        await self._deliver_local(event)
        payload = json.dumps(
            {"origin": self.origin, "event": event.to_dict()}, separators=(",", ":")
        )
        if len(self._pending) >= self.max_pending:
            self._pending.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("Redis fan-out queue full: %d events dropped so far", self.dropped)
        self._pending.append(payload)
        self._wake.set()

    async def _publish_loop(self) -> None:
        backoff = self.min_backoff
        failing = False
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = list(islice(self._pending, PUBLISH_BATCH))
            try:
                if len(batch) == 1:
                    await self._pub.publish(self.channel, batch[0])
                else:
                    async with self._pub.pipeline(transaction=False) as pipe:
                        for payload in batch:
                            pipe.publish(self.channel, payload)
                        await pipe.execute()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not failing:
                    log.warning(
                        "Redis fan-out cannot publish (%s: %s); %d events waiting, retrying",
                        type(exc).__name__,
                        exc,
                        len(self._pending),
                    )
                failing = True
                await asyncio.sleep(_jitter(backoff))
                backoff = min(backoff * 2, self.max_backoff)
                continue
            # Only what was sent leaves the queue (overflow may have trimmed its head
            # meanwhile: never pop more than is there).
            for _ in range(min(len(batch), len(self._pending))):
                self._pending.popleft()
            if failing:
                log.info("Redis fan-out publishing again")
                failing = False
            backoff = self.min_backoff

    # ------------------------------------------------------------------ subscribing

    async def _subscribe_loop(self) -> None:
        backoff = self.min_backoff
        lost = False
        while True:
            pubsub = self._sub.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                async for message in pubsub.listen():
                    kind = message.get("type")
                    if kind == "subscribe":
                        self.subscribed.set()
                        backoff = self.min_backoff
                        if lost:
                            log.info("Redis fan-out subscribed again to %s", self.channel)
                            self._notify_gap("bus reconnected")
                            lost = False
                    elif kind == "message":
                        await self._receive(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not lost:
                    log.warning(
                        "Redis fan-out subscription lost (%s: %s); reconnecting",
                        type(exc).__name__,
                        exc,
                    )
                lost = True
                self.subscribed.clear()
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(_jitter(backoff))
            backoff = min(backoff * 2, self.max_backoff)

    async def _receive(self, data: bytes | str) -> None:
        try:
            envelope = json.loads(data)
            if envelope.get("origin") == self.origin:
                return
            event = event_from_dict(envelope["event"])
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            # A newer process may publish an event this one does not know (rolling deploy).
            log.warning("Redis fan-out ignored a message it cannot read: %s", exc)
            return
        await self._deliver_local(event)


async def publish_once(url: str, prefix: str, events: list[Event]) -> None:
    """``events`` to every process listening on ``prefix``, from a process outside the
    fan-out (a CLI command: ``madoguchi apply`` telling the servers that queues changed)."""
    client = aioredis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    origin = uuid.uuid4().hex[:16]
    try:
        for event in events:
            payload = {"origin": origin, "event": event.to_dict()}
            await client.publish(f"{prefix}:events", json.dumps(payload, separators=(",", ":")))
    finally:
        await client.aclose()


def _jitter(delay: float) -> float:
    return delay * (0.5 + random.random() / 2)
