"""Customer satisfaction in reports: score (mean of 1–5), % satisfied (4–5), response
rate (answered ÷ asked) over the period, by bucket, queue and agent
(``domain.report_metrics.csat_figures``).

The answers are stored by the CSAT capability (``services/contact_center/csat``):
``csat_responses(conversation_id, workspace_id, queue_id, agent_id, score, asked_at,
answered_at)``, one row per conversation asked. A question counts in the hour it was
asked, its answer with it (so the response rate of a period is that of its questions).
Read directly with SQL aggregates over the ``(workspace_id, asked_at)`` index: there
is at most one row per conversation closed by an agent.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.report_metrics import csat_figures
from madoguchi.services.reporting.rollups import whole_hours
from madoguchi.store.models import Conversation, CsatResponse, Queue, User


def _aggregates():
    return (
        func.count(),
        *(
            func.coalesce(func.sum(case((CsatResponse.score == s, 1), else_=0)), 0)
            for s in range(1, 6)
        ),
    )


async def report(session: AsyncSession, q) -> dict[str, Any]:
    from madoguchi.services.reporting.reports import (
        bucket_of,
        conversation_filters,
        hours_filter,
        names_of,
    )

    def scoped(query):
        query = query.where(
            CsatResponse.workspace_id == q.workspace_id,
            CsatResponse.asked_at >= q.start,
            CsatResponse.asked_at < q.end,
            *conversation_filters(q, CsatResponse.conversation_id),
        )
        if q.queue_filter is not None:
            query = query.where(CsatResponse.queue_id.in_(sorted(q.queue_filter) or [-1]))
        if q.agent_id is not None:
            query = query.where(CsatResponse.agent_id == q.agent_id)
        if q.number_id is not None:
            query = query.where(
                CsatResponse.conversation_id.in_(
                    select(Conversation.id).where(Conversation.phone_number_id == q.number_id)
                )
            )
        return query

    inside = await hours_filter(session, q)
    if inside is not None or not whole_hours(q.tz):
        # Business hours are the queue's at the moment of asking, and a zone not a whole
        # number of hours from UTC buckets by its own hours: row by row (at most one
        # question per conversation), the aggregates then summed here.
        everything = inside or (lambda _queue, _at: True)
        return _assemble(q, *(await _counted_by_hand(session, scoped, everything, q)))
    totals_row = (await session.execute(scoped(select(*_aggregates())))).one()
    # Per hour of asking, regrouped in the workspace's zone.
    if session.get_bind().dialect.name == "sqlite":
        hour = func.strftime("%Y-%m-%d %H:00:00", CsatResponse.asked_at)
    else:
        hour = func.date_trunc("hour", CsatResponse.asked_at)
    sums: dict[Any, list[int]] = defaultdict(lambda: [0] * 6)
    for row in await session.execute(scoped(select(hour, *_aggregates()).group_by(hour))):
        at = row[0]
        if isinstance(at, str):
            at = datetime.fromisoformat(at).replace(tzinfo=UTC)
        acc = sums[bucket_of(at, q.group, q.tz)]
        for i, value in enumerate(row[1:]):
            acc[i] += int(value)
    per_queue = (
        await session.execute(
            scoped(select(CsatResponse.queue_id, *_aggregates()).group_by(CsatResponse.queue_id))
        )
    ).all()
    per_agent = (
        await session.execute(
            scoped(select(CsatResponse.agent_id, *_aggregates()).group_by(CsatResponse.agent_id))
        )
    ).all()
    queue_names = await names_of(session, Queue, [r[0] for r in per_queue])
    agent_names = await names_of(session, User, [r[0] for r in per_agent])
    return _assemble(q, totals_row, sums, per_queue, per_agent, queue_names, agent_names)


async def _counted_by_hand(session: AsyncSession, scoped, inside, q) -> tuple:
    from madoguchi.services.reporting.reports import bucket_of, names_of

    def empty() -> list[int]:
        return [0] * 6

    totals, sums = empty(), defaultdict(empty)
    queues: dict[Any, list[int]] = defaultdict(empty)
    agents: dict[Any, list[int]] = defaultdict(empty)
    query = scoped(
        select(
            CsatResponse.queue_id, CsatResponse.agent_id, CsatResponse.score, CsatResponse.asked_at
        )
    )
    for queue_id, agent_id, score, asked_at in await session.execute(query):
        if not inside(queue_id, asked_at):
            continue
        for acc in (
            totals,
            sums[bucket_of(asked_at, q.group, q.tz)],
            queues[queue_id],
            agents[agent_id],
        ):
            acc[0] += 1
            if score:
                acc[score] += 1
    per_queue = [(k, *v) for k, v in queues.items()]
    per_agent = [(k, *v) for k, v in agents.items()]
    return (
        totals,
        sums,
        per_queue,
        per_agent,
        await names_of(session, Queue, list(queues)),
        await names_of(session, User, list(agents)),
    )


def _assemble(q, totals_row, sums, per_queue, per_agent, queue_names, agent_names) -> dict:
    from madoguchi.services.reporting.reports import NO_QUEUE, buckets, label

    def figures(row) -> dict:
        return csat_figures(int(row[0]), [int(v) for v in row[1:6]])

    return {
        "totals": figures(totals_row),
        "series": [
            {"bucket": label(b, q.group), **figures(sums.get(b) or [0] * 6)}
            for b in buckets(q.first_day, q.last_day, q.group, q.tz)
        ],
        "rows": [
            {"queue_id": r[0], "queue": queue_names.get(r[0], NO_QUEUE), **figures(r[1:])}
            for r in sorted(per_queue, key=lambda r: queue_names.get(r[0], ""))
        ],
        "agents": [
            {"agent_id": r[0], "agent": agent_names.get(r[0], "—"), **figures(r[1:])}
            for r in sorted(per_agent, key=lambda r: agent_names.get(r[0], ""))
        ],
        "distributions": {
            "score": [{"bucket": str(s), "count": int(totals_row[s])} for s in range(1, 6)]
        },
    }
