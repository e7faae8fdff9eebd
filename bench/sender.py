"""Outbox sender against the simulator: achieved rate per number, 1-s windows, latency.

Setup: the simulator (``bench.simapp`` on uvicorn) hosts two numbers limited to 80/s and
1,000/s (beyond which it answers Meta's 130429), and ``madoguchi serve`` on a fresh
SQLite file points its Graph API at it; the workspace file declares the same limits
(``rate_limit_per_second``). Each number gets ``customers`` customers who write first,
which opens their 24-hour windows (in the simulator and in the product) and creates the
conversations: each customer writes through the simulator's control API with its
webhooks paused, and this process posts the same signed delivery to the product itself
(the simulator's own delivery is what takes the time, not what is measured here).

Phases, one number at a time:

1. under the limit: ``under`` messages queued through the REST API
   (``POST /api/v1/conversations/{id}/messages``), paced at half the number's limit →
   p50/p99 queue→accepted (and how fast the REST API took them);
2. bulk: messages queued with the service function
   ``madoguchi.services.channel.outbox.queue_message`` from this process into the same SQLite
   file, due an hour later (``now=``), then all made due at one instant by one UPDATE
   of their outbox rows' ``next_attempt_at``; queue→accepted is measured from that
   instant. The REST API is too slow for this on a 2-core machine: in a first version of
   this benchmark it queued 61 messages/s while the sender worked, which starved even the
   80/s number. The server's sender finds due rows by its 1-s poll (another process
   cannot wake it). Runs: 1,000/s with the simulator's webhooks switched off (the sender
   alone); two numbers at once (the 80/s number's backlog queued just ahead of the
   1,000/s number's); then 80/s and 1,000/s with the status webhooks every send causes
   (as Meta sends them), the latter last because the backlog of status webhooks it
   leaves in the simulator would load any later run.

Every Graph API request the product makes is read back from the simulator's
``/_sim/sent`` log (polled with ``since`` during the run): the achieved rate, the largest
count in any sliding 1-s window and the 130429 answers come from there; queue→accepted
comes from the database (from queueing, or from the instant the rows were made due, to
the outbox row's ``finished_at``, which the sender sets when Meta accepted the message;
``status_updated_at`` moves on with later status webhooks, so it cannot be used).

The section keeps to a time budget (``budget`` seconds): when the bulk runs would not
fit, both are shrunk by the same factor and the printed figures say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench import procs
from bench.loadgen import RawClient
from bench.stats import fmt_ms, fmt_rate, latency_summary, max_in_window, steady_rate
from madoguchi.simulator import payloads
from madoguchi.whatsapp.signature import sign

WABA_ID = "209000000000002"
NUMBERS = [
    {
        "phone_number_id": "109000000000080",
        "display_phone_number": "+1 555 0180",
        "waba_id": WABA_ID,
        "rate": 80,
        "token": "bench-token-80",
        "env": "BENCH_TOKEN_80",
    },
    {
        "phone_number_id": "109000000001000",
        "display_phone_number": "+1 555 0110",
        "waba_id": WABA_ID,
        "rate": 1000,
        "token": "bench-token-1000",
        "env": "BENCH_TOKEN_1000",
    },
]
FAR = timedelta(hours=1)  # "not due yet" for rows queued ahead of their run


def workspace_yaml() -> str:
    numbers = "".join(
        f"""
        - phone_number_id: "{n["phone_number_id"]}"
          display_phone_number: "{n["display_phone_number"]}"
          access_token: ${{{n["env"]}}}
          rate_limit_per_second: {n["rate"]}"""
        for n in NUMBERS
    )
    return f"""\
workspace: {{slug: bench, name: Bench}}
whatsapp:
  accounts:
    - waba_id: "{WABA_ID}"
      name: Bench
      phone_numbers:{numbers}
