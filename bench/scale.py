"""Scaled mode: one, then two processing processes on one PostgreSQL database.

The same burst (``deliveries`` text messages from ``customers`` customers, several each,
interleaved as they arrive) is committed to the webhook journal at once, as if just
acknowledged, and then processed by ``madoguchi worker`` processes: first one, then two
(each on a fresh database with the same workspace: a queue every new conversation goes
to). The figure is end to end from the commit to the last delivery processed (stored
as a message in its conversation, the conversation queued, events handled), in messages
per second, and the ratio of the two. The workers are started (and idle) before the
burst is committed, so their start-up is not counted; they notice it within their
one-second poll, which both runs pay alike.

Two processes share the machine's cores with PostgreSQL and with the benchmark's poll:
the ratio is what a second process adds here, not what a second machine would.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

from bench import procs
from bench.loadgen import customer
from bench.stats import fmt_rate

NUMBER = {
    "phone_number_id": "109000000000031",
    "display_phone_number": "+1 555 0131",
    "waba_id": "209000000000031",
}
WORKSPACE_YAML = f"""\
workspace: {{slug: bench, name: Bench}}
queues:
  - {{name: Support}}
whatsapp:
  accounts:
    - waba_id: "{NUMBER["waba_id"]}"
      name: Bench
      phone_numbers:
        - phone_number_id: "{NUMBER["phone_number_id"]}"
          display_phone_number: "{NUMBER["display_phone_number"]}"
          default_queue: Support
          access_token: ${{BENCH_WA_TOKEN}}
"""
TOKEN_ENV = {"BENCH_WA_TOKEN": "bench-wa-token"}


@dataclass
class ScaleConfig:
    deliveries: int = 2000
    customers: int = 500
    processes: tuple[int, ...] = (1, 2)
    timeout: float = 600.0


class WorkerProc(procs.Proc):
    """``madoguchi worker``: no HTTP, ready once it says so in its log."""

    start_timeout = 60.0

    def ready(self) -> bool:
        return self.log_count("worker running") > 0


def worker_proc(name: str, database_url: str, workdir: Path) -> WorkerProc:
    env = procs.product_env(database_url, workdir, 0)
    env["MADOGUCHI_SENDER_ENABLED"] = "false"  # nothing to send; the figure is inbound
    return WorkerProc(name, [*procs.MADOGUCHI, "worker"], env, workdir, 0, "")


def burst_rows(cfg: ScaleConfig) -> list[dict]:
    """The journal rows of the burst: bodies as Meta sends them, with their customer key."""
    from madoguchi.services.channel.journal_claim import customer_key
    from madoguchi.simulator import payloads
    from madoguchi.whatsapp.updates import parse_delivery

    people = [customer(i) for i in range(cfg.customers)]
    rows = []
    for k in range(cfg.deliveries):
        who = people[k % cfg.customers]
        message = payloads.inbound_message(who, "text", payloads.text(f"scale message {k}"))
        payload = payloads.message_webhook(NUMBER, who, message)
        body = json.dumps(payload, separators=(",", ":")).encode()
        rows.append(
            {"body": body, "update_count": 1, "customer_key": customer_key(parse_delivery(payload))}
        )
    return rows


async def _commit_burst(url: str, rows: list[dict]) -> None:
    from sqlalchemy import insert

    from madoguchi.store.db import Database
    from madoguchi.store.models import WebhookDelivery

    db = Database(url)
    try:
        async with db.write() as session:
            connection = await session.connection()
            await connection.execute(insert(WebhookDelivery.__table__), rows)
    finally:
        await db.dispose()


async def _counts(dbname: str) -> dict:
    import asyncpg

    conn = await asyncpg.connect(**{**procs.PG_ADMIN, "database": dbname}, timeout=10)
    try:
        return {
            "pending": await conn.fetchval(
                "SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'"
            ),
            "failed": await conn.fetchval(
                "SELECT count(*) FROM webhook_deliveries WHERE state = 'failed'"
            ),
            "messages": await conn.fetchval(
                "SELECT count(*) FROM messages WHERE direction = 'inbound'"
            ),
            "conversations": await conn.fetchval("SELECT count(*) FROM conversations"),
            "queued": await conn.fetchval(
                "SELECT count(*) FROM conversations WHERE status = 'queued'"
            ),
        }
    finally:
        await conn.close()


def run_processes(
    n: int, cfg: ScaleConfig, rows: list[dict], workdir: Path, cleanup: procs.Cleanup
) -> dict:
    """A fresh database, ``n`` workers, the burst; the figures of that run."""
    workdir.mkdir(parents=True, exist_ok=True)
    name, url = procs.create_pg_database()
    cleanup.add_callback(lambda: procs.drop_pg_database(name))
    procs.prepare_product(url, workdir, WORKSPACE_YAML, TOKEN_ENV, "bench")
    workers = [
        cleanup.add_proc(worker_proc(f"worker-{n}-{i}", url, workdir)).start() for i in range(n)
    ]
    try:
        cpu0 = [w.cpu_seconds() for w in workers]
        machine0 = procs.machine_jiffies()
        asyncio.run(_commit_burst(url, rows))
        started = time.monotonic()
        while True:
            counts = asyncio.run(_counts(name))
            if counts["pending"] == 0:
                break
            if time.monotonic() - started > cfg.timeout:
                counts["timed_out"] = True
                break
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        busy = procs.busy_between(machine0, procs.machine_jiffies())
        cpu = [w.cpu_seconds() - c for w, c in zip(workers, cpu0, strict=True)]
        tracebacks = sum(w.log_count("Traceback") for w in workers)
    finally:
        for w in workers:
            w.stop()
    processed = cfg.deliveries - counts["pending"]
    return {
        "n": n,
        "elapsed": elapsed,
        "rate": processed / elapsed if elapsed > 0 else math.nan,
        "cpu": cpu,
        "busy": busy,
        "tracebacks": tracebacks,
        **counts,
    }


def run(cfg: ScaleConfig, workdir: Path, cleanup: procs.Cleanup) -> list[str]:
    rows = burst_rows(cfg)
    lines = [
        f"  burst: {cfg.deliveries:,} text messages from {cfg.customers:,} customers "
        "(interleaved), committed to the journal at once; `madoguchi worker` processes on "
        "PostgreSQL; end to end = commit to last processed (stored, conversation queued)"
    ]
    results = []
    for n in cfg.processes:
        r = run_processes(n, cfg, rows, workdir / f"p{n}", cleanup)
        results.append(r)
        cpu = " + ".join(f"{c:.1f}" for c in r["cpu"])
        lines.append(
            f"  {n} process{'es' if n > 1 else ''}: {fmt_rate(r['rate'])} messages/s end to end "
            f"({r['elapsed']:.1f} s; worker CPU {cpu} s; machine {r['busy']:.0%} busy); "
            f"stored {r['messages']:,}/{cfg.deliveries:,}, {r['conversations']:,} conversations "
            f"({r['queued']:,} queued), {r['failed']} failed"
            + (", TIMED OUT" if r.get("timed_out") else "")
            + (f", {r['tracebacks']} tracebacks in the logs" if r["tracebacks"] else "")
        )
    if len(results) >= 2 and results[0]["rate"] > 0:
        ratio = results[-1]["rate"] / results[0]["rate"]
        lines.append(
            f"  speed-up {results[0]['n']} → {results[-1]['n']} processes: {ratio:.2f}× "
            "(target ≥ 1.6×; a loaded 2-core machine shared with PostgreSQL)"
        )
    return lines
