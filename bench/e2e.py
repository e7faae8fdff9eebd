"""End to end: signed webhooks into ``madoguchi serve`` (SQLite) until every message is a
stored message in its conversation (and, for new customers, the conversation is queued).

Acknowledging is measured by ``bench.ingest`` and ``bench.ack``; this section measures what
a customer waits for after that. The number has a default queue (no flow: the flows
section has the guide's flow); the outbox sender is off. Phases, on one server:

1. burst: ``burst`` deliveries from ``customers`` customers as fast as the server takes
   them (``concurrency`` connections); figure: messages stored per second from the first
   delivery received to the last message stored (both the server's clock, read from the
   database afterwards), and how many were stored while the burst was still being
   acknowledged (processing must not stop then);
2. new customers: ``new_customers`` deliveries, each from a customer never seen; figure:
   new conversations created and queued per second, first received to last queued;
3. sustained: an open-loop stream of ``rate`` deliveries/s for ``duration`` s; the
   backlog (journal rows not yet processed) is sampled every 0.25 s, and printed as the
   seconds of arrivals it holds at its worst (target: never above 2 s).
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import ack, procs
from bench.ingest import run_loadgen, wait_drained
from bench.stats import fmt_rate
from madoguchi.services.channel import journal_inbox

NUMBER = {
    "phone_number_id": "109000000000003",
    "display_phone_number": "+1 555 0103",
    "waba_id": "209000000000003",
}
WORKSPACE_YAML = f"""\
workspace: {{slug: bench, name: Bench}}
queues:
  - {{name: Inbox}}
whatsapp:
  accounts:
    - waba_id: "{NUMBER["waba_id"]}"
      name: Bench
      phone_numbers:
        - phone_number_id: "{NUMBER["phone_number_id"]}"
          display_phone_number: "{NUMBER["display_phone_number"]}"
          access_token: ${{BENCH_WA_TOKEN}}
          default_queue: Inbox
"""
TOKEN_ENV = {"BENCH_WA_TOKEN": "bench-wa-token"}


@dataclass
class E2EConfig:
    customers: int = 1000
    burst: int = 6900
    new_customers: int = 5000
    rate: int = 500
    duration: float = 60.0
    concurrency: int = 64


def _ts(value) -> float:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


class Db:
    def __init__(self, path: Path) -> None:
        self.path = path

    def one(self, sql: str, *args):
        with sqlite3.connect(self.path, timeout=30) as conn:
            return conn.execute(sql, args).fetchone()

    def pending(self) -> int:
        """Acknowledged, not processed: pending journal rows, and (split layout) the rows
        still in the journal's inbox, read first (``journal_inbox.waiting``)."""
        waiting = journal_inbox.waiting(f"sqlite:///{self.path}")
        return (
            waiting + self.one("SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'")[0]
        )

    def last_id(self) -> int:
        return self.one("SELECT coalesce(max(id), 0) FROM webhook_deliveries")[0]

    def span(self, after_id: int) -> dict:
        """The deliveries after ``after_id``: first received, last acknowledged-side row,
        messages stored, last stored, new conversations, last queued."""
        first, last_received = self.one(
            "SELECT min(received_at), max(received_at) FROM webhook_deliveries WHERE id > ?",
            after_id,
        )
        stored, last_stored = self.one(
            "SELECT count(*), max(m.created_at) FROM messages m WHERE m.direction = 'inbound' "
            "AND m.created_at >= ?",
            first,
        )
        during = self.one(
            "SELECT count(*) FROM messages WHERE direction = 'inbound' AND created_at >= ? "
            "AND created_at <= ?",
            first,
            last_received,
        )[0]
        created, last_queued = self.one(
            "SELECT count(*), max(queued_at) FROM conversations WHERE created_at >= ?", first
        )
        queued = self.one(
            "SELECT count(*) FROM conversations WHERE created_at >= ? AND queued_at IS NOT NULL",
            first,
        )[0]
        return {
            "first": _ts(first),
            "last_received": _ts(last_received),
            "stored": stored,
            "last_stored": _ts(last_stored) if last_stored else math.nan,
            "during": during,
            "created": created,
            "queued": queued,
            "last_queued": _ts(last_queued) if last_queued else math.nan,
        }


def _spec(proc: procs.Proc, cfg: E2EConfig, offset: int, customers: int, tag: str) -> dict:
    return {
        "url": proc.url + "/webhooks/whatsapp",
        "secret": procs.APP_SECRET,
        "number": NUMBER,
        "customers": customers,
        "concurrency": cfg.concurrency,
        "client": "raw",
        "offset": offset,
        "tag": tag,
    }


def _cpu(proc: procs.Proc) -> tuple[float, float]:
    """CPU so far of all of ``serve``'s processes, and of its web process alone."""
    return proc.cpu_seconds(), proc.own_cpu_seconds()


def _per_cpu(count: int, proc: procs.Proc, cpu0: tuple[float, float]) -> str:
    """The server's CPU per item (all its processes; the web process's share when it has
    a processing child): the figure a shared, busy machine does not distort."""
    total, web = (now - then for now, then in zip(_cpu(proc), cpu0, strict=True))
    if not count:
        return "n/a"
    split = f" (web process {web:.1f} s)" if total - web > 0.05 else ""
    return f"server CPU {total:.1f} s{split} = {1000 * total / count:.2f} ms each"


