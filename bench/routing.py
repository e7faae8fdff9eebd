"""Routing: offers per second with 500 agents on websockets, and message→offer latency.

Setup: ``madoguchi serve`` on a fresh SQLite file; a workspace with ``agents`` agents in
one queue (capacity ``capacity`` each, so ``agents × capacity`` = ``conversations``) that
is the number's default queue; one API token per agent; every agent holds a websocket to
``/api/v1/ws`` opened by this process, which records when each ``conversation.offer``
reaches the agent's socket.

1. Throughput: ``conversations`` customers write (signed webhooks) while every agent is
   away, so all of them wait in the queue; then every agent is set available at once and
   the clock runs until the last offer reached its socket → offers (assignments) per
   second, i.e. the routing engine's capacity-checked, row-locked offer rate.
2. Latency: capacity is raised by one (``agents`` free slots) and ``latency_messages``
   customers write one at a time at ``latency_rate`` per second → time from the webhook
   POST leaving this process to the offer arriving on the agent's socket, p50/p99.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import websockets

from bench import procs
from bench.stats import fmt_ms, latency_summary
from madoguchi.simulator import payloads
from madoguchi.whatsapp.signature import sign

WABA = "200000000000077"
NUMBER = {"phone_number_id": "100000000000077", "display_phone_number": "15550177", "waba_id": WABA}


@dataclass(frozen=True)
class RoutingConfig:
    agents: int = 500
    conversations: int = 5000
    capacity: int = 10
    latency_messages: int = 300
    latency_rate: float = 20.0
    timeout: float = 600.0


def _workspace(cfg: RoutingConfig) -> str:
    users = "\n".join(f"  - {{email: a{i}@bench.test, name: Agent {i}}}" for i in range(cfg.agents))
    members = "\n".join(f"      - {{email: a{i}@bench.test}}" for i in range(cfg.agents))
    return f"""
workspace: {{slug: bench-routing, name: Routing bench}}
users:
{users}
queues:
  - name: Support
    routing_method: longest_idle
    max_per_agent: {cfg.capacity}
    offer_timeout_seconds: 3600
    members:
{members}
whatsapp:
  accounts:
    - waba_id: "{WABA}"
      name: Bench
      phone_numbers:
        - phone_number_id: "{NUMBER["phone_number_id"]}"
          display_phone_number: "+1 555 0177"
          access_token: ${{WA_TOKEN}}
          default_queue: Support
