"""CPU per inbound message of the whole pipeline, in one process, without the network:
the profile harness behind issue #14's "CPU per message" figures.

``madoguchi serve``'s app (``create_app``, every worker on except the outbox sender, as
``== e2e`` runs it) on a fresh SQLite file with the e2e workspace (one number, a default
queue, no flow), driven through ASGI with the same signed deliveries the load generator
sends, 32 in flight. The clock runs from the first delivery to the moment everything it
caused is done: every journal row processed, every new conversation queued, every text
message scored by the assist worker. CPU is the process's (all threads: the event loop and
the assist worker's language thread), split into the loop's thread and the rest.

Two phases, like ``== e2e``: a burst of ``n`` deliveries from ``customers`` customers
(round robin), then ``new`` deliveries each from a customer never seen.

``--profile FILE``: cProfile of the event loop's thread (``FILE.burst``, ``FILE.new``;
read with ``python -m pstats``) — what the figures below "Where the time went" in
docs/benchmarks.md come from.

Run: ``python -m bench.pipeline_cpu [--n 3000] [--customers 1000] [--new 2000]
[--profile FILE]``; prints one line per phase.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from bench import e2e, procs
from bench.ack_cpu import post
from bench.loadgen import build_deliveries


class _Watch:
    """Whether a phase's work is all done, read cheaply (its CPU is counted too): one
    connection, the pending rows first, the other checks only once none is left."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, timeout=30)
        self.after = self.one("SELECT coalesce(max(id), 0) FROM messages")

    def one(self, sql: str, *args) -> int:
        return self.conn.execute(sql, args).fetchone()[0]

    def done(self) -> bool:
        self.conn.execute("BEGIN")  # one snapshot for the three reads
        try:
            return (
                self.one("SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'") == 0
                and self.one(
                    "SELECT count(*) FROM conversations WHERE status = 'new' AND queued_at IS NULL"
                )
                == 0
                and self.one(
                    "SELECT count(*) FROM messages m WHERE m.id > ? AND m.direction = 'inbound' "
                    "AND m.text IS NOT NULL AND NOT EXISTS "
                    "(SELECT 1 FROM message_sentiments s WHERE s.message_id = m.id)",
                    self.after,
                )
                == 0
            )
        finally:
            self.conn.execute("ROLLBACK")


async def _phase(app, path: Path, deliveries, profile: cProfile.Profile | None) -> dict:
    items = iter(deliveries)
    bad = 0
    watch = _Watch(path)

    async def worker():
        nonlocal bad
        for body, signature in items:
            if await post(app, signature.encode(), body) != 200:
                bad += 1

    cpu0, loop0, wall0 = time.process_time(), time.thread_time(), time.monotonic()
    if profile is not None:
        profile.enable()
    await asyncio.gather(*(worker() for _ in range(32)))
    acked = time.monotonic() - wall0
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:  # the checks' own CPU (a few ms each) is counted
        if watch.done():
            break
        await asyncio.sleep(0.1)
    if profile is not None:
        profile.disable()
    watch.conn.close()
    return {
        "cpu": time.process_time() - cpu0,
        "loop": time.thread_time() - loop0,
        "wall": time.monotonic() - wall0,
        "acked": acked,
        "bad": bad,
    }


def _line(name: str, count: int, r: dict) -> str:
    each = 1000 * r["cpu"] / count
    loop = 1000 * r["loop"] / count
    return (
        f"pipeline cpu {name}: {count:,} deliveries, CPU {r['cpu']:.1f} s = {each:.2f} ms each "
        f"(event loop {loop:.2f}, other threads {each - loop:.2f}); wall {r['wall']:.1f} s "
        f"(acknowledged in {r['acked']:.1f} s); {r['bad']} not 200"
    )


async def main(args) -> list[str]:
    from madoguchi.settings import get_settings
    from madoguchi.web.app import create_app

    app = create_app(get_settings())
    path = Path(os.environ["MADOGUCHI_DATABASE_URL"].split("///", 1)[1])
    spec = {"number": e2e.NUMBER, "secret": procs.APP_SECRET, "tag": "bench"}
    burst = build_deliveries({**spec, "customers": args.customers}, args.n)
    new = build_deliveries(
        {**spec, "customers": args.new, "customer_base": 10**6, "offset": 10**6}, args.new
    )
    warm = build_deliveries({**spec, "customers": 50, "customer_base": 5 * 10**6}, 200)
    lines = []
    async with app.router.lifespan_context(app):
        await _phase(app, path, warm, None)
        for name, deliveries in (("burst", burst), ("new customers", new)):
            profile = cProfile.Profile(time.thread_time) if args.profile else None
            result = await _phase(app, path, deliveries, profile)
            if profile is not None:
                profile.dump_stats(f"{args.profile}.{name.split()[0]}")
            lines.append(_line(name, len(deliveries), result))
            print(lines[-1], flush=True)
    return lines


def run(args) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="madoguchi-pipeline-") as tmp:
        workdir = Path(args.keep or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        url = f"sqlite+aiosqlite:///{workdir / 'madoguchi.db'}"
        procs.prepare_product(url, workdir, e2e.WORKSPACE_YAML, e2e.TOKEN_ENV, "bench")
        env = procs.product_env(url, workdir, 0)
        env.update(e2e.TOKEN_ENV, MADOGUCHI_SENDER_ENABLED="false")
        os.environ.update(env)
        import uvloop

        return uvloop.run(main(args))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline_cpu")
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--new", type=int, default=2000)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--keep", default=None, help="a directory for the database, kept")
    run(parser.parse_args())
