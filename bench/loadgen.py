"""The webhook load generator, run as its own process (``python -m bench.loadgen SPEC``).

Running apart from the benchmark driver keeps its event loop (and its CPU) from sharing a
scheduler with anything else. It posts distinct signed deliveries, built with the
simulator's pure payload builders, over keep-alive connections with
``httpx.AsyncClient``, then prints one JSON object with the figures.

SPEC is a JSON object:

- ``url``: the webhook URL; ``secret``: the app secret to sign with
- ``number``: ``phone_number_id``, ``display_phone_number``, ``waba_id``
- ``customers``: how many distinct customers write (round robin); ``offset``: where in
  that round robin (and in the message numbering) this run starts; ``customer_base``:
  the first customer's number (default 0; a fresh range means customers never seen)
- ``mode``: ``"max"`` (``n`` deliveries, ``concurrency`` at a time, as fast as possible)
  or ``"rate"`` (open loop: ``rate`` per second for ``duration`` seconds, each delivery
  sent at its scheduled time whether or not earlier ones were answered)
- ``concurrency``: connections (and, in max mode, requests in flight)
- ``client``: ``"raw"`` (default) or ``"httpx"``
- ``max_in_flight`` (rate mode, default: one second's worth): when that many deliveries
  are unanswered the server cannot sustain the rate; no more are sent (``stopped_at``)
- ``max_seconds`` (max mode): no new delivery is started after this long (``stopped_at``)
- ``time_limit``: hard stop in seconds
- ``tag``: put into every message text

Two HTTP clients. ``httpx``: ``httpx.AsyncClient`` with keep-alive connections (the
connections are spread over several clients of 8, because httpcore's pool gets slower
with every connection it holds: one client of 64 connections managed ~320 requests/s on
this machine's core, eight of 8 about 1,300/s). Even so it spends ~0.6 ms of CPU per
request, so on a 2-core machine it, not the server, sets the ceiling of a fast endpoint.
``raw`` (the default): a minimal HTTP/1.1 keep-alive client on asyncio streams
(``Content-Length`` bodies only, which is all uvicorn sends here) using ~25 µs per
request, so the figures measure the server. Both send the same bytes.

Latency is measured from the moment the request is handed to the client (``wire``) and,
in rate mode, also from its scheduled time (``sched``: includes any wait for a free
connection or a late dispatch, so a server that falls behind cannot hide it).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from urllib.parse import urlsplit

import httpx

from bench.stats import latency_summary
from madoguchi.simulator import payloads
from madoguchi.whatsapp.signature import sign


def customer(i: int) -> dict:
    """Customer ``i``: a Japanese mobile number and a BSUID, both unique per ``i``."""
    return {
        "wa_id": f"8190{i:08d}",
        "user_id": f"JP.{70000000000000000 + i}",
        "name": f"Bench customer {i}",
    }


def build_deliveries(spec: dict, count: int) -> list[tuple[bytes, str]]:
    """``count`` signed deliveries: (exact body bytes, X-Hub-Signature-256 value)."""
    number, customers, offset = spec["number"], spec["customers"], spec.get("offset", 0)
    tag = spec.get("tag", "bench")
    base = spec.get("customer_base", 0)  # customers numbered from here (new ones)
    people = [customer(base + i) for i in range(customers)]
    out = []
    for k in range(offset, offset + count):
        who = people[k % customers]
        message = payloads.inbound_message(who, "text", payloads.text(f"{tag} message {k}"))
        body = json.dumps(
            payloads.message_webhook(number, who, message), separators=(",", ":")
        ).encode()
        out.append((body, sign(body, spec["secret"])))
    return out


class ClientError(Exception):
    pass


class RawConnection:
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, data: bytes) -> tuple[int, bytes]:
        reused = self.writer is not None
        try:
            return await self._exchange(data)
        except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError) as exc:
            # A kept-alive connection the server closed while it sat idle (uvicorn drops
            # them after 5 s) fails before a byte of answer: open a new one, once, as
            # HTTP clients do. The server never read the request.
            nothing = not isinstance(exc, asyncio.IncompleteReadError) or not exc.partial
            if reused and nothing:
                return await self._exchange(data)
            raise

    async def _exchange(self, data: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        try:
            self.writer.write(data)
            head = await self.reader.readuntil(b"\r\n\r\n")
            length, close = None, False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
                elif name == b"transfer-encoding":
                    raise ClientError("chunked responses are not supported by the raw client")
            if length is None:
                raise ClientError("response without Content-Length")
            body = await self.reader.readexactly(length)
        except BaseException:
            self.close()
            raise
        if close:
            self.close()
        return int(head[9:12]), body


class RawClient:
    """A pool of ``size`` raw connections; requests wait for a free one."""

    def __init__(self, url: str, size: int) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.path = parts.path or "/"
        self.size = size
        self.idle: asyncio.LifoQueue[RawConnection] = asyncio.LifoQueue()

    def encode(self, body: bytes, signature: str) -> bytes:
        return (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Content-Type: application/json\r\nUser-Agent: madoguchi-bench\r\n"
            f"X-Hub-Signature-256: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    async def open(self) -> None:
        for _ in range(self.size):
            conn = RawConnection(self.host, self.port)
            await conn.open()
            self.idle.put_nowait(conn)

    async def post(self, data: bytes) -> tuple[int, bytes]:
        conn = await self.idle.get()
        try:
            return await conn.request(data)
        finally:
            self.idle.put_nowait(conn)

    async def aclose(self) -> None:
        while not self.idle.empty():
            self.idle.get_nowait().close()


class HttpxClient:
    """``httpx.AsyncClient``s of at most 8 keep-alive connections each, used in turn."""

    PER_CLIENT = 8

    def __init__(self, url: str, size: int) -> None:
        self.url = url
        count = max(1, -(-size // self.PER_CLIENT))
        per = max(1, -(-size // count))
        limits = httpx.Limits(max_connections=per, max_keepalive_connections=per)
        timeout = httpx.Timeout(30.0, pool=60.0)
        self.clients = [httpx.AsyncClient(limits=limits, timeout=timeout) for _ in range(count)]
        self.size = per * count
        self.turn = 0

    def encode(self, body: bytes, signature: str) -> tuple[bytes, dict]:
        return body, {"Content-Type": "application/json", "X-Hub-Signature-256": signature}

    async def open(self) -> None:
        health = self.url.rsplit("/webhooks", 1)[0] + "/healthz"
        per = self.size // len(self.clients)
        await asyncio.gather(*(c.get(health) for c in self.clients for _ in range(per)))

    async def post(self, data: tuple[bytes, dict]) -> tuple[int, bytes]:
        self.turn = (self.turn + 1) % len(self.clients)
        response = await self.clients[self.turn].post(self.url, content=data[0], headers=data[1])
        return response.status_code, response.content

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


class Run:
    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.wire: list[float] = []
        self.sched: list[float] = []
        self.lag: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.ok = 0
        self.first_start: float | None = None
        self.last_end = 0.0
        self.error_sample: str | None = None
        self.dispatched = 0
        self.stopped_at: int | None = None

    async def post(self, client, item, scheduled=None) -> None:
        start = time.perf_counter()
        if self.first_start is None:
            self.first_start = start
        try:
            status, body = await client.post(item)
        except (OSError, asyncio.IncompleteReadError, ClientError, httpx.HTTPError) as exc:
            self.errors[type(exc).__name__] += 1
            self.error_sample = self.error_sample or f"{type(exc).__name__}: {exc}"
            return
        end = time.perf_counter()
        self.last_end = max(self.last_end, end)
        self.statuses[str(status)] += 1
        if 200 <= status < 300:
            self.ok += 1
            self.wire.append(end - start)
            if scheduled is not None:
                self.sched.append(end - scheduled)
                self.lag.append(max(0.0, start - scheduled))
        elif self.error_sample is None:
            self.error_sample = f"HTTP {status}: {body[:200]!r}"

    async def max_mode(self, client, items: list) -> None:
        queue = iter(items)
        stop = time.perf_counter() + float(self.spec.get("max_seconds", 1e9))

        async def worker() -> None:
            for item in queue:
                if time.perf_counter() > stop:
                    # Slow server: the figures stand on what was sent so far.
                    self.stopped_at = self.stopped_at or self.dispatched
                    return
                self.dispatched += 1
                await self.post(client, item)

        await asyncio.gather(*(worker() for _ in range(self.spec["concurrency"])))

    async def rate_mode(self, client, items: list) -> None:
        rate = float(self.spec["rate"])
        loop = asyncio.get_running_loop()
        cap = int(self.spec.get("max_in_flight", rate))
        tasks = set()
        t0 = time.perf_counter() + 0.05
        for i, item in enumerate(items):
            scheduled = t0 + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0.0002:
                await asyncio.sleep(delay)
            if len(tasks) >= cap:
                # The server is more than `cap` deliveries behind: it cannot sustain this
                # rate, and sending on would only measure a growing queue for longer.
                self.stopped_at = i
                break
            task = loop.create_task(self.post(client, item, scheduled))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            self.dispatched += 1
        if tasks:
            await asyncio.gather(*tasks)

    async def main(self) -> dict:
        spec = self.spec
        count = int(spec["rate"] * spec["duration"]) if spec["mode"] == "rate" else int(spec["n"])
        conc = int(spec["concurrency"])
        kind = spec.get("client", "raw")
        client = (HttpxClient if kind == "httpx" else RawClient)(spec["url"], conc)
        items = [client.encode(body, sig) for body, sig in build_deliveries(spec, count)]
        try:
            # Open every connection before the clock starts (a TCP handshake is not ingest).
            await client.open()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            runner = self.rate_mode if spec["mode"] == "rate" else self.max_mode
            timed_out = False
            try:
                await asyncio.wait_for(runner(client, items), spec.get("time_limit", 120))
            except TimeoutError:
                timed_out = True
            cpu = time.process_time() - cpu0
        finally:
            await client.aclose()
        done = sum(self.statuses.values()) + sum(self.errors.values())
        elapsed = (self.last_end - self.first_start) if self.first_start and self.last_end else 0.0
        result = {
            "mode": spec["mode"],
            "client": kind,
            "connections": client.size,
            "planned": count,
            "dispatched": self.dispatched,
            "stopped_at": self.stopped_at,
            "completed": done,
            "ok": self.ok,
            "statuses": dict(self.statuses),
            "errors": dict(self.errors),
            "error_sample": self.error_sample,
            "elapsed_s": elapsed,
            "throughput": self.ok / elapsed if elapsed else 0.0,
            "timed_out": timed_out,
            "client_cpu_s": cpu,
            "client_wall_s": time.perf_counter() - wall0,
            "wire": latency_summary(self.wire),
        }
        if spec["mode"] == "rate":
            result["sched"] = latency_summary(self.sched)
            result["dispatch_lag"] = latency_summary(self.lag)
            result["target_rate"] = spec["rate"]
        return result


def main() -> None:
    spec = json.loads(sys.argv[1])
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        result = asyncio.run(Run(spec).main())
    else:
        result = uvloop.run(Run(spec).main())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