def _sample_backlog(db: Db, stop: threading.Event, samples: list[int]) -> None:
    while not stop.is_set():
        with contextlib.suppress(sqlite3.Error):
            samples.append(db.pending())
        stop.wait(0.25)


def run(cfg: E2EConfig, workdir: Path, cleanup: procs.Cleanup) -> list[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "madoguchi.db"
    url = f"sqlite+aiosqlite:///{path}"
    procs.prepare_product(url, workdir, WORKSPACE_YAML, TOKEN_ENV, "bench")
    proc = procs.product_proc("madoguchi-e2e", url, workdir)
    proc.env["MADOGUCHI_SENDER_ENABLED"] = "false"
    cleanup.add_proc(proc).start()
    db = Db(path)
    lines: list[str] = [f"e2e sqlite layout: {ack.layout_of(proc)}"]
    try:
        # 1. burst from `customers` customers (round robin: ~burst/customers each)
        before = db.last_id()
        machine0, cpu0 = procs.machine_jiffies(), _cpu(proc)
        result = run_loadgen(
            {**_spec(proc, cfg, 0, cfg.customers, "burst"), "mode": "max", "n": cfg.burst},
            timeout=300,
        )
        wait_drained(db.pending)
        busy = procs.busy_between(machine0, procs.machine_jiffies())
        s = db.span(before)
        total = s["last_stored"] - s["first"]
        ack_span = s["last_received"] - s["first"]
        lines.append(
            f"e2e sqlite burst ({cfg.customers:,} customers): {result['ok']:,} deliveries "
            f"acknowledged in {ack_span:.1f} s; {s['stored']:,} messages stored "
            f"{total:.1f} s after the first arrived: {fmt_rate(s['stored'] / total)} "
            f"messages/s end to end (target >= 1,000); {s['during']:,} stored while the "
            f"burst was still being acknowledged; {_per_cpu(s['stored'], proc, cpu0)}; "
            f"all CPUs {busy:.0%} busy"
        )
        time.sleep(1)
        # 2. new customers: each delivery from a customer never seen
        before = db.last_id()
        machine0, cpu0 = procs.machine_jiffies(), _cpu(proc)
        spec = {**_spec(proc, cfg, 1_000_000, cfg.new_customers, "new"), "customer_base": 10**6}
        result = run_loadgen({**spec, "mode": "max", "n": cfg.new_customers}, timeout=300)
        wait_drained(db.pending)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            s = db.span(before)
            if s["queued"] >= s["created"]:
                break
            time.sleep(0.25)
        busy = procs.busy_between(machine0, procs.machine_jiffies())
        total = s["last_queued"] - s["first"]
        lines.append(
            f"e2e sqlite new customers: {s['created']:,} conversations created, "
            f"{s['queued']:,} queued, {total:.1f} s from the first arrival to the last "
            f"queued: {fmt_rate(s['queued'] / total)} new conversations/s (target >= 500); "
            f"{_per_cpu(s['queued'], proc, cpu0)}; all CPUs {busy:.0%} busy"
        )
        time.sleep(1)
        # 3. sustained open-loop stream
        samples: list[int] = []
        stop = threading.Event()
        sampler = threading.Thread(target=_sample_backlog, args=(db, stop, samples))
        sampler.start()
        machine0 = procs.machine_jiffies()
        try:
            result = run_loadgen(
                {
                    **_spec(proc, cfg, 2_000_000, cfg.customers, "stream"),
                    "mode": "rate",
                    "rate": cfg.rate,
                    "duration": cfg.duration,
                    "max_in_flight": max(cfg.concurrency, cfg.rate),
                    "time_limit": cfg.duration + 60,
                },
                timeout=cfg.duration + 120,
            )
        finally:
            stop.set()
            sampler.join()
        drain = wait_drained(db.pending)
        busy = procs.busy_between(machine0, procs.machine_jiffies())
        worst = max(samples) if samples else 0
        stopped = (
            f"; the load generator stopped after {result['stopped_at']:,} (server behind)"
            if result.get("stopped_at") is not None
            else ""
        )
        lines.append(
            f"e2e sqlite stream @{cfg.rate}/s for {cfg.duration:.0f} s: "
            f"{result['ok']:,}/{result['planned']:,} acknowledged, ack p99 "
            f"{result['sched']['p99_ms']:.0f} ms; backlog at worst {worst:,} deliveries "
            f"= {worst / cfg.rate:.1f} s of arrivals (target <= 2 s), drained "
            f"{drain:.1f} s after the last; all CPUs {busy:.0%} busy{stopped}"
        )
        errors = proc.log_count("Traceback")
        if errors:
            lines.append(f"  server log: {errors} tracebacks (see {proc.log_path})")
    except subprocess.TimeoutExpired as exc:
        lines.append(f"e2e sqlite: load generator timed out ({exc})")
    finally:
        proc.stop()
    return lines
