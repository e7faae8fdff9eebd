"""``python -m bench`` (``make bench``): print Madoguchi's performance figures.

Options: ``--only ingest|ack|e2e|sender|flows|routing|assist|campaigns|wallboard|reports|
scale`` runs one section, ``--reports-conversations N`` sizes the reports section (1,000,000),
``--reports-sqlite PATH`` / ``--reports-postgres URL`` run it on kept databases (seeded
there once when empty, measured again without reseeding),
``--no-postgres`` skips the PostgreSQL figures, ``--quick`` shrinks every load (for
trying the harness, not for figures), ``--keep`` leaves the temporary directory
(databases, server logs) behind, ``--sender-budget SECONDS`` sets the sender section's
time budget.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench import (
    ack,
    assist,
    campaigns,
    e2e,
    flows,
    ingest,
    procs,
    reports,
    routing,
    scale,
    sender,
    wallboard,
)


def _say(line: str = "") -> None:
    print(line, flush=True)


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=procs.REPO,
            capture_output=True,
            text=True,
            timeout=10,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=procs.REPO,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def _on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only",
        choices=[
            "ingest",
            "ack",
            "e2e",
            "sender",
            "flows",
            "routing",
            "assist",
            "campaigns",
            "wallboard",
            "reports",
            "scale",
        ],
    )
    parser.add_argument(
        "--reports-conversations",
        type=int,
        default=reports.ReportsConfig.conversations,
        help="conversations seeded for the reports section (default %(default)s)",
    )
    parser.add_argument(
        "--reports-sqlite",
        metavar="PATH",
        help="reports section on this SQLite file, kept: seeded once when it has no seeded "
        "workspace, else only measured",
    )
    parser.add_argument(
        "--reports-postgres",
        metavar="URL",
        help="reports section on this existing PostgreSQL database "
        "(postgresql://root@127.0.0.1:5432/NAME), kept like --reports-sqlite",
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--processes",
        choices=["auto", "1", "2"],
        default="auto",
        help="madoguchi serve's layout (MADOGUCHI_PROCESSES; auto: 2 on SQLite, 1 on "
        "PostgreSQL; default %(default)s)",
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--sender-budget",
        type=float,
        default=sender.SenderConfig.budget,
        help="seconds for the sender section; its bulk runs shrink to fit (default %(default)s)",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    procs.SERVE_PROCESSES = args.processes

    started = time.monotonic()
    _say(
        f"Madoguchi benchmarks — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {_commit()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"
    )
    _say("All figures are printed, never asserted; targets are from the issues.")
    workdir = Path(tempfile.mkdtemp(prefix="madoguchi-bench-"))
    failures = 0
    icfg = ingest.IngestConfig()
    ecfg = e2e.E2EConfig()
    acfg = ack.AckConfig()
    scfg = sender.SenderConfig(budget=args.sender_budget)
    fcfg = flows.FlowConfig()
    rcfg = routing.RoutingConfig()
    wcfg = wallboard.WallboardConfig()
    ccfg = campaigns.CampaignBenchConfig()
    kcfg = scale.ScaleConfig()
    pcfg = reports.ReportsConfig(conversations=args.reports_conversations)
    if args.quick:
        kcfg = scale.ScaleConfig(deliveries=600, customers=200, repeats=1)
        pcfg = reports.ReportsConfig(conversations=20_000)
        ccfg = campaigns.CampaignBenchConfig(
            recipients=5000, send_seconds=8, baseline_replies=4, alone_seconds=4, settle_seconds=2
        )
        rcfg = routing.RoutingConfig(agents=50, conversations=500, latency_messages=50)
        icfg = ingest.IngestConfig(n=1000, duration=2.0, warmup=100)
        ecfg = e2e.E2EConfig(customers=200, burst=1000, new_customers=500, duration=5)
        acfg = ack.AckConfig(seconds=2.0, warmup_seconds=1.0, cpu_requests=1000)
        scfg = sender.SenderConfig(
            bulk=1000, bulk_alone=300, two_numbers=100, customers=200, under=50, budget=120
        )
        fcfg = flows.FlowConfig(customers=1000, open_seconds=10)
        wcfg = wallboard.WallboardConfig(
            agents=50, conversations=500, available=20, supervisors=5, duration=5, probes=2
        )
    sections = []
    if args.only in (None, "ingest"):
        sections.append(
            (
                "ingest sqlite",
                lambda c: ingest.run_backend("sqlite", icfg, workdir / "ingest-sqlite", c),
            )
        )
        if not args.no_postgres:
            sections.append(
                (
                    "ingest postgres",
                    lambda c: ingest.run_backend("postgres", icfg, workdir / "ingest-pg", c),
                )
            )
        sections.append(
            ("load generator check", lambda c: ingest.httpx_check(icfg, workdir / "httpx", c))
        )
    if args.only in (None, "ack"):
        sections.append(("ack sqlite", lambda c: ack.run(acfg, workdir / "ack", c)))
    if args.only in (None, "e2e"):
        sections.append(("e2e sqlite", lambda c: e2e.run(ecfg, workdir / "e2e", c)))
    if args.only in (None, "sender"):
        sections.append(("sender", lambda c: sender.run(scfg, workdir / "sender", c, _say)))
    if args.only in (None, "flows"):
        sections.append(
            ("flows sqlite", lambda c: flows.run_backend("sqlite", fcfg, workdir / "flows-lite", c))
        )
        if not args.no_postgres:
            sections.append(
                (
                    "flows postgres",
                    lambda c: flows.run_backend("postgres", fcfg, workdir / "fl-pg", c),
                )
            )
    if args.only in (None, "assist"):
        sections.append(("assist", assist.run))
    if args.only in (None, "campaigns"):
        sections.append(("campaigns", lambda c: campaigns.run(ccfg, workdir / "campaigns", c)))
    if args.only in (None, "routing"):
        sections.append(("routing", lambda c: routing.run(rcfg, workdir / "routing", c)))
    if args.only in (None, "wallboard"):
        sections.append(("wallboard", lambda c: wallboard.run(wcfg, workdir / "wallboard", c)))
    kept = args.reports_sqlite or args.reports_postgres
    if args.only in (None, "reports") and kept:
        if args.reports_sqlite:
            sections.append(
                (
                    "reports sqlite (kept database)",
                    lambda c: reports.run_kept("sqlite", args.reports_sqlite, pcfg, _say),
                )
            )
        if args.reports_postgres and not args.no_postgres:
            sections.append(
                (
                    "reports postgres (kept database)",
                    lambda c: reports.run_kept("postgres", args.reports_postgres, pcfg, _say),
                )
            )
    elif args.only in (None, "reports"):
        sections.append(
            (
                "reports sqlite",
                lambda c: reports.run_backend("sqlite", pcfg, workdir / "reports-lite", c, _say),
            )
        )
        if not args.no_postgres:
            sections.append(
                (
                    "reports postgres",
                    lambda c: reports.run_backend("postgres", pcfg, workdir / "rep-pg", c, _say),
                )
            )
    if args.only in (None, "scale") and not args.no_postgres:
        sections.append(("scale postgres", lambda c: scale.run(kcfg, workdir / "scale", c)))
    try:
        for title, section in sections:
            load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
            _say(f"\n== {title} (load average before: {load})")
            t0 = time.monotonic()
            with procs.Cleanup() as cleanup:
                try:
                    for line in section(cleanup) or []:
                        _say(line)
                except KeyboardInterrupt:
                    raise
                except Exception as exc:
                    failures += 1
                    _say(f"{title}: FAILED — {type(exc).__name__}: {exc}")
                    traceback.print_exc(file=sys.stderr)
            _say(f"   ({title}: {time.monotonic() - t0:.0f} s)")
    finally:
        if args.keep:
            _say(f"\nkept {workdir} (databases and server logs)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    _say(f"\nbenchmarks done in {time.monotonic() - started:.0f} s; {failures} section(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
