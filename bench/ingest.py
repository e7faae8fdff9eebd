"""Webhook ingest: signed deliveries over real HTTP into ``madoguchi serve``.

For each database (SQLite, then PostgreSQL) the same load runs first against the no-op
endpoint (``bench.bare --stack fastapi``: signature check only, same FastAPI + uvicorn
stack), then against the product, one server at a time so they never share the CPU:

1. warm-up: a few hundred deliveries (counted in the data check, not in the figures);
2. max throughput: N deliveries, ``concurrency`` in flight on keep-alive connections;
3. fixed rate: open loop at ``rate`` deliveries/s for ``duration`` seconds.

After each phase the benchmark waits until the product's journal has processed every
acknowledged delivery and prints how long that took. At the end the stored inbound
messages are counted in the database and compared with the deliveries that were
acknowledged with 2xx: an acknowledged delivery must be stored.
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import procs
from bench.stats import fmt_ms, fmt_rate

NUMBER = {
    "phone_number_id": "109000000000001",
    "display_phone_number": "+1 555 0199",
    "waba_id": "209000000000001",
}
WORKSPACE_YAML = f"""\
workspace: {{slug: bench, name: Bench}}
whatsapp:
  accounts:
    - waba_id: "{NUMBER["waba_id"]}"
      name: Bench
      phone_numbers:
        - phone_number_id: "{NUMBER["phone_number_id"]}"
          display_phone_number: "{NUMBER["display_phone_number"]}"
          access_token: ${{BENCH_WA_TOKEN}}
"""
TOKEN_ENV = {"BENCH_WA_TOKEN": "bench-wa-token"}


@dataclass
class IngestConfig:
    n: int = 5000
    concurrency: int = 64
    rate: int = 1000
    duration: float = 5.0
    warmup: int = 500
    max_seconds: float = 30.0  # the max phase starts no delivery after this long
    customers: int = 2000
    client: str = "raw"


def run_loadgen(spec: dict, timeout: float) -> dict:
    """One load generator process; its JSON result."""
    done = subprocess.run(
        [procs.PYTHON, "-m", "bench.loadgen", json.dumps(spec)],
        env=procs.base_env(),
        cwd=procs.REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def batch_stats(url: str) -> tuple[float, float]:
    """(sum, count) of the product's ingest batch-size histogram, from /metrics."""
    try:
        text = httpx.get(url + "/metrics", timeout=5).text
    except httpx.HTTPError:
        return math.nan, math.nan
    values = {}
    for line in text.splitlines():
        if line.startswith("madoguchi_ingest_batch_size_sum"):
            values["sum"] = float(line.split()[-1])
        elif line.startswith("madoguchi_ingest_batch_size_count"):
            values["count"] = float(line.split()[-1])
    return values.get("sum", math.nan), values.get("count", math.nan)


def wait_drained(pending, timeout: float = 600.0) -> float:
    """Seconds until the product's journal has no pending delivery left."""
    start = time.monotonic()
    while pending() > 0:
        if time.monotonic() - start > timeout:
            return math.nan
        time.sleep(0.05)
    return time.monotonic() - start


