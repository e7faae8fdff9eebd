"""Reports: a 30-day report grouped by day over 1,000,000 conversations.

Setup, per database (a fresh SQLite file; a throwaway PostgreSQL database):
``madoguchi reports seed`` writes closed conversations over the last 30 days with their
lifecycle events and messages, counted into the hourly rollups as they are written, in
steps up to ``conversations`` (the ``checkpoints``). At each step every report is built
(``services.reporting.reports.build``, what ``GET
/api/v1/reports/{name}?period=30d&group=day`` runs) ``repeat`` times; the median and the
slowest are printed with the CPU time this process spent (SQLite runs in it; on a
shared machine wall time is mostly waiting for a core), so the figures show how the
reports grow with the data (a section cut short still prints the steps it reached).

Baseline, same run: the same reports for ``today`` only (a few dozen rollup hours), so
the 30-day figure reads as a ratio of the smallest report. Target (issue 16): < 1 s on
PostgreSQL, < 3 s on SQLite.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from bench import procs

REPORTS = ("overview", "queues", "agents", "flows", "templates", "csat", "calls")
TARGETS = {"sqlite": 3.0, "postgres": 1.0}


@dataclass(frozen=True)
class ReportsConfig:
    conversations: int = 1_000_000
    days: int = 30
    repeat: int = 3
    checkpoints: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0)  # fractions of conversations


async def _measure(url: str, cfg: ReportsConfig, say) -> list[str]:
    from sqlalchemy import func, select

    from madoguchi.services.reporting import reports
    from madoguchi.services.reporting.seed import seed
    from madoguchi.store.db import Database
    from madoguchi.store.migrate import upgrade
    from madoguchi.store.models import ReportHourly

    await upgrade(url)
    db = Database(url)
    lines = []
    try:
        t0 = time.monotonic()
        last = [t0]
        seeded = 0
        workspace_id = None

        def progress(n: int) -> None:
            if time.monotonic() - last[0] > 60:
                last[0] = time.monotonic()
                say(f"   … {seeded + n:,} conversations seeded ({time.monotonic() - t0:.0f} s)")

        async def timed(name: str, period: str) -> tuple[float, float, float, dict]:
            times, cpu, body = [], [], {}
            for _ in range(cfg.repeat):
                started, cpu0 = time.perf_counter(), time.process_time()
                async with db.read() as session:
                    q = await reports.make_query(
                        session, workspace_id, name, period=period, group="day"
                    )
                    body = await reports.build(session, q)
                times.append(time.perf_counter() - started)
                cpu.append(time.process_time() - cpu0)
            return statistics.median(times), max(times), statistics.median(cpu), body

        for fraction in cfg.checkpoints:
            target = int(cfg.conversations * fraction)
            if target <= seeded:
                continue
            result = await seed(db, conversations=target - seeded, days=cfg.days, progress=progress)
            seeded += result.conversations
            workspace_id = result.workspace_id
            took = time.monotonic() - t0
            async with db.read() as session:
                hourly = await session.scalar(select(func.count()).select_from(ReportHourly))
            step = [
                f"-- {seeded:,} conversations seeded in {took:.0f} s "
                f"({seeded / took:,.0f}/s); {hourly:,} rollup rows"
            ]
            step.append(await _occupancy_cost(db))
            for name in REPORTS:
                base, _, _, _ = await timed(name, "today")
                median, worst, cpu, body = await timed(name, "30d")
                extra = ""
                if name == "overview":
                    total = body["totals"]
                    extra = (
                        f"; arrived {total['arrived']:,}, answered {total['answered']:,}, "
                        f"service level {total['service_level_percent']} %"
                    )
                if name == "agents":
                    extra = f"; occupancy {body['totals']['occupancy_percent']} % (with it)"
                step.append(
                    f"{name:9s} 30d by day: median {median * 1000:7.0f} ms, slowest "
                    f"{worst * 1000:7.0f} ms, CPU of this process {cpu * 1000:6.0f} ms; "
                    f"today {base * 1000:5.0f} ms "
                    f"(×{median / base if base else float('nan'):.1f}){extra}"
                )
            for line in step:
                say(line)
            lines.extend(step)
    finally:
        await db.dispose()
    return lines


async def _occupancy_cost(db) -> str:
    """What occupancy adds: its hourly rollups for the whole seeded period written from
    scratch (the presence log and the lifecycle steps that start or end an agent's
    part), per hour written."""
    from sqlalchemy import func, select, update

    from madoguchi.services.reporting import occupancy
    from madoguchi.store.models import AgentPresenceLog, ReportCursor

    async with db.write() as session:
        await occupancy.reset(session)
        await session.execute(
            update(ReportCursor)
            .where(ReportCursor.source == occupancy.SOURCE)
            .values(last_id=0, last_txid=0)
        )
        changes = await session.scalar(select(func.count()).select_from(AgentPresenceLog))
    started, cpu0 = time.perf_counter(), time.process_time()
    hours = await occupancy.catch_up(db)
    took, cpu = time.perf_counter() - started, time.process_time() - cpu0
    per = 1000 * took / hours if hours else float("nan")
    return (
        f"occupancy rollup: {hours:,} hours written from {changes:,} presence changes in "
        f"{took:.1f} s (CPU of this process {cpu:.1f} s), {per:.0f} ms per hour written "
        "(the worker writes one hour per hour)"
    )


def run_backend(
    backend: str, cfg: ReportsConfig, workdir: Path, cleanup: procs.Cleanup, say
) -> list[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'madoguchi.db'}"
    else:
        name, url = procs.create_pg_database()
        cleanup.add_callback(lambda: procs.drop_pg_database(name))
    asyncio.run(_measure(url, cfg, say))  # each step's lines are said as they come
    lines = []
    lines.append(f"target: < {TARGETS[backend]:.0f} s for a 30-day report grouped by day")
    return lines
