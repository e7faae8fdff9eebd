"""Webhook delivery like Meta's: signed POSTs, at least once, retried with back-off."""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx

from madoguchi.http_transport import exchange, pooled_transport

from . import signing
from .config import SimulatorConfig
from .state import Clock


def encode(body: dict) -> bytes:
    """The exact bytes posted: compact JSON with non-ASCII escaped, as Meta sends it."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=True).encode()


@dataclass
class Delivery:
    id: int
    kind: str  # message | status | template_status
    summary: str
    body: dict
    raw: bytes
    signature: str
    created_at: float
    state: str = "pending"  # pending | retrying | delivered | gave_up | skipped
    attempts: list[dict] = field(default_factory=list)
    next_attempt_at: float | None = None
    first_attempt: asyncio.Future | None = None
    on_delivered: Callable[[], None] | None = None

    def public(self, *, with_body: bool = True) -> dict:
        data = {
            "id": self.id,
            "kind": self.kind,
            "summary": self.summary,
            "state": self.state,
            "created_at": self.created_at,
            "attempts": list(self.attempts),
            "next_attempt_at": self.next_attempt_at,
            "signature": self.signature,
        }
        if with_body:
            data["body"] = self.body
        return data


class Deliverer:
    """Posts webhooks to `config.webhook_url` in background tasks and keeps a log."""

    def __init__(self, config: SimulatorConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.log: OrderedDict[int, Delivery] = OrderedDict()
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task] = set()
        self._semaphore: asyncio.Semaphore | None = None
        self._transport: httpx.AsyncBaseTransport | None = None
        self._url: tuple[str, httpx.URL] | None = None  # parsed once per configured URL
        self._timeouts = httpx.Timeout(config.delivery_timeout_seconds).as_dict()

    async def start(self) -> None:
        self._semaphore = asyncio.Semaphore(self.config.delivery_concurrency)
        # Webhooks go straight to the transport (``http_transport.exchange``): at a
        # 1,000/s sender's two status webhooks per send, a client's per-call work was a
        # large share of the simulator's CPU on a machine it shares with the product.
        self._transport = pooled_transport(
            httpx.Limits(max_connections=self.config.delivery_concurrency)
        )

    async def stop(self) -> None:
        await self.cancel_all()
        if self._transport is not None:
            await self._transport.aclose()
            self._transport = None

    # ---------------------------------------------------------------- tasks

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        """Run `coro` in the background; cancelled on reset and shutdown."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def cancel_all(self) -> None:
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def reset(self) -> None:
        await self.cancel_all()
        self.log.clear()

    # ------------------------------------------------------------- delivery

    def deliver(
        self,
        kind: str,
        body: dict,
        summary: str,
        *,
        on_delivered: Callable[[], None] | None = None,
    ) -> Delivery:
        """Queue `body` for signed delivery; `on_delivered` runs once it is acknowledged."""
        raw = encode(body)
        delivery = Delivery(
            id=next(self._ids),
            kind=kind,
            summary=summary,
            body=body,
            raw=raw,
            signature=signing.signature(raw, self.config.app_secret),
            created_at=self.clock.now(),
            first_attempt=asyncio.get_running_loop().create_future(),
            on_delivered=on_delivered,
        )
        self.log[delivery.id] = delivery
        while len(self.log) > self.config.delivery_log_size:
            self.log.popitem(last=False)
        self.spawn(self._run(delivery))
        return delivery

    def redeliver(self, delivery_id: int) -> Delivery | None:
        """Post the same body again: the duplicate Meta's at-least-once delivery allows."""
        original = self.log.get(delivery_id)
        if original is None:
            return None
        return self.deliver(original.kind, original.body, f"{original.summary} (duplicate)")

    async def _run(self, delivery: Delivery) -> None:
        try:
            if not self.config.webhook_url:
                delivery.state = "skipped"
                return
            for attempt in range(1, self.config.delivery_max_attempts + 1):
                delivery.next_attempt_at = None
                assert self._semaphore is not None
                async with self._semaphore:
                    ok = await self._attempt(delivery)
                self._settle_first(delivery)
                if ok:
                    delivery.state = "delivered"
                    if delivery.on_delivered is not None:
                        delivery.on_delivered()
                    return
                if attempt == self.config.delivery_max_attempts:
                    delivery.state = "gave_up"
                    return
                delay = min(
                    self.config.delivery_backoff_seconds * 2 ** (attempt - 1),
                    self.config.delivery_backoff_max_seconds,
                )
                delivery.state = "retrying"
                delivery.next_attempt_at = self.clock.now() + delay
                await asyncio.sleep(delay)
        finally:
            self._settle_first(delivery)

    @staticmethod
    def _settle_first(delivery: Delivery) -> None:
        if delivery.first_attempt is not None and not delivery.first_attempt.done():
            delivery.first_attempt.set_result(None)

    async def _attempt(self, delivery: Delivery) -> bool:
        assert self._transport is not None and self.config.webhook_url
        started = time.monotonic()
        record: dict[str, Any] = {"at": self.clock.now(), "status_code": None, "error": None}
        if self._url is None or self._url[0] != self.config.webhook_url:
            self._url = (self.config.webhook_url, httpx.URL(self.config.webhook_url))
        request = httpx.Request(
            "POST",
            self._url[1],
            content=delivery.raw,
            headers={
                "User-Agent": "facebookexternalua",
                "Content-Type": "application/json",
                signing.HEADER: delivery.signature,
            },
            extensions={"timeout": self._timeouts},
        )
        try:
            response = await exchange(self._transport, request)
            record["status_code"] = response.status_code
            ok = 200 <= response.status_code < 300
        except httpx.HTTPError as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"[:300]
            ok = False
        record["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
        delivery.attempts.append(record)
        return ok

    async def wait_first_attempt(self, delivery: Delivery) -> None:
        if delivery.first_attempt is not None:
            await asyncio.shield(delivery.first_attempt)

    async def verify_subscription(self) -> dict:
        """Meta's subscription handshake: GET the webhook URL with hub.* parameters."""
        if not self.config.webhook_url:
            return {"ok": False, "status_code": None, "error": "no webhook_url configured"}
        challenge = str(secrets.randbelow(10**9))
        try:
            async with httpx.AsyncClient(
                timeout=self.config.delivery_timeout_seconds,
                headers={"User-Agent": "facebookexternalua"},
            ) as client:
                response = await client.get(
                    self.config.webhook_url,
                    params={
                        "hub.mode": "subscribe",
                        "hub.verify_token": self.config.verify_token,
                        "hub.challenge": challenge,
                    },
                )
        except httpx.HTTPError as exc:
            return {"ok": False, "status_code": None, "error": str(exc)}
        ok = response.status_code == 200 and response.text.strip() == challenge
        return {
            "ok": ok,
            "status_code": response.status_code,
            "challenge": challenge,
            "body": response.text[:200],
        }