def measure(
    proc: procs.Proc, label: str, cfg: IngestConfig, *, product: bool, pending=None
) -> dict:
    """Warm-up, max-throughput and fixed-rate phases against one running server.

    After each phase against the product, the journal is waited for until every
    acknowledged delivery is processed: how long that takes is the processing side's
    figure (acknowledging and processing are separate since the journal).
    """
    url = proc.url + "/webhooks/whatsapp"
    base = {
        "url": url,
        "secret": procs.APP_SECRET,
        "number": NUMBER,
        "customers": cfg.customers,
        "concurrency": cfg.concurrency,
        "client": cfg.client,
    }
    phases = {
        "warmup": {"mode": "max", "n": cfg.warmup, "max_seconds": 10, "time_limit": 60},
        "max": {"mode": "max", "n": cfg.n, "max_seconds": cfg.max_seconds, "time_limit": 120},
        "rate": {
            "mode": "rate",
            "rate": cfg.rate,
            "duration": cfg.duration,
            # A quarter of a second's deliveries unanswered: p99 < 50 ms is out of reach.
            "max_in_flight": max(cfg.concurrency, cfg.rate // 4),
            "time_limit": 90,
        },
    }
    out: dict = {"label": label, "acknowledged": 0, "failed": 0}
    offset = 0
    for name, phase in phases.items():
        spec = {**base, **phase, "offset": offset, "tag": f"{label}-{name}"}
        before_batches = batch_stats(proc.url) if product else (math.nan, math.nan)
        cpu0, wall0, machine0 = proc.cpu_seconds(), time.monotonic(), procs.machine_jiffies()
        result = run_loadgen(spec, timeout=phase["time_limit"] + 60)
        result["server_cpu_s"] = proc.cpu_seconds() - cpu0
        result["machine_busy"] = procs.busy_between(machine0, procs.machine_jiffies())
        result["phase_wall_s"] = time.monotonic() - wall0
        if pending is not None:
            result["drain_s"] = wait_drained(pending)
            result["processed_rate"] = result["ok"] / (result["elapsed_s"] + result["drain_s"])
        if product:
            after = batch_stats(proc.url)
            n_batches = after[1] - before_batches[1]
            result["mean_batch"] = (after[0] - before_batches[0]) / n_batches if n_batches else 0
        offset += result["planned"]
        out["acknowledged"] += result["ok"]
        out["failed"] += result["dispatched"] - result["ok"]
        out[name] = result
        time.sleep(1.0)  # let background work (events, pollers) settle between phases
    return out


def pending_sqlite(path: Path):
    def pending() -> int:
        with sqlite3.connect(path, timeout=30) as conn:
            return conn.execute(_PENDING_SQL).fetchone()[0]

    return pending


def pending_pg(dbname: str):
    async def fetch() -> int:
        import asyncpg

        conn = await asyncpg.connect(**{**procs.PG_ADMIN, "database": dbname}, timeout=10)
        try:
            return await conn.fetchval(_PENDING_SQL)
        finally:
            await conn.close()

    return lambda: asyncio.run(fetch())


_PENDING_SQL = "SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'"


def count_sqlite(path: Path) -> dict:
    with sqlite3.connect(path, timeout=30) as conn:
        return _counts(lambda sql: conn.execute(sql).fetchone()[0])


async def _count_pg(dbname: str) -> dict:
    import asyncpg

    conn = await asyncpg.connect(**{**procs.PG_ADMIN, "database": dbname}, timeout=10)
    try:
        results = {}
        for key, sql in _COUNT_SQL.items():
            results[key] = await conn.fetchval(sql)
        return results
    finally:
        await conn.close()


_COUNT_SQL = {
    "messages": "SELECT count(*) FROM messages WHERE direction = 'inbound'",
    "deliveries": "SELECT count(*) FROM webhook_deliveries",
    "contacts": "SELECT count(*) FROM contacts",
    "conversations": "SELECT count(*) FROM conversations",
}


def _counts(fetch) -> dict:
    return {key: fetch(sql) for key, sql in _COUNT_SQL.items()}


def noop_proc(workdir: Path) -> procs.Proc:
    port = procs.free_port()
    args = [procs.PYTHON, "-m", "bench.bare", "--port", str(port), "--app-secret", procs.APP_SECRET]
    args += ["--stack", "fastapi"]
    return procs.Proc("noop", args, procs.base_env(), workdir, port, "/healthz")


def _cpu_pct(result: dict) -> str:
    wall = result.get("elapsed_s") or 0
    if not wall:
        return "n/a"
    return (
        f"server {result['server_cpu_s'] / wall:.0%} of a core, client "
        f"{result['client_cpu_s'] / wall:.0%}, all CPUs {result['machine_busy']:.0%} busy"
    )


def report(backend: str, noop: dict, prod: dict, counts: dict, cfg: IngestConfig) -> list[str]:
    lines = []
    pm, nm = prod["max"], noop["max"]
    ratio = pm["throughput"] / nm["throughput"] if nm["throughput"] else math.nan
    lines.append(
        f"ingest {backend}: {fmt_rate(pm['throughput'])} deliveries/s, "
        f"p50 {fmt_ms(pm['wire']['p50_ms'])}, p99 {fmt_ms(pm['wire']['p99_ms'])} | "
        f"no-op {fmt_rate(nm['throughput'])}/s, p50 {fmt_ms(nm['wire']['p50_ms'])}, "
        f"p99 {fmt_ms(nm['wire']['p99_ms'])} | ratio {ratio:.2f} (target >= 0.5: "
        f"{'met' if ratio >= 0.5 else 'NOT met'})"
    )
    if pm.get("stopped_at") is not None:
        lines.append(
            f"  the max phase stopped starting deliveries after {cfg.max_seconds:.0f} s "
            f"({pm['dispatched']} of {pm['planned']} sent): the figures stand on those"
        )
    lines.append(
        f"  processing (after the 200): the {pm['ok']} deliveries of the max phase were all "
        f"stored {pm['drain_s']:.1f} s after the last acknowledgement, "
        f"{fmt_rate(pm['processed_rate'])} deliveries/s from first acknowledgement to last stored"
    )
    lines.append(
        f"  max phase: {pm['ok']}/{pm['dispatched']} acknowledged, {cfg.concurrency} connections, "
        f"mean commit batch {pm.get('mean_batch', math.nan):.1f} deliveries; CPU {_cpu_pct(pm)} "
        f"(no-op: {_cpu_pct(nm)})"
    )
    pr, nr = prod["rate"], noop["rate"]
    p99 = pr["sched"]["p99_ms"]
    lines.append(
        f"ingest {backend} @{cfg.rate}/s: achieved {fmt_rate(pr['throughput'])}/s, "
        f"p50 {fmt_ms(pr['sched']['p50_ms'])}, p99 {fmt_ms(p99)} "
        f"(target < 50 ms: {'met' if p99 < 50 else 'NOT met'}) | no-op @{cfg.rate}/s: "
        f"p50 {fmt_ms(nr['sched']['p50_ms'])}, p99 {fmt_ms(nr['sched']['p99_ms'])}"
    )
    if pr.get("stopped_at") is not None:
        lines.append(
            f"  the server fell behind: after {pr['stopped_at']} deliveries "
            f"({pr['stopped_at'] / cfg.rate:.1f} s) {max(cfg.concurrency, cfg.rate // 4)} were "
            f"unanswered, so the load generator stopped sending (the rest of the "
            f"{pr['planned']} were not sent)"
        )
    lines.append(
        f"  processing (after the 200): all stored {pr['drain_s']:.1f} s after the last "
        f"acknowledgement, {fmt_rate(pr['processed_rate'])} deliveries/s"
    )
    lines.append(
        f"  rate phase: {pr['ok']}/{pr['dispatched']} acknowledged in {pr['elapsed_s']:.1f} s, "
        f"max {fmt_ms(pr['sched']['max_ms'])}, client dispatch lag p99 "
        f"{fmt_ms(pr['dispatch_lag']['p99_ms'])}, mean commit batch "
        f"{pr.get('mean_batch', math.nan):.1f}; CPU {_cpu_pct(pr)}"
    )
    acked = prod["acknowledged"]
    stored = counts["messages"]
    verdict = "match" if stored == acked else f"MISMATCH ({stored - acked:+d})"
    lines.append(
        f"ingest {backend} data check: {stored} inbound messages stored for {acked} acknowledged "
        f"deliveries: {verdict}; {counts['deliveries']} raw deliveries, {counts['contacts']} "
        f"contacts, {counts['conversations']} conversations; {prod['failed']} deliveries not "
        f"acknowledged"
    )
    for phase in ("warmup", "max", "rate"):
        result = prod[phase]
        if result["ok"] != result["dispatched"]:
            lines.append(
                f"  {phase}: statuses {result['statuses']}, errors {result['errors']}, "
                f"first error: {result['error_sample']}"
            )
    return lines


def run_backend(backend: str, cfg: IngestConfig, workdir: Path, cleanup: procs.Cleanup) -> list:
    """No-op then product on one database; returns the printed lines."""
    workdir.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        db_path = workdir / "madoguchi.db"
        url = f"sqlite+aiosqlite:///{db_path}"
        pg_name = None
    else:
        pg_name, url = procs.create_pg_database()
        cleanup.add_callback(lambda: procs.drop_pg_database(pg_name))
    procs.prepare_product(url, workdir, WORKSPACE_YAML, TOKEN_ENV, "bench")

    noop = cleanup.add_proc(noop_proc(workdir)).start()
    try:
        noop_figures = measure(noop, f"noop-{backend}", cfg, product=False)
    finally:
        noop.stop()

    product = cleanup.add_proc(procs.product_proc(f"madoguchi-{backend}", url, workdir)).start()
    try:
        pending = pending_sqlite(db_path) if pg_name is None else pending_pg(pg_name)
        prod_figures = measure(product, backend, cfg, product=True, pending=pending)
        time.sleep(0.5)
        counts = count_sqlite(db_path) if pg_name is None else asyncio.run(_count_pg(pg_name))
        errors = product.log_count("Traceback")
    finally:
        product.stop()
    lines = report(backend, noop_figures, prod_figures, counts, cfg)
    if errors:
        lines.append(f"  server log: {errors} tracebacks (see {product.log_path})")
    return lines


def httpx_check(cfg: IngestConfig, workdir: Path, cleanup: procs.Cleanup) -> list[str]:
    """How far httpx.AsyncClient gets against the no-op (why the raw client is the default)."""
    workdir.mkdir(parents=True, exist_ok=True)
    noop = cleanup.add_proc(noop_proc(workdir)).start()
    try:
        results = {}
        for client in ("raw", "httpx"):
            spec = {
                "url": noop.url + "/webhooks/whatsapp",
                "secret": procs.APP_SECRET,
                "number": NUMBER,
                "customers": cfg.customers,
                "concurrency": cfg.concurrency,
                "client": client,
                "mode": "max",
                "n": min(cfg.n, 3000),
                "time_limit": 60,
            }
            results[client] = run_loadgen(spec, timeout=120)
    finally:
        noop.stop()
    raw, hx = results["raw"], results["httpx"]
    return [
        f"load generator check (no-op, {cfg.concurrency} connections): raw client "
        f"{fmt_rate(raw['throughput'])}/s using {raw['client_cpu_s'] / raw['elapsed_s']:.0%} "
        f"of a core; httpx.AsyncClient {fmt_rate(hx['throughput'])}/s using "
        f"{hx['client_cpu_s'] / hx['elapsed_s']:.0%} of a core"
    ]
