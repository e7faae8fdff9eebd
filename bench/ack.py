"""The acknowledgement path measured with wrk, so that the load generator is not the
bottleneck (``== ack sqlite``).

wrk (a C load generator, ``apt-get install wrk``; ``make bench`` installs it) sends with 1
thread on 32 keep-alive connections, for a fixed time, distinct signed deliveries
(``bench/wrk_signed.lua`` reads them, prepared here, from a file) to:

(a) the bare endpoint (``bench.bare``: Starlette only, signature check, same uvicorn
    options as ``madoguchi serve``): the ceiling of this machine;
(b) ``madoguchi serve`` on SQLite: signature, body limit, parse, group commit into the
    webhook journal, 200 — and the journal's processing, in its child process (the
    default layout, ``madoguchi.layout``) or in the same process (``--processes 1``);
(c) unless ``--processes 1`` was asked, ``madoguchi serve`` in one process too, on a
    fresh database, for comparison in the same run.

One server at a time (they never share the CPU), each warmed up first with deliveries of
its own. Printed: deliveries/s of each and their ratio (target ≥ 0.5), the ack p99,
latency, the CPU each side used (all of madoguchi's processes) per delivery, and a data
check (every acknowledged delivery is a journal row).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench import procs
from bench.ingest import NUMBER, TOKEN_ENV, WORKSPACE_YAML
from bench.loadgen import build_deliveries
from bench.stats import fmt_rate
from madoguchi.services.channel import journal_inbox

WRK = shutil.which("wrk") or "/usr/bin/wrk"
SCRIPT = Path(__file__).with_name("wrk_signed.lua")


@dataclass
class AckConfig:
    threads: int = 1
    connections: int = 32
    seconds: float = 5.0
    warmup_seconds: float = 1.0
    # Deliveries prepared per run: more than the fastest server answers in that time, so
    # none is sent twice (a run that wraps around says so).
    per_second: int = 16_000
    customers: int = 2000
    cpu_requests: int = 5000  # for the in-process CPU-per-acknowledgement line


def prepare(workdir: Path, name: str, count: int, offset: int, cfg: AckConfig) -> Path:
    """``count`` distinct signed deliveries, one "signature<TAB>body" line each."""
    spec = {
        "number": NUMBER,
        "customers": cfg.customers,
        "offset": offset,
        "secret": procs.APP_SECRET,
        "tag": f"ack-{name}",
    }
    path = workdir / f"{name}.bodies"
    with path.open("wb") as out:
        for body, signature in build_deliveries(spec, count):
            out.write(signature.encode() + b"\t" + body + b"\n")
    return path


def run_wrk(url: str, bodies: Path, seconds: float, cfg: AckConfig) -> dict:
    """One wrk run; its figures, with the CPU wrk itself used."""
    env = procs.base_env()
    env["WRK_BODIES"] = str(bodies)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [
            WRK,
            f"-t{cfg.threads}",
            f"-c{cfg.connections}",
            f"-d{max(1, round(seconds))}s",  # whole seconds: wrk reads no fractions
            "--timeout",
            "10s",
            "-s",
            str(SCRIPT),
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"wrk printed no figures:\n{done.stdout}\n{done.stderr}")
    result = json.loads(lines[-1])
    result["client_cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    errors = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
    result["errors"] = errors
    result["ok"] = result["requests"] - result["status"]
    result["elapsed_s"] = result["duration_us"] / 1e6
    result["throughput"] = result["ok"] / result["elapsed_s"] if result["elapsed_s"] else 0.0
    return result


def measure(
    proc: procs.Proc, warm: Path, bodies: Path, prepared: int, cfg: AckConfig, rows=None
) -> dict:
    """Warm-up, then the measured run, against one server (each run's deliveries distinct).
    ``rows``: counts the journal's rows, before and after the measured run."""
    url = proc.url + "/webhooks/whatsapp"
    run_wrk(url, warm, cfg.warmup_seconds, cfg)
    time.sleep(0.5)
    rows_before = rows() if rows else 0
    cpu0, own0, machine0 = proc.cpu_seconds(), proc.own_cpu_seconds(), procs.machine_jiffies()
    result = run_wrk(url, bodies, cfg.seconds, cfg)
    result["new_rows"] = rows() - rows_before if rows else 0
    result["server_cpu_s"] = proc.cpu_seconds() - cpu0
    result["web_cpu_s"] = proc.own_cpu_seconds() - own0
    result["machine_busy"] = procs.busy_between(machine0, procs.machine_jiffies())
    result["prepared"] = prepared
    return result


def layout_of(proc: procs.Proc) -> str:
    """``madoguchi serve``'s own line saying which process runs what."""
    try:
        text = proc.log_path.read_text(errors="replace")
    except OSError:
        return "?"
    start = text.rfind("processes: ")
    if start < 0:
        return "?"
    end = text.find("INFO", start)
    return " ".join(text[start + len("processes: ") : end].split())


def _split(r: dict, wall: float) -> str:
    """The web process's and its children's shares, when it has children, and the web
    process's CPU per delivery (what acknowledging costs there: uvicorn, the app, the
    inbox's commits, the events relayed from the children; compare the bare endpoint's)."""
    children = r["server_cpu_s"] - r["web_cpu_s"]
    if children < 0.01 * wall:
        return ""
    return (
        f" (web process {r['web_cpu_s'] / wall:.0%} = "
        f"{1e6 * r['web_cpu_s'] / max(r['ok'], 1):.0f} us per delivery, its children "
        f"{children / wall:.0%})"
    )


def _line(label: str, r: dict) -> str:
    wall = r["elapsed_s"] or 1.0
    wrapped = (
        f"; {r['requests'] - r['prepared']} deliveries sent a second time (only "
        f"{r['prepared']} prepared)"
        if r["requests"] > r["prepared"]
        else ""
    )
    return (
        f"  {label}: {fmt_rate(r['throughput'])} deliveries/s ({r['ok']} in "
        f"{r['elapsed_s']:.1f} s), p50 {r['p50_us'] / 1000:.1f} ms, p99 "
        f"{r['p99_us'] / 1000:.1f} ms, errors {r['errors']}; CPU server "
        f"{r['server_cpu_s'] / wall:.0%} of a core{_split(r, wall)} = "
        f"{1e6 * r['server_cpu_s'] / max(r['ok'], 1):.0f} us per delivery, wrk "
        f"{r['client_cpu_s'] / wall:.0%}, all "
        f"CPUs {r['machine_busy']:.0%} busy{wrapped}"
    )


def ack_cpu(url: str, workdir: Path, bodies: Path, n: int) -> dict:
    """``bench.ack_cpu`` in its own process: CPU per acknowledgement, bare vs product."""
    done = subprocess.run(
        [procs.PYTHON, "-m", "bench.ack_cpu", str(bodies), str(n)],
        env=procs.product_env(url, workdir, 0),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.ack_cpu failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def journal_rows(db_path: Path):
    """The journal's rows, with those acknowledged into the split layout's inbox and not
    moved into the journal yet (``journal_inbox``)."""

    def count() -> int:
        return journal_inbox.acknowledged(f"sqlite:///{db_path}")

    return count


def run(cfg: AckConfig, workdir: Path, cleanup: procs.Cleanup) -> list[str]:
    """Bare endpoint, then ``madoguchi serve`` on SQLite; the printed lines."""
    if not os.access(WRK, os.X_OK):
        raise RuntimeError(f"wrk is not installed at {WRK} (make bench installs it)")
    workdir.mkdir(parents=True, exist_ok=True)
    db_path = workdir / "madoguchi.db"
    url = f"sqlite+aiosqlite:///{db_path}"
    procs.prepare_product(url, workdir, WORKSPACE_YAML, TOKEN_ENV, "bench")

    # The same deliveries for both servers (the bare one stores nothing).
    warm_n = int(cfg.per_second * cfg.warmup_seconds)
    run_n = int(cfg.per_second * cfg.seconds)
    warm = prepare(workdir, "warmup", warm_n, 0, cfg)
    bodies = prepare(workdir, "measured", run_n, warm_n, cfg)

    port = procs.free_port()
    args = [procs.PYTHON, "-m", "bench.bare", "--port", str(port), "--app-secret", procs.APP_SECRET]
    bare = cleanup.add_proc(procs.Proc("bare", args, procs.base_env(), workdir, port, "/healthz"))
    bare.start()
    try:
        bare_figures = measure(bare, warm, bodies, run_n, cfg)
    finally:
        bare.stop()

    cpu_db = workdir / "ack-cpu.db"
    shutil.copy(db_path, cpu_db)  # migrated, with the workspace, before any delivery
    one_db = workdir / "ack-one.db"
    shutil.copy(db_path, one_db)
    layout = procs.SERVE_PROCESSES
    product = cleanup.add_proc(procs.product_proc("madoguchi-ack", url, workdir)).start()
    try:
        prod_figures = measure(product, warm, bodies, run_n, cfg, journal_rows(db_path))
        tracebacks = product.log_count("Traceback")
        layout_line = layout_of(product)
    finally:
        product.stop()
    # The one-process layout in the same run, for comparison (its own fresh database).
    one = None
    if layout != "1":
        one_proc = procs.product_proc("madoguchi-ack-one", f"sqlite+aiosqlite:///{one_db}", workdir)
        one_proc.env["MADOGUCHI_PROCESSES"] = "1"
        cleanup.add_proc(one_proc).start()
        try:
            one = measure(one_proc, warm, bodies, run_n, cfg, journal_rows(one_db))
        finally:
            one_proc.stop()

    cpu = ack_cpu(f"sqlite+aiosqlite:///{cpu_db}", workdir, bodies, cfg.cpu_requests)
    ratio = prod_figures["throughput"] / bare_figures["throughput"]
    acked, rows = prod_figures["ok"], prod_figures["new_rows"]
    lines = [
        f"ack sqlite (wrk, {cfg.threads} thread, {cfg.connections} connections, "
        f"{cfg.seconds:g} s): madoguchi serve {fmt_rate(prod_figures['throughput'])} "
        f"deliveries/s | bare Starlette {fmt_rate(bare_figures['throughput'])}/s | ratio "
        f"{ratio:.2f} (target >= 0.5: {'met' if ratio >= 0.5 else 'NOT met'}) | ack p99 "
        f"{prod_figures['p99_us'] / 1000:.1f} ms (bare {bare_figures['p99_us'] / 1000:.1f} ms)",
        f"  layout: {layout_line}; the acknowledgements commit into "
        + (
            "the journal's inbox (a file of its own, journal_inbox)"
            if journal_inbox.inbox_path(url).exists()
            else "the journal (the database file)"
        ),
        _line("madoguchi serve", prod_figures),
        _line("bare endpoint", bare_figures),
    ]
    if one is not None:
        lines.append(
            _line("madoguchi serve, 1 process (for comparison)", one)
            + f"; ratio {one['throughput'] / bare_figures['throughput']:.2f}"
        )
    lines += [
        f"  data check: the measured run added {rows} journal rows for {acked} acknowledged "
        "deliveries: "
        + ("every acknowledged delivery is a row" if rows >= acked else "ROWS MISSING"),
    ]
    lines.append(
        f"  acknowledgement alone (in-process ASGI, no network, processing held back, "
        f"{cfg.cpu_requests} deliveries): madoguchi {cpu['product_us']:.0f} us of CPU per "
        f"delivery, bare {cpu['bare_us']:.0f} us; errors {cpu['errors']}"
    )
    if tracebacks:
        lines.append(f"  server log: {tracebacks} tracebacks (see {product.log_path})")
    return lines
