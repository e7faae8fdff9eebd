"""Scaled mode: one, then two processing processes on one PostgreSQL database.

The same burst (``deliveries`` text messages from ``customers`` customers, several each,
interleaved as they arrive) is committed to the webhook journal at once, as if just
acknowledged (with the journal's ring, ``store.pg_bell``, as ``Journal`` does), and then
processed by ``madoguchi worker`` processes: one, then two, each run on a fresh copy of
the same prepared database (a queue every new conversation goes to). The figure is end
to end from the commit to the last delivery processed (stored as a message in its
conversation, the conversation queued, events handled), in messages per second, and the
ratio of the two. The workers are started (and idle) before the burst is committed, so
their start-up is not counted; the ring wakes them at the commit.

The runs alternate (1, 2, 1, 2, …: a change in the machine's other load falls on both)
and each figure is the median of ``repeats``. Beside it: the CPU time of the workers and
of PostgreSQL's backends serving that database, and how busy the whole machine was —
two processes share the machine's two cores with PostgreSQL and the benchmark's poll,
so the ratio is what a second process adds here, not what a second machine would, and
CPU per message says how far from the machine's ceiling a run was.
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
    deliveries: int = 10_000
    customers: int = 2_000
    processes: tuple[int, ...] = (1, 2)
    repeats: int = 3
    timeout: float = 600.0
    poll_seconds: float = 0.05


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
    """The rows in one transaction, ringing the journal's bell as ``Journal`` does."""
    from sqlalchemy import insert

    from madoguchi.store.db import Database
    from madoguchi.store.models import WebhookDelivery
    from madoguchi.store.pg_bell import RING_JOURNAL

    db = Database(url)
    try:
        async with db.write() as session:
            connection = await session.connection()
            await connection.execute(insert(WebhookDelivery.__table__), rows)
            await connection.execute(RING_JOURNAL)
    finally:
        await db.dispose()


def _pid_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / procs.CLK_TCK


class Watch:
    """One connection to the run's database: whether rows are pending (a cheap indexed
    look every ``poll_seconds``), the counts at the end, and the CPU time of the
    PostgreSQL backends serving the database (the workers' pools, their listeners and
    this connection; all on this machine: the benchmark runs beside PostgreSQL)."""

    def __init__(self, dbname: str) -> None:
        self.dbname = dbname
        self.conn = None

    async def open(self) -> None:
        import asyncpg

        self.conn = await asyncpg.connect(**{**procs.PG_ADMIN, "database": self.dbname})

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()

    async def backends_cpu(self) -> dict[int, float]:
        pids = await self.conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1", self.dbname
        )
        return {row["pid"]: _pid_cpu(row["pid"]) for row in pids}

    async def pending(self) -> bool:
        return await self.conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE state = 'pending')"
        )

    async def counts(self) -> dict:
        conn = self.conn
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


async def _measure(cfg: ScaleConfig, name: str, url: str, rows: list[dict], workers) -> dict:
    """Commit the burst, wait until nothing is pending; the run's figures."""
    watch = Watch(name)
    await watch.open()
    try:
        cpu0 = [w.cpu_seconds() for w in workers]
        pg0 = await watch.backends_cpu()
        machine0 = procs.machine_jiffies()
        await _commit_burst(url, rows)
        started = time.monotonic()
        timed_out = False
        while await watch.pending():
            if time.monotonic() - started > cfg.timeout:
                timed_out = True
                break
            await asyncio.sleep(cfg.poll_seconds)
        elapsed = time.monotonic() - started
        busy = procs.busy_between(machine0, procs.machine_jiffies())
        cpu = [w.cpu_seconds() - c for w, c in zip(workers, cpu0, strict=True)]
        pg1 = await watch.backends_cpu()
        counts = await watch.counts()
    finally:
        await watch.close()
    return {
        "elapsed": elapsed,
        "cpu": cpu,
        "pg_cpu": sum(c - pg0.get(pid, 0.0) for pid, c in pg1.items()),
        "busy": busy,
        "timed_out": timed_out,
        **counts,
    }


def prepare_template(cfg: ScaleConfig, workdir: Path, cleanup: procs.Cleanup) -> str:
    """A database migrated and with the workspace applied, copied for every run."""
    workdir.mkdir(parents=True, exist_ok=True)
    name, url = procs.create_pg_database()
    cleanup.add_callback(lambda: procs.drop_pg_database(name))
    procs.prepare_product(url, workdir, WORKSPACE_YAML, TOKEN_ENV, "bench")
    return name


