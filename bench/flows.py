"""Flows: ``customers`` customers run the guide's flow at once, through the real webhook.

Setup: ``madoguchi serve`` on a fresh database (SQLite, then PostgreSQL) with the
workspace file's Sales and Support queues and the guide's flow bound to the number (the
outbox sender is off: the figure is the reply being *queued*, the sender has its own
benchmark). Then, from this process, over ``concurrency`` keep-alive connections:

1. every customer writes "hi" (one signed delivery each, as fast as the server takes
   them): the flow starts, sends the welcome and the question, and waits — all
   ``customers`` runs are waiting at the Collect Input together;
2. every customer answers "1" or "2": the Condition routes each to Sales or Support;
3. open loop: ``rate`` new customers per second for ``open_seconds`` seconds write "hi",
   each at its scheduled time whether or not earlier ones were answered (the issue's
   latency target is "at 200 new customers/s", not with everyone at once).

Figures, from the database afterwards: flow steps per second (``flow_steps`` rows over
the span from the first to the last step of a phase) and, per customer, the time from
handing the delivery to the HTTP client to the flow's reply being committed to the
outbox (phase 1: the welcome, then the question) or to the conversation being queued
(phase 2). Both clocks are this machine's wall clock. At full load most of that time is
waiting: for the webhook to be taken, then for the database (one writer on SQLite) behind
the flows of earlier deliveries; phase 1 also prints the part after the inbound message
was stored. Phase 3 measures from each delivery's *scheduled* time, so a server that falls
behind taking webhooks cannot hide it. The section ends with the issue's targets, each with
what was measured and whether it was met.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import procs
from bench.loadgen import RawClient, customer
from bench.stats import fmt_ms, fmt_rate, latency_summary
from madoguchi.domain.flows.examples import guide_flow
from madoguchi.simulator import payloads
from madoguchi.whatsapp.signature import sign

NUMBER = {
    "phone_number_id": "109000000000005",
    "display_phone_number": "+1 555 0105",
    "waba_id": "209000000000005",
}
TOKEN_ENV = {"BENCH_WA_TOKEN": "bench-wa-token"}


def workspace_yaml() -> str:
    flow = guide_flow([NUMBER["phone_number_id"]])
    return f"""\
workspace: {{slug: bench, name: Bench}}
queues:
  - {{name: Sales}}
  - {{name: Support}}
whatsapp:
  accounts:
    - waba_id: "{NUMBER["waba_id"]}"
      name: Bench
      phone_numbers:
        - phone_number_id: "{NUMBER["phone_number_id"]}"
          display_phone_number: "{NUMBER["display_phone_number"]}"
          access_token: ${{BENCH_WA_TOKEN}}
flows:
  - name: Guide
    definition: {json.dumps(flow, ensure_ascii=False)}
