"""CPU per flow step of the whole pipeline, in one process, without the network: the
profile harness behind issue #14's flow figures (``== flows`` measures the same work
through ``madoguchi serve``, where the machine's load and the split between processes
blur where the CPU went).

``madoguchi serve``'s app (``create_app``, every worker on except the outbox sender, as
``== flows`` runs it) on a fresh SQLite file with the guide's flow bound to the number
(``bench.flows.workspace_yaml``), driven through ASGI with the signed deliveries
``== flows`` sends, 32 in flight. Phase 1: ``customers`` new customers write "hi"
(welcome, question, wait); phase 2: each answers (condition, queued). A phase's clock
runs until everything it caused is done: every journal row processed, every reply queued
(phase 1) or conversation queued (phase 2), every text message scored by the assist
worker. CPU is the process's (all threads), split into the event loop's thread and the
rest; the acknowledgement (~0.1 ms per delivery, the web process's share in ``serve``)
is included.

``--profile FILE``: cProfile of the event loop's thread (``FILE.phase1``,
``FILE.phase2``; read with ``python -m pstats``). ``--parts``: each phase's CPU per
customer by part (``bench.cpu_parts``: the flows' batch, each event handler, the
journal's slice, the rollups, the assist worker, the acknowledgement), without cProfile's
distortion.

Run: ``python -m bench.flows_cpu [--customers 1000] [--profile FILE] [--parts]``; prints
one line per phase.
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

from bench import cpu_parts, flows, procs
from bench.ack_cpu import post
from madoguchi.whatsapp.signature import sign


class _Watch:
    """Whether a phase's work is all done (its reads' CPU is counted too)."""

    def __init__(self, path: Path, key: str, target: int) -> None:
        self.conn = sqlite3.connect(path, timeout=30)
        self.key, self.target = key, target

    def one(self, sql: str) -> int:
        return self.conn.execute(sql).fetchone()[0]

    def done(self) -> bool:
        self.conn.execute("BEGIN")  # one snapshot for the reads
        try:
            return (
                self.one("SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'") == 0
                and self.one(flows._SQL[self.key]) >= self.target
                and self.one(
                    "SELECT count(*) FROM messages m WHERE m.direction = 'inbound' "
                    "AND m.text IS NOT NULL AND NOT EXISTS "
                    "(SELECT 1 FROM message_sentiments s WHERE s.message_id = m.id)"
                )
                == 0
            )
        finally:
            self.conn.execute("ROLLBACK")


async def _phase(
    app, watch: _Watch, deliveries, profile: cProfile.Profile | None, acknowledge=post
) -> dict:
    items = iter(deliveries)
    bad = 0

    async def worker():
        nonlocal bad
        for body, signature in items:
            if await acknowledge(app, signature, body) != 200:
                bad += 1

    steps0 = _steps(watch)
    cpu0, loop0, wall0 = time.process_time(), time.thread_time(), time.monotonic()
    if profile is not None:
        profile.enable()
    await asyncio.gather(*(worker() for _ in range(32)))
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:  # the checks' own CPU (a few ms each) is counted
        if watch.done():
            break
        await asyncio.sleep(0.05)
    if profile is not None:
        profile.disable()
    return {
        "cpu": time.process_time() - cpu0,
        "loop": time.thread_time() - loop0,
        "wall": time.monotonic() - wall0,
        "steps": _steps(watch) - steps0,
        "bad": bad,
    }


def _measure_parts(runtime):
    """Wrap the pipeline's parts (``bench.cpu_parts``); the acknowledgement to use."""
    from madoguchi.services.flows import batch
    from madoguchi.services.reporting import rollups

    cpu_parts.wrap_handlers(runtime.bus)
    cpu_parts.patch(runtime.processor, "process_slice", "journal slice (claim, ingest, commit)")
    cpu_parts.patch(batch, "_batch", "flows: batch of activations (publish excluded)")
    cpu_parts.patch(rollups, "catch_up_once", "rollups: catch_up_once")
    cpu_parts.patch(rollups, "pending", "rollups: pending")
    cpu_parts.patch(runtime.assist, "work_once", "assist: work_once")
    cpu_parts.patch(runtime.routing, "sweep", "routing: sweep")
    return post  # (not wrapped: it waits for the journal's commit, while the rest runs)


