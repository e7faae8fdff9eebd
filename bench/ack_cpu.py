"""CPU per acknowledgement inside the application, without the network (``== ack``'s
second line): the bare Starlette endpoint and Madoguchi's app driven through ASGI in one
process, 32 requests in flight, the same distinct signed deliveries.

``madoguchi serve`` shares its event loop between acknowledging and processing (under a
burst the processor takes up to half of it, by design: what is acknowledged must become
conversations soon), so wrk's ratio is the acknowledgement path's cost *and* that share.
Here the processor is held back (its loop is not started) and only the acknowledgement is
measured: body, signature, parse, journal commit, answer — the part this benchmark is about.

Run: ``python -m bench.ack_cpu BODIES N`` with the product's environment set (a migrated
database); prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import uvloop

from bench import procs
from bench.bare import create_app as bare_app
from madoguchi.services.channel.webhook_journal import DeliveryProcessor
from madoguchi.settings import get_settings
from madoguchi.web.app import create_app


def scope_for(signature: bytes, body: bytes) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/webhooks/whatsapp",
        "raw_path": b"/webhooks/whatsapp",
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-hub-signature-256", signature),
        ],
        "state": {},
    }


async def post(app, signature: bytes, body: bytes) -> int:
    given = False
    status = 0

    async def receive():
        nonlocal given
        if given:
            await asyncio.Event().wait()  # no disconnect before the answer
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope_for(signature, body), receive, send)
    return status


async def drive(app, deliveries: list, in_flight: int = 32) -> tuple[float, int]:
    """CPU seconds of this thread per request, and how many were not 200."""
    queue = iter(deliveries)
    bad = 0

    async def worker():
        nonlocal bad
        for signature, body in queue:
            if await post(app, signature, body) != 200:
                bad += 1

    started = time.thread_time()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return (time.thread_time() - started) / len(deliveries), bad


async def main(lines: list[bytes], n: int) -> dict:
    deliveries = [tuple(line.split(b"\t", 1)) for line in lines[: n + n // 5]]
    warm, measured = deliveries[: n // 5], deliveries[n // 5 :]
    bare = bare_app(procs.APP_SECRET)
    await drive(bare, warm)
    bare_cpu, bare_bad = await drive(bare, measured)

    async def held_back(self) -> None:
        await asyncio.Event().wait()

    DeliveryProcessor.run = held_back  # the acknowledgement alone (see the docstring)
    app = create_app(get_settings(), workers=False)
    async with app.router.lifespan_context(app):
        await drive(app, warm)
        product_cpu, product_bad = await drive(app, measured)
    return {
        "bare_us": bare_cpu * 1e6,
        "product_us": product_cpu * 1e6,
        "errors": bare_bad + product_bad,
    }


if __name__ == "__main__":
    result = uvloop.run(main(Path(sys.argv[1]).read_bytes().splitlines(), int(sys.argv[2])))
    print(json.dumps(result))