def run_processes(
    n: int,
    cfg: ScaleConfig,
    rows: list[dict],
    template: str,
    workdir: Path,
    cleanup: procs.Cleanup,
) -> dict:
    """A fresh copy of the template, ``n`` workers, the burst; the figures of that run."""
    workdir.mkdir(parents=True, exist_ok=True)
    name, url = procs.create_pg_database(template=template)
    cleanup.add_callback(lambda: procs.drop_pg_database(name))
    workers = [
        cleanup.add_proc(worker_proc(f"worker-{n}-{i}", url, workdir)).start() for i in range(n)
    ]
    try:
        r = asyncio.run(_measure(cfg, name, url, rows, workers))
        r["tracebacks"] = sum(w.log_count("Traceback") for w in workers)
    finally:
        for w in workers:
            w.stop()
    processed = cfg.deliveries - r["pending"]
    r["n"] = n
    r["rate"] = processed / r["elapsed"] if r["elapsed"] > 0 else math.nan
    return r


def _median_run(runs: list[dict]) -> dict:
    """The run of median rate (the lower middle one of an even count)."""
    ordered = sorted(runs, key=lambda r: r["rate"])
    return ordered[(len(ordered) - 1) // 2]


def _line(n: int, runs: list[dict], cfg: ScaleConfig) -> str:
    m = _median_run(runs)
    cpu = " + ".join(f"{c:.1f}" for c in m["cpu"])
    work = sum(m["cpu"]) + m["pg_cpu"]
    per_message = work / cfg.deliveries * 1000
    rates = ", ".join(fmt_rate(r["rate"]) for r in runs)
    problems = [
        f"{r['messages']:,}/{cfg.deliveries:,} stored, {r['queued']:,}/{cfg.customers:,} "
        f"queued, {r['failed']} failed" + (", TIMED OUT" if r["timed_out"] else "")
        for r in runs
        if r["timed_out"]
        or r["failed"]
        or r["messages"] != cfg.deliveries
        or r["queued"] != cfg.customers
    ]
    tracebacks = sum(r["tracebacks"] for r in runs)
    return (
        f"  {n} process{'es' if n > 1 else ''}: {fmt_rate(m['rate'])} messages/s end to end "
        f"(median of {len(runs)}: {rates}; median run {m['elapsed']:.1f} s, worker CPU "
        f"{cpu} s, PostgreSQL CPU {m['pg_cpu']:.1f} s, {per_message:.2f} ms CPU/message, "
        f"machine {m['busy']:.0%} busy)"
        + ("; " + "; ".join(problems) if problems else "; every message stored and queued")
        + (f"; {tracebacks} tracebacks in the logs" if tracebacks else "")
    )


def run(cfg: ScaleConfig, workdir: Path, cleanup: procs.Cleanup) -> list[str]:
    rows = burst_rows(cfg)
    lines = [
        f"  burst: {cfg.deliveries:,} text messages from {cfg.customers:,} customers "
        "(interleaved), committed to the journal at once; `madoguchi worker` processes on "
        "PostgreSQL; end to end = commit to last processed (stored, conversation queued); "
        f"runs alternate, {cfg.repeats} of each"
    ]
    template = prepare_template(cfg, workdir / "template", cleanup)
    results: dict[int, list[dict]] = {n: [] for n in cfg.processes}
    for k in range(cfg.repeats):
        for n in cfg.processes:
            results[n].append(run_processes(n, cfg, rows, template, workdir / f"p{n}-{k}", cleanup))
    for n in cfg.processes:
        lines.append(_line(n, results[n], cfg))
    first, last = cfg.processes[0], cfg.processes[-1]
    if len(cfg.processes) >= 2 and _median_run(results[first])["rate"] > 0:
        ratio = _median_run(results[last])["rate"] / _median_run(results[first])["rate"]
        pairs = ", ".join(
            f"{b['rate'] / a['rate']:.2f}×"
            for a, b in zip(results[first], results[last], strict=True)
            if a["rate"] > 0
        )
        met = "met" if ratio >= 1.6 else "NOT met"
        lines.append(
            f"  speed-up {first} → {last} processes: {ratio:.2f}× (medians; run by run "
            f"{pairs}); target ≥ 1.6×: {met} (2 cores shared with PostgreSQL)"
        )
    return lines