"""


def _delivery(i: int) -> bytes:
    customer = {"wa_id": f"8170{i:08d}", "user_id": f"JP.77{i:010d}", "name": f"C{i}"}
    message = payloads.inbound_message(customer, "text", payloads.text("hello"))
    return json.dumps(payloads.message_webhook(NUMBER, customer, message)).encode()


def run(cfg: RoutingConfig, workdir: Path, cleanup: procs.Cleanup) -> list[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite+aiosqlite:///{workdir / 'routing.db'}"
    token = procs.prepare_product(
        db_url, workdir, _workspace(cfg), {"WA_TOKEN": "bench-token"}, "bench-routing"
    )
    proc = cleanup.add_proc(procs.product_proc("routing", db_url, workdir)).start()
    return asyncio.run(_measure(cfg, proc.url, token))


class _Sockets:
    """One websocket per agent; offers recorded as (conversation id → arrival time)."""

    def __init__(self) -> None:
        self.offers: dict[int, float] = {}
        self.arrived = asyncio.Event()
        self.expected = 0
        self._tasks: list[asyncio.Task] = []
        self._sockets: list = []

    async def connect(self, url: str, tokens: list[str]) -> None:
        for start in range(0, len(tokens), 50):
            batch = tokens[start : start + 50]
            sockets = await asyncio.gather(
                *(websockets.connect(f"{url}?token={t}", max_size=2**20) for t in batch)
            )
            for ws in sockets:
                await ws.recv()  # hello
                self._sockets.append(ws)
                self._tasks.append(asyncio.create_task(self._read(ws)))

    async def _read(self, ws) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for frame in ws:
                event = json.loads(frame)
                if event.get("event") == "conversation.offer":
                    self.offers.setdefault(event["conversation_id"], time.perf_counter())
                    if len(self.offers) >= self.expected:
                        self.arrived.set()

    async def wait_for(self, count: int, within: float) -> bool:
        self.expected = count
        if len(self.offers) >= count:
            return True
        self.arrived.clear()
        try:
            await asyncio.wait_for(self.arrived.wait(), within)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in self._sockets), return_exceptions=True)


async def _post_all(client: httpx.AsyncClient, bodies: list[bytes], concurrency: int = 32) -> None:
    queue = list(reversed(bodies))

    async def worker() -> None:
        while queue:
            body = queue.pop()
            r = await client.post(
                "/webhooks/whatsapp",
                content=body,
                headers={
                    "X-Hub-Signature-256": sign(body, procs.APP_SECRET),
                    "Content-Type": "application/json",
                },
            )
            r.raise_for_status()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _measure(cfg: RoutingConfig, url: str, admin_token: str) -> list[str]:
    auth = {"Authorization": f"Bearer {admin_token}"}
    lines: list[str] = []
    async with httpx.AsyncClient(base_url=url, headers=auth, timeout=120) as client:
        agents = [u for u in (await client.get("/api/v1/users")).json() if u["role"] == "agent"]
        tokens = []
        for user in agents:
            r = await client.post(
                "/api/v1/tokens",
                json={"name": f"bench-{user['id']}", "role": "agent", "user_id": user["id"]},
            )
            r.raise_for_status()
            tokens.append(r.json()["token"])
        sockets = _Sockets()
        ws_url = url.replace("http://", "ws://") + "/api/v1/ws"
        t_connect = time.perf_counter()
        await sockets.connect(ws_url, tokens)
        lines.append(
            f"routing: {len(tokens)} agent websockets connected in "
            f"{time.perf_counter() - t_connect:.1f} s"
        )
        try:
            # 1. throughput
            t_ingest = time.perf_counter()
            await _post_all(client, [_delivery(i) for i in range(cfg.conversations)])
            ingest_s = time.perf_counter() - t_ingest
            deadline = time.monotonic() + cfg.timeout
            while True:  # routing runs after each webhook's answer: wait until all are queued
                queue = (await client.get("/api/v1/queues")).json()[0]
                if queue["waiting"] >= cfg.conversations or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            lines.append(
                f"routing: {cfg.conversations} conversations queued in {ingest_s:.1f} s "
                f"(waiting now: {queue['waiting']})"
            )
            t0 = time.perf_counter()

            async def available(user_id: int) -> None:
                r = await client.put(
                    f"/api/v1/agents/{user_id}/presence", json={"status": "available"}
                )
                r.raise_for_status()

            sem = asyncio.Semaphore(16)

            async def guarded(user_id: int) -> None:
                async with sem:
                    await available(user_id)

            await asyncio.gather(*(guarded(u["id"]) for u in agents))
            complete = await sockets.wait_for(cfg.conversations, cfg.timeout)
            arrivals = sorted(sockets.offers.values())
            took = (arrivals[-1] - t0) if arrivals else float("nan")
            lines.append(
                f"routing throughput: {len(arrivals)} offers to {len(agents)} agents on their "
                f"sockets in {took:.1f} s = {len(arrivals) / took:.0f} assignments/s"
                + (
                    ""
                    if complete
                    else f" (INCOMPLETE: {cfg.conversations - len(arrivals)} missing)"
                )
            )
            # 2. latency
            spec = queue
            spec = {k: v for k, v in spec.items() if k not in ("id", "waiting")}
            spec["max_per_agent"] = cfg.capacity + 1
            spec["members"] = [
                {"user_id": m["user_id"], "priority": m["priority"]} for m in spec["members"]
            ]
            (await client.put(f"/api/v1/queues/{queue['id']}", json=spec)).raise_for_status()
            sent: dict[int, float] = {}
            first_id = cfg.conversations + 1
            interval = 1.0 / cfg.latency_rate
            for n in range(cfg.latency_messages):
                body = _delivery(cfg.conversations + n)
                t = time.perf_counter()
                sent[first_id + n] = t
                r = await client.post(
                    "/webhooks/whatsapp",
                    content=body,
                    headers={
                        "X-Hub-Signature-256": sign(body, procs.APP_SECRET),
                        "Content-Type": "application/json",
                    },
                )
                r.raise_for_status()
                await asyncio.sleep(max(0.0, t + interval - time.perf_counter()))
            await sockets.wait_for(cfg.conversations + cfg.latency_messages, 60)
            latencies = [sockets.offers[c] - t for c, t in sent.items() if c in sockets.offers]
            summary = latency_summary(latencies)
            lines.append(
                f"routing latency @{cfg.latency_rate:.0f} msg/s: message POSTed → offer on the "
                f"agent's socket p50 {fmt_ms(summary['p50_ms'])}, p99 {fmt_ms(summary['p99_ms'])} "
                f"({len(latencies)}/{cfg.latency_messages} offered)"
            )
        finally:
            await sockets.close()
    return lines