"""


@dataclass
class SenderConfig:
    bulk: int = 10_000
    customers: int = 1000  # per number; ≤ 10 bulk messages each (the pair-rate pacing)
    under: int = 200
    under_fraction: float = 0.5
    bulk_alone: int = 10_000  # 1,000/s with the status webhooks switched off
    two_numbers: int = 400  # per number, for the head-of-line check
    api_concurrency: int = 16
    budget: float = 420.0  # seconds for the whole section; the bulk runs shrink to fit


@dataclass
class Phase:
    number: dict
    name: str
    message_ids: list[int] = field(default_factory=list)
    started: float = 0.0  # wall clock (time.time), as the simulator's `at`
    ended: float = 0.0
    due: float | None = None  # wall clock at which the rows were made due
    queue_seconds: float = 0.0
    queue_method: str = ""
    notes: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------------- sent log


class SentLog:
    """Polls the simulator's ``/_sim/sent`` with ``since`` and keeps every record.

    The endpoint answers the *last* ``limit`` records after ``since``, so it is polled
    often enough that fewer than ``limit`` arrive in between; a gap in ``seq`` would show.
    """

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.records: list[dict] = []
        self.last_seq = 0
        self.gaps = 0
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()  # the poller and explicit polls must not interleave

    async def poll_once(self) -> None:
        async with self._lock:
            response = await self.client.get(
                "/_sim/sent", params={"since": self.last_seq, "limit": 5000}
            )
            response.raise_for_status()
            items = [r for r in response.json()["requests"] if r["seq"] > self.last_seq]
            if items and items[0]["seq"] != self.last_seq + 1:
                self.gaps += items[0]["seq"] - self.last_seq - 1
            for item in items:
                item.pop("body", None)
                self.records.append(item)
            if items:
                self.last_seq = items[-1]["seq"]

    async def run(self, period: float = 0.5) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(httpx.HTTPError):
                await self.poll_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), period)

    async def stop(self) -> None:
        self._stop.set()
        await self.poll_once()

    def sends(self, pnid: str, start: float, end: float, wamids: set | None = None) -> list[dict]:
        """Send requests for ``pnid``: accepted ones whose wamid is in ``wamids`` (when
        given: the run's own messages), and refused ones answered between start and end."""
        out = []
        for r in self.records:
            if r["phone_number_id"] != pnid or r["method"] != "POST":
                continue
            if not r["path"].endswith("/messages"):
                continue
            if r["status_code"] == 200 and wamids is not None:
                if _wamid(r) in wamids:
                    out.append(r)
            elif start <= r["at"] <= end:
                out.append(r)
        return out


def _error_code(record: dict) -> int | None:
    response = record.get("response")
    if isinstance(response, dict) and isinstance(response.get("error"), dict):
        return response["error"].get("code")
    return None


def _wamid(record: dict) -> str | None:
    response = record.get("response")
    with contextlib.suppress(KeyError, IndexError, TypeError):
        return response["messages"][0]["id"]
    return None


# ---------------------------------------------------------------------- database


def _sqlite_time(moment: datetime) -> str:
    """A UTC instant as the product stores it on SQLite (naive, microseconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _ts(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Store:
    """Queries on the product's SQLite file (WAL: readers never block the server)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        with contextlib.closing(sqlite3.connect(self.path, timeout=30)) as conn:
            return conn.execute(sql, args).fetchall()

    async def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        return await asyncio.to_thread(self._query, sql, args)

    async def finished(self, ids: list[int]) -> int:
        rows = await self.query(
            "SELECT message_id FROM outbox WHERE message_id BETWEEN ? AND ? "
            "AND state IN ('done', 'failed')",
            (min(ids), max(ids)),
        )
        wanted = set(ids)
        return sum(1 for (mid,) in rows if mid in wanted)

    async def outcomes(self, ids: list[int]) -> list[dict]:
        rows = await self.query(
            "SELECT m.id, m.timestamp, m.status, o.state, o.finished_at, o.attempts, "
            "o.last_error, m.wamid FROM messages m JOIN outbox o ON o.message_id = m.id "
            "WHERE m.id BETWEEN ? AND ?",
            (min(ids), max(ids)),
        )
        wanted = set(ids)
        keys = ("id", "timestamp", "status", "state", "finished_at", "attempts", "error", "wamid")
        return [dict(zip(keys, row, strict=True)) for row in rows if row[0] in wanted]

    def _make_due(self, ranges: list[tuple[int, int]]) -> float:
        with contextlib.closing(
            sqlite3.connect(self.path, timeout=30, isolation_level=None)
        ) as conn:
            conn.execute("BEGIN IMMEDIATE")
            now = _sqlite_time(datetime.now(UTC))
            for low, high in ranges:
                conn.execute(
                    "UPDATE outbox SET next_attempt_at = ? "
                    "WHERE message_id BETWEEN ? AND ? AND state = 'pending'",
                    (now, low, high),
                )
            conn.execute("COMMIT")
        return time.time()

    async def make_due(self, *phases: Phase) -> float:
        """Every row of ``phases`` due now, in one transaction; returns that instant."""
        ranges = [(min(p.message_ids), max(p.message_ids)) for p in phases]
        due = await asyncio.to_thread(self._make_due, ranges)
        for phase in phases:
            phase.due = phase.started = due
        return due


# ---------------------------------------------------------------------- the run


class SenderBench:
    def __init__(self, cfg: SenderConfig, workdir: Path, say) -> None:
        self.cfg = cfg
        self.workdir = workdir
        self.say = say
        self.db_path = workdir / "madoguchi.db"
        self.db_url = f"sqlite+aiosqlite:///{self.db_path}"
        self.store = Store(self.db_path)
        self.conversations: dict[str, list[int]] = {}
        self.queue_rates: list[float] = []
        self.send_rates: dict[int, float] = {}
        self.lines: list[str] = []
        self.product: procs.Proc | None = None
        self.sim: procs.Proc | None = None
        self.started = time.monotonic()

    # ---------------------------------------------------------------- servers

    def start(self, cleanup: procs.Cleanup) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.token = procs.prepare_product(
            self.db_url,
            self.workdir,
            workspace_yaml(),
            {n["env"]: n["token"] for n in NUMBERS},
            "bench",
        )
        product_port, sim_port = procs.free_port(), procs.free_port()
        sim_config = {
            "webhook_url": f"http://127.0.0.1:{product_port}/webhooks/whatsapp",
            "app_secret": procs.APP_SECRET,
            "verify_token": procs.VERIFY_TOKEN,
            "public_url": f"http://127.0.0.1:{sim_port}",
            "numbers": [
                {
                    "phone_number_id": n["phone_number_id"],
                    "display_phone_number": n["display_phone_number"],
                    "waba_id": WABA_ID,
                    "access_token": n["token"],
                    "rate_per_second": n["rate"],
                }
                for n in NUMBERS
            ],
            "sent_log_size": 100_000,
        }
        config_path = self.workdir / "simulator.json"
        config_path.write_text(json.dumps(sim_config))
        env = procs.base_env()
        env["BENCH_SIM_CONFIG"] = str(config_path)
        sim_args = [
            procs.PYTHON, "-m", "uvicorn", "bench.simapp:app", "--factory", "--host",
            "127.0.0.1", "--port", str(sim_port), "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        self.sim = cleanup.add_proc(
            procs.Proc("simulator", sim_args, env, self.workdir, sim_port, "/_sim/health")
        ).start()
        self.product = cleanup.add_proc(
            procs.product_proc(
                "madoguchi-sender",
                self.db_url,
                self.workdir,
                f"http://127.0.0.1:{sim_port}",
                port=product_port,
            )
        ).start()

    def snapshot(self) -> tuple[dict[str, float], tuple[int, int], float]:
        cpu = {"product": self.product.cpu_seconds(), "simulator": self.sim.cpu_seconds()}
        return cpu, procs.machine_jiffies(), time.monotonic()

    @staticmethod
    def usage(before, after) -> dict[str, float]:
        wall = after[2] - before[2]
        out = {k: (after[0][k] - before[0][k]) / wall for k in before[0]}
        out["machine"] = procs.busy_between(before[1], after[1])
        return out

    def remaining(self) -> float:
        return self.cfg.budget - (time.monotonic() - self.started)

    # ---------------------------------------------------------------- setup

    async def set_webhooks(self, sim: httpx.AsyncClient, *, enabled: bool) -> None:
        """Switch the simulator's webhooks; before switching off, let its backlog drain."""
        if not enabled:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                busy = 0
                for state in ("pending", "retrying"):
                    response = await sim.get(
                        "/_sim/deliveries", params={"state": state, "body": False, "limit": 5000}
                    )
                    busy += len(response.json()["deliveries"])
                if not busy:
                    break
                await asyncio.sleep(0.5)
        response = await sim.post("/_bench/webhooks", json={"enabled": enabled})
        response.raise_for_status()

    async def create_customers(self, sim: httpx.AsyncClient) -> None:
        """Each customer writes once to its number: the simulator records it (webhooks
        paused) and this process posts the same signed delivery to the product."""
        await self.set_webhooks(sim, enabled=False)
        jobs = [(j, i, n) for j, n in enumerate(NUMBERS) for i in range(self.cfg.customers)]
        failures: Counter[str] = Counter()
        queue = iter(jobs)
        product = RawClient(self.product.url + "/webhooks/whatsapp", 32)
        await product.open()

        async def worker() -> None:
            for j, i, number in queue:
                wa_id = f"81{80 + j}{i:08d}"
                created = await sim.post(
                    "/_sim/customers", json={"wa_id": wa_id, "name": f"C{j}-{i}"}
                )
                created.raise_for_status()
                customer = created.json()
                wrote = await sim.post(
                    f"/_sim/customers/{customer['id']}/messages",
                    json={
                        "phone_number_id": number["phone_number_id"],
                        "type": "text",
                        "text": f"hello {i}",
                    },
                )
                wrote.raise_for_status()
                body = json.dumps(
                    payloads.message_webhook(number, customer, wrote.json()["message"]),
                    separators=(",", ":"),
                ).encode()
                status, answer = await product.post(
                    product.encode(body, sign(body, procs.APP_SECRET))
                )
                if status != 200:
                    failures[f"{status} {answer[:80]!r}"] += 1

        t0 = time.monotonic()
        try:
            await asyncio.gather(*(worker() for _ in range(32)))
        finally:
            await product.aclose()
        await self.set_webhooks(sim, enabled=True)
        took = time.monotonic() - t0
        self.lines.append(
            f"sender setup: {len(jobs)} customers wrote first (simulator + signed webhook to "
            f"the product) in {took:.1f} s"
            + (f"; FAILED deliveries: {dict(failures)}" if failures else "")
        )

    async def load_conversations(self, api: httpx.AsyncClient) -> None:
        self.conversations = {}
        before_id = None
        for _ in range(1000):  # bounded paging
            params = {"limit": 200, **({"before_id": before_id} if before_id else {})}
            response = await api.get("/api/v1/conversations", params=params)
            response.raise_for_status()
            page = response.json()
            if not page:
                break
            for conv in page:
                self.conversations.setdefault(conv["phone_number_id"], []).append(conv["id"])
            before_id = page[-1]["id"]
        for ids in self.conversations.values():
            ids.sort()

    # ---------------------------------------------------------------- queueing

    async def queue_api_paced(self, api: httpx.AsyncClient, phase: Phase, count: int, rate: float):
        """Open loop: one POST every 1/rate s, whether or not earlier ones were answered."""
        convs = self.conversations[phase.number["phone_number_id"]]
        statuses: Counter[int] = Counter()

        async def one(k: int) -> None:
            response = await api.post(
                f"/api/v1/conversations/{convs[k % len(convs)]}/messages",
                json={"message": {"type": "text", "text": {"body": f"{phase.name} {k}"}}},
            )
            statuses[response.status_code] += 1
            if response.status_code == 202:
                phase.message_ids.append(response.json()["id"])

        tasks = []
        t0 = time.perf_counter()
        for k in range(count):
            delay = t0 + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(k)))
        await asyncio.gather(*tasks)
        phase.queue_seconds = time.perf_counter() - t0
        phase.queue_method = (
            f"REST API, paced at {rate:g}/s: took {phase.queue_seconds:.1f} s for {count} "
            f"({count / phase.queue_seconds:.0f}/s)"
        )
        if statuses.get(202, 0) != count:
            phase.notes.append(f"queue API answers: {dict(statuses)}")

    async def queue_service(self, phase: Phase, count: int) -> None:
        """``queue_message`` from this process into the same SQLite file, due in an hour."""
        from sqlalchemy import event, select
        from sqlalchemy.exc import OperationalError

        from madoguchi.services.channel.outbox import queue_message
        from madoguchi.store.db import Database, _sqlite_begin
        from madoguchi.store.models import Workspace
        from madoguchi.whatsapp.outbound import validate_outbound

        convs = self.conversations[phase.number["phone_number_id"]]
        db = Database(self.db_url)
        # This process is a second writer of the server's SQLite file. The product begins
        # its transactions with a deferred BEGIN, which cannot take the write lock once the
        # server has committed after the transaction's first read (SQLITE_BUSY at once,
        # whatever busy_timeout says; see docs/benchmarks.md). BEGIN IMMEDIATE takes the
        # lock up front and waits for it, so only this engine is switched to it.
        event.remove(db.engine.sync_engine, "begin", _sqlite_begin)
        event.listen(
            db.engine.sync_engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE")
        )
        later = datetime.now(UTC) + FAR
        try:
            async with db.read() as session:
                workspace_id = await session.scalar(
                    select(Workspace.id).where(Workspace.slug == "bench")
                )
            t0 = time.perf_counter()
            retries = 0
            for k in range(count):
                message = validate_outbound({"type": "text", "text": {"body": f"{phase.name} {k}"}})
                for attempt in range(20):
                    try:
                        stored, _ = await queue_message(
                            db, workspace_id, convs[k % len(convs)], message, now=later
                        )
                        break
                    except OperationalError as exc:
                        # busy_timeout (10 s) ran out; the transaction rolled back.
                        if "locked" not in str(exc) or attempt == 19:
                            raise
                        retries += 1
                        await asyncio.sleep(0.05)
                phase.message_ids.append(stored.id)
            phase.queue_seconds = time.perf_counter() - t0
        finally:
            await db.dispose()
        speed = count / phase.queue_seconds
        self.queue_rates.append(speed)
        phase.queue_method = (
            f"queue_message() from the benchmark process ({speed:.0f} messages/s), made due "
            f"all at once afterwards"
        )
        if retries:
            phase.notes.append(f"'database is locked' after busy_timeout {retries} times")

    # ---------------------------------------------------------------- waiting, figures

    async def wait_done(self, phase: Phase, budget: float) -> None:
        deadline = time.monotonic() + budget
        done = 0
        while time.monotonic() < deadline:
            done = await self.store.finished(phase.message_ids)
            if done >= len(phase.message_ids):
                return
            await asyncio.sleep(0.5)
        phase.notes.append(
            f"gave up waiting after {budget:.0f} s: {done}/{len(phase.message_ids)} finished"
        )

    async def wamids(self, phase: Phase) -> set[str]:
        return {o["wamid"] for o in await self.store.outcomes(phase.message_ids) if o["wamid"]}

    async def latencies(self, phase: Phase, accepted_at: dict[str, float] | None = None):
        """queue→accepted (from the queue time, or from when the rows were made due) and,
        with the simulator's answer times, its two parts."""
        outcomes = await self.store.outcomes(phase.message_ids)
        done = [o for o in outcomes if o["state"] == "done" and o["finished_at"]]

        def base(o: dict) -> float:
            return phase.due if phase.due is not None else _ts(o["timestamp"]).timestamp()

        total = [_ts(o["finished_at"]).timestamp() - base(o) for o in done]
        accepted_at = accepted_at or {}
        known = [o for o in done if o["wamid"] in accepted_at]
        to_meta = [accepted_at[o["wamid"]] - base(o) for o in known]
        recording = [_ts(o["finished_at"]).timestamp() - accepted_at[o["wamid"]] for o in known]
        return (
            outcomes,
            latency_summary(total),
            latency_summary(to_meta),
            latency_summary(recording),
        )

    async def figures(self, phase: Phase, log: SentLog, *, bulk: bool, label: str = "") -> None:
        number = phase.number
        limit = number["rate"]
        wamids = await self.wamids(phase)
        sends = log.sends(number["phone_number_id"], phase.started - 1, phase.ended + 1, wamids)
        accepted = sorted(r["at"] for r in sends if r["status_code"] == 200)
        accepted_at = {_wamid(r): r["at"] for r in sends if r["status_code"] == 200}
        codes = Counter(_error_code(r) for r in sends if r["status_code"] != 200)
        rate, span = steady_rate(accepted)
        if bulk and not math.isnan(rate):
            self.send_rates[limit] = rate
        window = max_in_window(accepted)
        window_all = max_in_window([r["at"] for r in sends])
        outcomes, summary, meta, rec = await self.latencies(phase, accepted_at)
        states = Counter(o["state"] for o in outcomes)
        retried = sum(1 for o in outcomes if (o["attempts"] or 0) > 1)
        errors_text = ", ".join(f"{c}: {n}" for c, n in codes.items() if c != 130429) or "none"
        failed = Counter((o["error"] or "?")[:160] for o in outcomes if o["state"] == "failed")
        for reason, n in failed.items():
            phase.notes.append(f"{n} failed: {reason}")
        head = f"sender {limit}/s{label}"
        if bulk:
            self.lines.append(
                f"{head}: achieved {fmt_rate(rate)}/s ({rate / limit:.1%} of limit, "
                f"{len(phase.message_ids)} messages, over {span:.0f} s), max in any 1 s window "
                f"{window} (limit {limit}; counting refused requests too: {window_all}), "
                f"130429 errors {codes.get(130429, 0)}, p99 queue→accepted "
                f"{fmt_ms(summary['p99_ms'])} (p50 {fmt_ms(summary['p50_ms'])})"
            )
        else:
            self.lines.append(
                f"{head} under the limit ({len(phase.message_ids)} at "
                f"{limit * self.cfg.under_fraction:g}/s): p50 queue→accepted "
                f"{fmt_ms(summary['p50_ms'])}, p99 {fmt_ms(summary['p99_ms'])}, max "
                f"{fmt_ms(summary['max_ms'])}; max in any 1 s window {window}, 130429 errors "
                f"{codes.get(130429, 0)}"
            )
        self.lines.append(
            f"  {len(accepted)} sends accepted by the simulator, {len(sends)} send requests; "
            f"outbox: {dict(states)}, {retried} retried; other Graph errors: {errors_text}"
        )
        self.lines.append(
            f"  {'due' if phase.due else 'queue'}→simulator answered p50 "
            f"{fmt_ms(meta['p50_ms'])} / p99 {fmt_ms(meta['p99_ms'])}, simulator answered→"
            f"outbox row done p50 {fmt_ms(rec['p50_ms'])} / p99 {fmt_ms(rec['p99_ms'])}; "
            f"CPU: product {phase.cpu.get('product', math.nan):.0%} of a core, simulator "
            f"{phase.cpu.get('simulator', math.nan):.0%}, all {os.cpu_count()} CPUs "
            f"{phase.cpu.get('machine', math.nan):.0%} busy"
        )
        self.lines.append(f"  queued by {phase.queue_method}")
        for note in phase.notes:
            self.lines.append(f"  note: {note}")
        self.say_new()

    # ---------------------------------------------------------------- runs

    async def under_limit(self, api: httpx.AsyncClient, number: dict, log: SentLog) -> None:
        rate = number["rate"] * self.cfg.under_fraction
        phase = Phase(number, f"under-{number['rate']}")
        before = self.snapshot()
        phase.started = time.time()
        await self.queue_api_paced(api, phase, self.cfg.under, rate)
        await self.wait_done(phase, 60)
        phase.ended = time.time() + 0.5
        phase.cpu = self.usage(before, self.snapshot())
        await asyncio.sleep(0.5)
        await log.poll_once()
        await self.figures(phase, log, bulk=False)

    async def bulk(
        self, number: dict, count: int, log: SentLog, label: str = "", note: str = ""
    ) -> Phase:
        """``count`` messages queued ahead, then all made due at one instant."""
        phase = Phase(number, f"bulk-{number['rate']}{label}")
        await self.queue_service(phase, count)
        await self.store.make_due(phase)
        before = self.snapshot()
        await self.wait_done(phase, count / min(number["rate"], 50) * 1.5 + 60)
        phase.ended = time.time() + 0.5
        phase.cpu = self.usage(before, self.snapshot())
        if note:
            phase.notes.append(note)
        await log.poll_once()
        await self.figures(phase, log, bulk=True, label=label)
        return phase

    async def statuses_caught_up(self, phase: Phase, budget: float) -> None:
        """How long after a run's last send its messages all show "delivered": the status
        webhooks (two per send) acknowledged and then applied by the journal's processor,
        which gives way to acknowledgements while they stream in."""
        ids = set(phase.message_ids)
        sql = "SELECT id FROM messages WHERE id BETWEEN ? AND ? AND status != 'delivered'"
        deadline = time.monotonic() + budget
        while True:
            rows = await self.store.query(sql, (min(ids), max(ids)))
            left = sum(1 for (mid,) in rows if mid in ids)
            after = time.time() - phase.ended
            if not left or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        done = len(ids) - left
        self.lines.append(
            f"sender 1000/s, its status webhooks: {done} of {len(ids)} messages delivered "
            f"{after:.0f} s after the run's last send"
            + (f" ({left} still waiting: budget reached)" if left else "")
        )
        self.say_new()

    async def two_numbers(self, slow: dict, fast: dict, count: int, log: SentLog) -> None:
        """``count`` messages for the slow number queued just ahead of ``count`` for the
        fast one, all due at the same instant: does a backlog on one number hold up
        another? (Each number has its own share of sends in flight.)"""
        first = Phase(slow, f"two-{slow['rate']}")
        second = Phase(fast, f"two-{fast['rate']}")
        await self.queue_service(first, count)
        await self.queue_service(second, count)
        due = await self.store.make_due(first, second)
        before = self.snapshot()
        await self.wait_done(second, count / slow["rate"] * 2 + 60)
        fast_done = time.time()
        await self.wait_done(first, count / slow["rate"] * 2 + 60)
        usage = self.usage(before, self.snapshot())
        await log.poll_once()
        parts = []
        for phase, end in ((second, fast_done), (first, time.time())):
            sends = log.sends(
                phase.number["phone_number_id"], due - 1, end + 1, await self.wamids(phase)
            )
            times = sorted(r["at"] for r in sends if r["status_code"] == 200)
            _, summary, _, _ = await self.latencies(phase)
            span = times[-1] - times[0] if len(times) > 1 else math.nan
            parts.append(
                f"{phase.number['rate']}/s number: {len(times)} sent at "
                f"{(len(times) - 1) / span if span else math.nan:.0f}/s, first send "
                f"{times[0] - due if times else math.nan:.1f} s after due, last "
                f"{times[-1] - due if times else math.nan:.1f} s after, p50 due→accepted "
                f"{fmt_ms(summary['p50_ms'])}"
            )
        self.lines.append(
            f"sender, two numbers at once ({count} for the {slow['rate']}/s number queued just "
            f"ahead of {count} for the {fast['rate']}/s one, all due together, status webhooks "
            f"off): " + "; ".join(parts)
        )
        self.lines.append(
            f"  CPU: product {usage['product']:.0%} of a core, all {os.cpu_count()} CPUs "
            f"{usage['machine']:.0%} busy"
        )
        self.say_new()

    def bulk_sizes(self) -> tuple[int, int, str]:
        """Message counts for the 80/s and 1,000/s bulk runs that fit the time budget."""
        full = self.cfg.bulk
        queue_rate = min(self.queue_rates) if self.queue_rates else 200.0
        fast = self.send_rates.get(1000, 200.0)
        slow = min(self.send_rates.get(80, 80.0), 80.0)
        per_message = 2 / queue_rate + 1 / slow + 1 / fast  # seconds per message of each
        available = self.remaining() - 30  # status-webhook drain, figures, shutdown
        count = max(1000, int(available / per_message) // 100 * 100)
        if count >= full:
            return full, full, ""
        note = (
            f"shrunk from {full} to {count} messages to fit the section's {self.cfg.budget:.0f} s "
            f"budget (queueing ran at {queue_rate:.0f}/s, sending at {fast:.0f}/s)"
        )
        return count, count, note

    # ---------------------------------------------------------------- main

    async def main(self) -> None:
        cfg = self.cfg
        n80, n1000 = NUMBERS
        async with (
            httpx.AsyncClient(base_url=self.sim.url, timeout=60) as sim,
            httpx.AsyncClient(
                base_url=self.product.url,
                timeout=60,
                headers={"Authorization": f"Bearer {self.token}"},
                limits=httpx.Limits(max_connections=cfg.api_concurrency),
            ) as api,
        ):
            await self.create_customers(sim)
            # The product acknowledges webhooks before it processes them: wait until every
            # customer's first message has become a conversation.
            deadline = time.monotonic() + 600
            while True:
                await self.load_conversations(api)
                counts = {pnid: len(ids) for pnid, ids in self.conversations.items()}
                ready = all(counts.get(n["phone_number_id"], 0) >= cfg.customers for n in NUMBERS)
                if ready or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            if any(counts.get(n["phone_number_id"], 0) < cfg.customers for n in NUMBERS):
                raise RuntimeError(
                    f"expected {cfg.customers} conversations per number, got {counts}"
                )
            self.say_new()
            log = SentLog(sim)
            poller = asyncio.create_task(log.run())
            try:
                # 1. Under the limit, both numbers, through the REST API.
                for number in (n80, n1000):
                    await self.under_limit(api, number, log)
                # 2. The sender alone, and two numbers at once (status webhooks off).
                await self.set_webhooks(sim, enabled=False)
                label = " (sender alone: status webhooks off)"
                await self.bulk(n1000, cfg.bulk_alone, log, label)
                await self.two_numbers(n80, n1000, cfg.two_numbers, log)
                await self.set_webhooks(sim, enabled=True)
                # 3. Bulk with the status webhooks: 80/s, then 1,000/s.
                size80, size1000, note = self.bulk_sizes()
                await self.bulk(n80, size80, log, note=note)
                last = await self.bulk(n1000, size1000, log, note=note)
                await self.statuses_caught_up(last, max(30.0, min(180.0, self.remaining())))
            finally:
                await log.stop()
                poller.cancel()
            if log.gaps:
                self.lines.append(f"  note: {log.gaps} records missing from /_sim/sent")
            statuses = await self.store.query(
                "SELECT status, count(*) FROM messages WHERE direction = 'outbound' GROUP BY status"
            )
            self.lines.append(
                f"sender: outbound messages by status at the end: {dict(statuses)} "
                "(sent/delivered come back by the simulator's status webhooks)"
            )
            self.say_new()

    def say_new(self) -> None:
        for line in self.lines:
            self.say(line)
        self.lines.clear()


def run(cfg: SenderConfig, workdir: Path, cleanup: procs.Cleanup, say) -> list[str]:
    bench = SenderBench(cfg, workdir, say)
    bench.start(cleanup)
    try:
        asyncio.run(bench.main())
    finally:
        bench.say_new()
    tracebacks = bench.product.log_count("Traceback")
    took = time.monotonic() - bench.started
    out = [f"   (sender section: {took:.0f} s of a {cfg.budget:.0f} s budget)"]
    if tracebacks:
        out.append(f"  product log: {tracebacks} tracebacks (see {bench.product.log_path})")
    return out