"""


@dataclass
class FlowConfig:
    customers: int = 10_000
    concurrency: int = 64
    phase_timeout: float = 600.0
    rate: float = 200.0  # phase 3: new customers per second, open loop
    open_seconds: float = 30.0


STEPS_TARGET = 1000.0  # flow steps/s, the guide's flow for 10,000 customers
P99_TARGET = 1.0  # s, inbound -> welcome queued at 200 new customers/s


# ---------------------------------------------------------------------- driving


def deliveries(cfg: FlowConfig, text_of, first: int = 0, count: int | None = None) -> list:
    out = []
    for i in range(first, first + (cfg.customers if count is None else count)):
        who = customer(i)
        message = payloads.inbound_message(who, "text", payloads.text(text_of(i)))
        body = json.dumps(
            payloads.message_webhook(NUMBER, who, message), separators=(",", ":")
        ).encode()
        out.append((who["wa_id"], body))
    return out


async def send_all(url: str, items: list[tuple[str, bytes]], concurrency: int) -> dict:
    """POST every delivery; returns {wa_id: wall-clock time handed to the client}."""
    client = RawClient(url, concurrency)
    encoded = [(wa_id, client.encode(body, sign(body, procs.APP_SECRET))) for wa_id, body in items]
    sent: dict[str, float] = {}
    failures: list[str] = []
    queue = iter(encoded)

    async def worker() -> None:
        for wa_id, data in queue:
            sent[wa_id] = time.time()
            try:
                status, body = await client.post(data)
            except (OSError, asyncio.IncompleteReadError) as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                continue
            if status != 200:
                failures.append(f"HTTP {status}: {body[:200]!r}")

    await client.open()
    t0 = time.time()
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await client.aclose()
    return {"sent": sent, "failures": failures, "elapsed": time.time() - t0}


async def send_open_loop(url: str, items: list[tuple[str, bytes]], rate: float, size: int) -> dict:
    """POST delivery ``i`` at ``start + i / rate`` whatever the earlier ones are doing;
    returns {wa_id: wall-clock *scheduled* time}."""
    client = RawClient(url, size)
    encoded = [(wa_id, client.encode(body, sign(body, procs.APP_SECRET))) for wa_id, body in items]
    sent: dict[str, float] = {}
    failures: list[str] = []
    lag: list[float] = []

    async def post(wa_id: str, data: bytes, scheduled: float) -> None:
        lag.append(max(0.0, time.perf_counter() - scheduled))
        try:
            status, body = await client.post(data)
        except (OSError, asyncio.IncompleteReadError) as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
            return
        if status != 200:
            failures.append(f"HTTP {status}: {body[:200]!r}")

    await client.open()
    tasks = []
    t0, wall0 = time.perf_counter() + 0.05, time.time() + 0.05
    try:
        for i, (wa_id, data) in enumerate(encoded):
            scheduled = t0 + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0.0002:
                await asyncio.sleep(delay)
            sent[wa_id] = wall0 + i / rate
            tasks.append(asyncio.create_task(post(wa_id, data, scheduled)))
        await asyncio.gather(*tasks)
    finally:
        await client.aclose()
    return {"sent": sent, "failures": failures, "elapsed": time.perf_counter() - t0, "lag": lag}


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


# ---------------------------------------------------------------------- reading back

_SQL = {
    "replies": (
        "SELECT c.wa_id, m.created_at FROM messages m "
        "JOIN conversations v ON v.id = m.conversation_id JOIN contacts c ON c.id = v.contact_id "
        "WHERE m.direction = 'outbound' ORDER BY m.id"
    ),
    "queued": (
        "SELECT c.wa_id, e.at FROM conversation_events e "
        "JOIN conversations v ON v.id = e.conversation_id JOIN contacts c ON c.id = v.contact_id "
        "WHERE e.type = 'queued'"
    ),
    "inbound": (
        "SELECT c.wa_id, m.created_at FROM messages m "
        "JOIN conversations v ON v.id = m.conversation_id JOIN contacts c ON c.id = v.contact_id "
        "WHERE m.direction = 'inbound' ORDER BY m.id"
    ),
    "steps": "SELECT at FROM flow_steps",
    # when the web process committed each delivery (the inbox keeps the time it was
    # appended); the journal's customer key is the BSUID
    "received": (
        "SELECT c.wa_id, d.received_at FROM webhook_deliveries d "
        "JOIN contacts c ON c.user_id = d.customer_key ORDER BY d.id"
    ),
    "outbound_count": "SELECT count(*) FROM messages WHERE direction = 'outbound'",
    "queued_count": "SELECT count(*) FROM conversations WHERE status = 'queued'",
    "failed_runs": "SELECT count(*) FROM flow_runs WHERE status = 'failed'",
}


def _ts(value) -> float:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


class Reader:
    def __init__(self, backend: str, sqlite_path: Path | None, pg_name: str | None) -> None:
        self.backend, self.sqlite_path, self.pg_name = backend, sqlite_path, pg_name

    def rows(self, key: str) -> list[tuple]:
        if self.backend == "sqlite":
            with sqlite3.connect(self.sqlite_path, timeout=30) as conn:
                return conn.execute(_SQL[key]).fetchall()
        return asyncio.run(self._pg(key))

    def scalar(self, key: str) -> int:
        return self.rows(key)[0][0]

    async def _pg(self, key: str) -> list[tuple]:
        import asyncpg

        conn = await asyncpg.connect(**{**procs.PG_ADMIN, "database": self.pg_name}, timeout=10)
        try:
            return [tuple(r) for r in await conn.fetch(_SQL[key])]
        finally:
            await conn.close()

    def wait_for(self, key: str, target: int, timeout: float) -> tuple[int, float]:
        """Poll until ``key`` counts ``target``; (count, seconds waited)."""
        t0 = time.time()
        count = 0
        while time.time() - t0 < timeout:
            count = self.scalar(key)
            if count >= target:
                break
            time.sleep(0.25)
        return count, time.time() - t0


def steps_per_second(times: list[float]) -> tuple[int, float, float]:
    if len(times) < 2:
        return len(times), 0.0, float("nan")
    span = max(times) - min(times)
    return len(times), span, (len(times) / span if span else float("nan"))


# ---------------------------------------------------------------------- the run


def run_backend(backend: str, cfg: FlowConfig, workdir: Path, cleanup: procs.Cleanup) -> list[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    db_path = None
    pg_name = None
    if backend == "sqlite":
        db_path = workdir / "madoguchi.db"
        url = f"sqlite+aiosqlite:///{db_path}"
    else:
        pg_name, url = procs.create_pg_database()
        cleanup.add_callback(lambda: procs.drop_pg_database(pg_name))
    procs.prepare_product(url, workdir, workspace_yaml(), TOKEN_ENV, "bench")
    proc = procs.product_proc(f"madoguchi-flows-{backend}", url, workdir)
    proc.env["MADOGUCHI_SENDER_ENABLED"] = "false"  # replies stay queued: that is the figure
    cleanup.add_proc(proc).start()
    reader = Reader(backend, db_path, pg_name)
    webhook = proc.url + "/webhooks/whatsapp"
    n = cfg.customers
    lines: list[str] = []
    try:
        cpu0, web0 = proc.cpu_seconds(), proc.own_cpu_seconds()
        first = asyncio.run(send_all(webhook, deliveries(cfg, lambda i: "hi"), cfg.concurrency))
        replies, waited1 = reader.wait_for("outbound_count", 2 * n, cfg.phase_timeout)
        phase2_start = time.time()
        answers = deliveries(cfg, lambda i: "1" if i % 2 == 0 else "2")
        second = asyncio.run(send_all(webhook, answers, cfg.concurrency))
        queued, waited2 = reader.wait_for("queued_count", n, cfg.phase_timeout)
        cpu, web = proc.cpu_seconds() - cpu0, proc.own_cpu_seconds() - web0
        steps = [_ts(row[0]) for row in reader.rows("steps")]
        cpu3, web3 = proc.cpu_seconds(), proc.own_cpu_seconds()
        m = int(cfg.rate * cfg.open_seconds)
        third = asyncio.run(
            send_open_loop(
                webhook,
                deliveries(cfg, lambda i: "hi", first=n, count=m),
                cfg.rate,
                cfg.concurrency,
            )
        )
        replies3, waited3 = reader.wait_for("outbound_count", 2 * (n + m), cfg.phase_timeout)
        cpu3, web3 = proc.cpu_seconds() - cpu3, proc.own_cpu_seconds() - web3
        split = cpu - web > 0.05 * cpu  # a processing child (SQLite's default layout)
        errors = proc.log_count("Traceback")

        by_customer: dict[str, list[float]] = {}
        for wa_id, at in reader.rows("replies"):
            by_customer.setdefault(wa_id, []).append(_ts(at))
        welcome = [v[0] - first["sent"][k] for k, v in by_customer.items() if k in first["sent"]]
        open_loop = [v[0] - third["sent"][k] for k, v in by_customer.items() if k in third["sent"]]
        question = [
            v[1] - first["sent"][k]
            for k, v in by_customer.items()
            if len(v) > 1 and k in first["sent"]
        ]
        stored: dict[str, list[float]] = {}
        for wa_id, at in reader.rows("inbound"):
            stored.setdefault(wa_id, []).append(_ts(at))
        after_commit = [v[0] - stored[k][0] for k, v in by_customer.items() if k in stored]
        routed = [
            _ts(at) - second["sent"][wa_id]
            for wa_id, at in reader.rows("queued")
            if wa_id in second["sent"]
        ]
        s1 = steps_per_second([t for t in steps if t < phase2_start])
        s2 = steps_per_second([t for t in steps if t >= phase2_start])
        total = steps_per_second(steps)
        w, q, r = latency_summary(welcome), latency_summary(question), latency_summary(routed)
        c = latency_summary(after_commit)
        lines.append(
            f"flows {backend}: {n:,} customers run the guide's flow at once; "
            f"{fmt_rate(total[2])} flow steps/s overall ({total[0]:,} steps in {total[1]:.1f} s)"
        )
        lines.append(
            f'  phase 1 ("hi" → welcome + question, then wait): deliveries sent in '
            f"{first['elapsed']:.1f} s ({fmt_rate(n / first['elapsed'])}/s), "
            f"{fmt_rate(s1[2])} steps/s; inbound → welcome queued p50 {fmt_ms(w['p50_ms'])}, "
            f"p99 {fmt_ms(w['p99_ms'])}, max {fmt_ms(w['max_ms'])}; → question queued p99 "
            f"{fmt_ms(q['p99_ms'])}; inbound stored → welcome queued (the flow's own share) "
            f"p50 {fmt_ms(c['p50_ms'])}, p99 {fmt_ms(c['p99_ms'])}"
        )
        lines.append(
            f"  phase 2 (answer → condition → queued): sent in {second['elapsed']:.1f} s "
            f"({fmt_rate(n / second['elapsed'])}/s), {fmt_rate(s2[2])} steps/s; inbound → "
            f"conversation queued p50 {fmt_ms(r['p50_ms'])}, p99 {fmt_ms(r['p99_ms'])}, "
            f"max {fmt_ms(r['max_ms'])}"
        )
        o, lag = latency_summary(open_loop), latency_summary(third["lag"])
        # Phase 3's time, in parts: scheduled → committed by the web process (the
        # acknowledgement), → stored as a message (waiting for and doing the ingest), →
        # welcome queued (the flow, after the ingest's commit).
        received: dict[str, float] = {}
        for wa_id, at in reader.rows("received"):  # (phase 3's customers write once)
            if wa_id in third["sent"]:
                received.setdefault(wa_id, _ts(at))
        firsts = {k: v[0] for k, v in by_customer.items() if k in third["sent"]}
        acked = latency_summary([t - third["sent"][k] for k, t in received.items()])
        ingested = latency_summary([stored[k][0] - t for k, t in received.items() if k in stored])
        flowed = latency_summary([firsts[k] - stored[k][0] for k in firsts if k in stored])
        lines.append(
            f"  phase 3 (open loop, {fmt_rate(cfg.rate)} new customers/s for "
            f"{cfg.open_seconds:.0f} s, {m:,} customers, sent in {third['elapsed']:.1f} s): "
            f"inbound (scheduled) → welcome queued p50 {fmt_ms(o['p50_ms'])}, p99 "
            f"{fmt_ms(o['p99_ms'])}, max {fmt_ms(o['max_ms'])} ({o['n']:,} measured); "
            f"client dispatch lag p99 {fmt_ms(lag['p99_ms'])}"
        )
        lines.append(
            f"    phase 3 in parts (p50 / p99): scheduled → delivery committed "
            f"{fmt_ms(acked['p50_ms'])} / {fmt_ms(acked['p99_ms'])}; → message stored "
            f"{fmt_ms(ingested['p50_ms'])} / {fmt_ms(ingested['p99_ms'])}; → welcome queued "
            f"{fmt_ms(flowed['p50_ms'])} / {fmt_ms(flowed['p99_ms'])}; server CPU "
            f"{cpu3:.1f} s = {cpu3 / m * 1000:.2f} ms per customer "
            + (
                f"(processing {(cpu3 - web3) / m * 1000:.2f}, web process "
                f"{web3 / m * 1000:.2f}): {(cpu3 - web3) / m * cfg.rate:.0%} of a core for "
                f"processing at {fmt_rate(cfg.rate)}/s"
                if split
                else f"(one process, the database server's CPU not counted): "
                f"{cpu3 / m * cfg.rate:.0%} of a core at {fmt_rate(cfg.rate)}/s"
            )
        )
        failed = reader.scalar("failed_runs")
        refused = first["failures"] + second["failures"] + third["failures"]
        complete = replies3 >= 2 * (n + m) and queued >= n and failed == 0 and not refused
        lines.append(
            f"  data check: {replies:,}/{2 * n:,} replies queued (after {waited1:.1f} s more), "
            f"{queued:,}/{n:,} conversations queued (after {waited2:.1f} s more), phase 3 "
            f"{replies3 - 2 * n:,}/{2 * m:,} replies (after {waited3:.1f} s more), {failed} failed "
            f"runs, {len(refused)} deliveries refused: "
            f"{'complete' if complete else 'INCOMPLETE'}; server CPU {cpu:.1f} s for phases "
            f"1–2 ({cpu / max(total[0], 1) * 1000:.3f} ms per step, everything included"
            + (
                f": processing {(cpu - web) / max(total[0], 1) * 1000:.3f}, web process "
                f"{web / max(total[0], 1) * 1000:.3f}); at one core for processing "
                f"~{fmt_rate(total[0] / max(cpu - web, 1e-9))} steps/s"
                if split
                else ", one process, the database server's CPU not counted)"
            )
        )
        label = f"{n:,} customers at once" + ("" if n >= 10_000 else ", NOT the issue's 10,000")
        lines.append(
            f"  target ({backend}): the guide's flow ≥ {STEPS_TARGET:,.0f} flow steps/s "
            f"({label}): measured {fmt_rate(total[2])}: {verdict(total[2] >= STEPS_TARGET)}"
        )
        p99 = o["p99_ms"] / 1000
        lines.append(
            f"  target ({backend}): inbound → welcome queued p99 < {P99_TARGET:g} s at "
            f"{fmt_rate(cfg.rate)} new customers/s: measured p99 {fmt_ms(o['p99_ms'])}: "
            f"{verdict(p99 < P99_TARGET and o['n'] == m)}"
        )
        for failure in refused[:3]:
            lines.append(f"  refused: {failure}")
        if errors:
            lines.append(f"  server log: {errors} tracebacks (see {proc.log_path})")
    finally:
        proc.stop()
    return lines
