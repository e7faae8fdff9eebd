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
PostgreSQL, < 3 s on SQLite, for the slowest report's median.

Kept databases (``--reports-sqlite PATH``, ``--reports-postgres URL``): seeding a million
conversations takes the better part of an hour per database, so a database can be
seeded once and measured again later: one that holds no seeded workspace yet is seeded
to ``conversations`` in one go (the rate is printed) and kept; one that does is only
measured (the occupancy hours are written again and timed, then every report).
"""

from __future__ import annotations

import asyncio
import os
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


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


async def _timed(db, workspace_id: int, name: str, period: str, repeat: int):
    """Median and slowest wall time, median CPU of this process, and the last body."""
    from madoguchi.services.reporting import reports

    times, cpu, body = [], [], {}
    for _ in range(repeat):
        started, cpu0 = time.perf_counter(), time.process_time()
        async with db.read() as session:
            q = await reports.make_query(session, workspace_id, name, period=period, group="day")
            body = await reports.build(session, q)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu0)
    return statistics.median(times), max(times), statistics.median(cpu), body


async def _report_lines(db, workspace_id: int, cfg: ReportsConfig, say) -> tuple[list[str], float]:
    """Every report for 30 days by day beside the same for today; the lines and the
    slowest median."""
    lines, slowest = [], 0.0
    for name in REPORTS:
        base, _, _, _ = await _timed(db, workspace_id, name, "today", cfg.repeat)
        median, worst, cpu, body = await _timed(db, workspace_id, name, "30d", cfg.repeat)
        slowest = max(slowest, median)
        extra = ""
        if name == "overview":
            total = body["totals"]
            extra = (
                f"; arrived {total['arrived']:,}, answered {total['answered']:,}, "
                f"service level {total['service_level_percent']} %"
            )
        if name == "agents":
            extra = (
                f"; {len(body['rows']):,} agent rows, occupancy "
                f"{body['totals']['occupancy_percent']} % (with it)"
            )
        line = (
            f"{name:9s} 30d by day: median {median * 1000:7.0f} ms, slowest "
            f"{worst * 1000:7.0f} ms, CPU of this process {cpu * 1000:6.0f} ms; "
            f"today {base * 1000:5.0f} ms "
            f"(×{median / base if base else float('nan'):.1f}){extra}"
        )
        say(line)
        lines.append(line)
    return lines, slowest


def _target(backend: str, slowest: float | None) -> str:
    limit = TARGETS[backend]
    if slowest is None:
        return f"target: < {limit:.0f} s for a 30-day report grouped by day: not measured"
    verdict = "met" if slowest < limit else "NOT met"
    return (
        f"target: < {limit:.0f} s for a 30-day report grouped by day: slowest median "
        f"{slowest * 1000:,.0f} ms: {verdict} (load average {_load()})"
    )


async def _measure(url: str, cfg: ReportsConfig, say) -> float | None:
    """Seed in steps, measuring at each; the slowest median of the last step."""
    from sqlalchemy import func, select

    from madoguchi.services.reporting.seed import agents_for, seed
    from madoguchi.store.db import Database
    from madoguchi.store.migrate import upgrade
    from madoguchi.store.models import ReportHourly

    await upgrade(url)
    db = Database(url)
    slowest = None
    try:
        t0 = time.monotonic()
        last = [t0]
        seeded = 0
        agents = agents_for(cfg.conversations, cfg.days)

        def progress(n: int) -> None:
            if time.monotonic() - last[0] > 60:
                last[0] = time.monotonic()
                say(f"   … {seeded + n:,} conversations seeded ({time.monotonic() - t0:.0f} s)")

        for fraction in cfg.checkpoints:
            target = int(cfg.conversations * fraction)
            if target <= seeded:
                continue
            result = await seed(
                db,
                conversations=target - seeded,
                days=cfg.days,
                agents=agents,
                write_occupancy=False,  # timed below
                progress=progress,
            )
            seeded += result.conversations
            took = time.monotonic() - t0
            async with db.read() as session:
                hourly = await session.scalar(select(func.count()).select_from(ReportHourly))
            say(
                f"-- {seeded:,} conversations seeded in {took:.0f} s "
                f"({seeded / took:,.0f}/s); {hourly:,} rollup rows; {agents} agents"
            )
            say(await _occupancy_cost(db))
            _, slowest = await _report_lines(db, result.workspace_id, cfg, say)
    finally:
        await db.dispose()
    return slowest


async def _measure_kept(url: str, cfg: ReportsConfig, say) -> float | None:
    """A kept database: seeded once (when it holds no seeded workspace), then measured."""
    from sqlalchemy import func, select

    from madoguchi.services.reporting.seed import agents_for, seed
    from madoguchi.store.db import Database
    from madoguchi.store.migrate import upgrade
    from madoguchi.store.models import (
        AgentPresenceLog,
        Conversation,
        ReportHourly,
        ReportOccupancy,
        User,
        Workspace,
    )

    await upgrade(url)
    db = Database(url)
    try:
        async with db.read() as session:
            workspace_id = await session.scalar(select(Workspace.id).where(Workspace.slug == SLUG))
        if workspace_id is None:
            agents = agents_for(cfg.conversations, cfg.days)
            say(
                f"-- seeding {cfg.conversations:,} conversations over {cfg.days} days, "
                f"{agents} agents, into the kept database (load average {_load()})"
            )
            t0, cpu0 = time.monotonic(), time.process_time()
            last = [t0]

            def progress(n: int) -> None:
                if time.monotonic() - last[0] > 60:
                    last[0] = time.monotonic()
                    took = time.monotonic() - t0
                    say(
                        f"   … {n:,} conversations seeded ({took:.0f} s, {n / took:,.0f}/s; "
                        f"load average {_load()})"
                    )

            result = await seed(
                db, conversations=cfg.conversations, days=cfg.days, slug=SLUG, progress=progress
            )
            took = time.monotonic() - t0
            say(
                f"-- seeded {result.conversations:,} conversations, {result.events:,} events, "
                f"{result.messages:,} messages and {result.occupancy_hours:,} occupancy hours in "
                f"{took:.0f} s ({result.conversations / took:,.0f} conversations/s; CPU of this "
                f"process {time.process_time() - cpu0:.0f} s; load average {_load()})"
            )
            workspace_id = result.workspace_id
        async with db.read() as session:

            async def count(model, *where):
                return await session.scalar(select(func.count()).select_from(model).where(*where))

            say(
                f"-- kept database: {await count(Conversation):,} conversations, "
                f"{await count(User, User.role == 'agent'):,} agents, "
                f"{await count(AgentPresenceLog):,} presence changes, "
                f"{await count(ReportHourly):,} rollup rows, "
                f"{await count(ReportOccupancy):,} occupancy rows"
            )
        say(await _occupancy_cost(db))
        _, slowest = await _report_lines(db, workspace_id, cfg, say)
    finally:
        await db.dispose()
    return slowest


SLUG = "reports-demo"


async def _occupancy_cost(db) -> str:
    """What occupancy adds: its hourly rollups for the whole seeded period written from
    scratch (the presence log and the lifecycle steps that start or end an agent's
    part), per hour written."""
    from sqlalchemy import func, select

    from madoguchi.services.reporting import occupancy
    from madoguchi.store.models import AgentPresenceLog, ReportOccupancy

    async with db.read() as session:
        changes = await session.scalar(select(func.count()).select_from(AgentPresenceLog))
    started, cpu0 = time.perf_counter(), time.process_time()
    hours = await occupancy.rewrite(db)
    took, cpu = time.perf_counter() - started, time.process_time() - cpu0
    async with db.read() as session:
        rows = await session.scalar(select(func.count()).select_from(ReportOccupancy))
    per = 1000 * took / hours if hours else float("nan")
    return (
        f"occupancy rollup: {hours:,} hours ({rows:,} agent-hour rows) written from "
        f"{changes:,} presence changes in {took:.1f} s (CPU of this process {cpu:.1f} s), "
        f"{per:.0f} ms per hour written (the worker writes one hour per hour)"
    )


def pg_url(url: str) -> str:
    """A PostgreSQL URL as given (``postgresql://…`` or SQLAlchemy's) for asyncpg."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url}")


def run_backend(
    backend: str, cfg: ReportsConfig, workdir: Path, cleanup: procs.Cleanup, say
) -> list[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'madoguchi.db'}"
    else:
        name, url = procs.create_pg_database()
        cleanup.add_callback(lambda: procs.drop_pg_database(name))
    slowest = asyncio.run(_measure(url, cfg, say))  # each step's lines are said as they come
    return [_target(backend, slowest)]


def run_kept(backend: str, where: str, cfg: ReportsConfig, say) -> list[str]:
    """``where``: a SQLite file's path or a PostgreSQL URL; the database is kept."""
    if backend == "sqlite":
        path = Path(where).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite+aiosqlite:///{path}"
    else:
        url = pg_url(where)
    say(f"-- kept database {path if backend == 'sqlite' else url}")
    slowest = asyncio.run(_measure_kept(url, cfg, say))
    return [_target(backend, slowest)]