def _steps(watch: _Watch) -> int:
    return watch.one("SELECT count(*) FROM flow_steps")


def _signed(items: list[tuple[str, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(body, sign(body, procs.APP_SECRET).encode()) for _, body in items]


def _line(name: str, customers: int, r: dict) -> str:
    steps = max(r["steps"], 1)
    return (
        f"flows cpu {name}: {customers:,} customers, {r['steps']:,} steps, CPU {r['cpu']:.2f} s"
        f" = {1000 * r['cpu'] / steps:.3f} ms per step (event loop "
        f"{1000 * r['loop'] / steps:.3f}), {1000 * r['cpu'] / customers:.2f} ms per customer;"
        f" wall {r['wall']:.1f} s; {r['bad']} not 200"
    )


async def main(args) -> list[str]:
    from madoguchi.gc_tuning import freeze_startup_heap
    from madoguchi.settings import get_settings
    from madoguchi.web.app import create_app

    app = create_app(get_settings())
    path = Path(os.environ["MADOGUCHI_DATABASE_URL"].split("///", 1)[1])
    n = args.customers
    cfg = flows.FlowConfig(customers=n)
    warm_cfg = flows.FlowConfig(customers=50)
    base = 10 * n  # the warm-up's customers are others
    phases = (
        ("phase 1", _signed(flows.deliveries(cfg, lambda i: "hi")), "outbound_count", 2 * n),
        (
            "phase 2",
            _signed(flows.deliveries(cfg, lambda i: "1" if i % 2 == 0 else "2")),
            "queued_count",
            n,
        ),
    )
    lines = []
    async with app.router.lifespan_context(app):
        acknowledge = _measure_parts(app.state.runtime) if args.parts else post
        freeze_startup_heap()  # as ``serve``'s processes do once started
        warm = _Watch(path, "outbound_count", 100)
        await _phase(
            app, warm, _signed(flows.deliveries(warm_cfg, lambda i: "hi", first=base)), None
        )
        warm.conn.close()
        for name, deliveries, key, target in phases:
            watch = _Watch(path, key, target + (100 if key == "outbound_count" else 0))
            profile = cProfile.Profile(time.thread_time) if args.profile else None
            cpu_parts.reset()
            result = await _phase(app, watch, deliveries, profile, acknowledge)
            watch.conn.close()
            if profile is not None:
                profile.dump_stats(f"{args.profile}.{name.replace(' ', '')}")
            block = [_line(name, n, result)]
            if args.parts:
                block += cpu_parts.report(n, "customer", result["loop"])
            lines += block
            print("\n".join(block), flush=True)
    return lines


def run(args) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="madoguchi-flows-cpu-") as tmp:
        workdir = Path(args.keep or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        url = f"sqlite+aiosqlite:///{workdir / 'madoguchi.db'}"
        procs.prepare_product(url, workdir, flows.workspace_yaml(), flows.TOKEN_ENV, "bench")
        env = procs.product_env(url, workdir, 0)
        env.update(flows.TOKEN_ENV, MADOGUCHI_SENDER_ENABLED="false")
        os.environ.update(env)
        if args.parts:  # the plain asyncio loop, its callbacks timed (``bench.cpu_parts``)
            cpu_parts.install()
            return asyncio.run(main(args))
        import uvloop

        return uvloop.run(main(args))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.flows_cpu")
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--parts", action="store_true")
    parser.add_argument("--keep", default=None, help="a directory for the database, kept")
    run(parser.parse_args())
