"""Reports: the figures of docs/metrics.md over a period, grouped by hour, day, week or
month in the workspace's time zone, filtered and cut to what the reader may see.

Figures come from the hourly rollups (``report_hourly``): a 30-day report sums at most
720 hours per queue × agent × number, whatever the traffic. A filter the rollups do not
keep (tag, disposition) computes the same counters from the raw log of the matching
conversations instead (same definitions, slower: it reads their events and messages).

Hours are the workspace's clock hours (``report_metrics.hour_start``): UTC hours for
most zones, starting at :30 or :15 UTC for India, Nepal…, so days start at local
midnight everywhere.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.report_metrics import (
    COUNTERS,
    FRT_BUCKETS,
    OCCUPANCY_COUNTERS,
    WAIT_BUCKETS,
    Totals,
    distribution,
    figures,
    occupancy_figures,
)
from madoguchi.services.reporting import occupancy, rollups
from madoguchi.services.reporting.filters import unknown_filter
from madoguchi.store.models import (
    Call,
    Conversation,
    ConversationEvent,
    ConversationTag,
    FlowRun,
    FlowStep,
    Message,
    Queue,
    QueueMember,
    ReportDailyAgent,
    ReportHourly,
    ReportHourlyQueue,
    User,
    Workspace,
)

REPORTS = ("overview", "queues", "agents", "flows", "templates", "csat", "calls")
PERIODS = ("today", "yesterday", "7d", "30d", "custom")
GROUPS = ("hour", "day", "week", "month")
MAX_CUSTOM_DAYS = 731  # two years, like the products managers compare us with
# A flow run that stopped where the customer left it (the conversation ended or was
# interrupted, or the flow failed): the drop-off of its last widget. "ended" (the flow's
# End), "routed" and "handed_off" reached an end or a person.
LEFT_RUN_STATUSES = ("interrupted", "failed")
NO_QUEUE = "(no queue)"  # figures of conversations in no queue: flows, outreach
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ReportError(ValueError):
    """A request that cannot be answered; ``field`` names the parameter at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


zone_of = rollups.zone_of


def resolve_period(
    period: str, now: datetime, tz: ZoneInfo, start: date | None = None, end: date | None = None
) -> tuple[date, date]:
    """The first and last local day of a period (``7d``/``30d`` end today)."""
    today = now.astimezone(tz).date()
    if period == "today":
        return today, today
    if period == "yesterday":
        return today - timedelta(days=1), today - timedelta(days=1)
    if period == "7d":
        return today - timedelta(days=6), today
    if period == "30d":
        return today - timedelta(days=29), today
    if period == "custom":
        if start is None or end is None:
            raise ReportError("from", "a custom period needs from and to (YYYY-MM-DD)")
        if end < start:
            raise ReportError("to", "to must not be before from")
        if (end - start).days >= MAX_CUSTOM_DAYS:
            raise ReportError("to", f"a period spans at most {MAX_CUSTOM_DAYS} days")
        return start, end
    raise ReportError("period", f"period must be one of {', '.join(PERIODS)}")


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def bucket_of(at: datetime, group: str, tz: ZoneInfo) -> date | datetime:
    local = at.astimezone(tz)
    if group == "hour":
        return local.replace(minute=0, second=0, microsecond=0, tzinfo=None)
    day = local.date()
    if group == "day":
        return day
    if group == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def buckets(first: date, last: date, group: str, tz: ZoneInfo) -> list[date | datetime]:
    """Every bucket of the period in order (empty ones included, for charts)."""
    out: list = []
    if group == "hour":
        at = local_midnight(first, tz)
        end = local_midnight(last + timedelta(days=1), tz)
        while at < end:
            key = bucket_of(at, "hour", tz)
            if not out or out[-1] != key:
                out.append(key)
            at += timedelta(hours=1)
        return out
    day = first
    while day <= last:
        key = bucket_of(local_midnight(day, tz), group, tz)
        if not out or out[-1] != key:
            out.append(key)
        day += timedelta(days=1)
    return out


def label(bucket: date | datetime, group: str) -> str:
    if group == "hour":
        return bucket.strftime("%Y-%m-%dT%H:00")
    if group == "month":
        return bucket.strftime("%Y-%m")
    return bucket.isoformat()


@dataclass
class Query:
    workspace_id: int
    report: str
    period: str
    group: str
    tz: ZoneInfo
    first_day: date
    last_day: date
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    visible_queues: set[int] | None = None  # None: every queue
    queue_id: int | None = None
    agent_id: int | None = None
    number_id: int | None = None
    tag: str | None = None
    disposition: str | None = None
    business_hours: bool | None = None
    _raw: list | None = field(default=None, repr=False)

    @property
    def queue_filter(self) -> set[int] | None:
        if self.queue_id is not None:
            if self.visible_queues is not None and self.queue_id not in self.visible_queues:
                return set()
            return {self.queue_id}
        return self.visible_queues


async def make_query(
    session: AsyncSession,
    workspace_id: int,
    report: str,
    *,
    period: str = "7d",
    group: str = "day",
    start: date | None = None,
    end: date | None = None,
    visible_queues: set[int] | None = None,
    now: datetime | None = None,
    **filters: Any,
) -> Query:
    if report not in REPORTS:
        raise ReportError("report", f"report must be one of {', '.join(REPORTS)}")
    if group not in GROUPS:
        raise ReportError("group", f"group must be one of {', '.join(GROUPS)}")
    tz = zone_of(
        await session.scalar(select(Workspace.timezone).where(Workspace.id == workspace_id))
    )
    first, last = resolve_period(period, now or datetime.now(UTC), tz, start, end)
    if group == "hour" and (last - first).days > 31:
        raise ReportError("group", "group by hour covers at most 31 days; pick day or coarser")
    unknown = await unknown_filter(
        session,
        workspace_id,
        queue_id=filters.get("queue_id"),
        agent_id=filters.get("agent_id"),
        number_id=filters.get("number_id"),
    )
    if unknown is not None:
        raise ReportError(*unknown)
    return Query(
        workspace_id=workspace_id,
        report=report,
        period=period,
        group=group,
        tz=tz,
        first_day=first,
        last_day=last,
        start=local_midnight(first, tz),
        end=local_midnight(last + timedelta(days=1), tz),
        visible_queues=visible_queues,
        **filters,
    )


# ----------------------------------------------------------------------------- reading


def _sums(table):
    return [func.coalesce(func.sum(table.c[name]), 0) for name in COUNTERS]


async def grouped(session: AsyncSession, q: Query, dim: str) -> dict[Any, Totals]:
    """Summed counters of the period by ``dim`` (``hour``, ``queue_id``, ``agent_id``,
    ``number_id``), filters applied. Without an agent or number in the question the
    per-queue rollups answer (far fewer rows); per agent (or with an agent, not by hour),
    without a number, the per-agent days (a period is whole local days)."""
    if q.tag is not None or q.disposition is not None:
        return await _grouped_raw(session, q, dim)
    fine = dim in ("agent_id", "number_id") or q.agent_id is not None or q.number_id is not None
    by_day = fine and dim != "hour" and dim != "number_id" and q.number_id is None
    if by_day:
        table = ReportDailyAgent.__table__
        when = table.c.day
    else:
        table = (ReportHourly if fine else ReportHourlyQueue).__table__
        when = table.c.hour
    column = table.c[dim]
    query = (
        select(column, *_sums(table))
        .where(table.c.workspace_id == q.workspace_id, when >= q.start, when < q.end)
        .group_by(column)
    )
    if dim == "agent_id":
        query = query.where(table.c.agent_id > 0)  # what no agent did is not an agent's
    queues = q.queue_filter
    if queues is not None:
        query = query.where(table.c.queue_id.in_(sorted(queues) or [-1]))
    if q.agent_id is not None:
        query = query.where(table.c.agent_id == q.agent_id)
    if q.number_id is not None:
        query = query.where(table.c.number_id == q.number_id)
    if q.business_hours is not None:
        query = query.where(table.c.in_hours.is_(q.business_hours))
    out: dict[Any, Totals] = {}
    for row in await session.execute(query):
        key = row[0]
        if dim == "hour":
            key = rollups.as_utc(key)
        out[key] = Totals.of([row[1:]])
    return out


async def _grouped_raw(session: AsyncSession, q: Query, dim: str) -> dict[Any, Totals]:
    if q._raw is None:
        q._raw = await _raw_rows(session, q)
    index = rollups.KEY.index(dim)
    out: dict[Any, Totals] = defaultdict(Totals)
    queues = q.queue_filter
    for key, counts in q._raw:
        _, _, queue_id, agent_id, number_id, in_hours = key
        if queues is not None and queue_id not in queues:
            continue
        if q.agent_id is not None and agent_id != q.agent_id:
            continue
        if q.number_id is not None and number_id != q.number_id:
            continue
        if q.business_hours is not None and in_hours != q.business_hours:
            continue
        out[key[index]].add(counts)
    return dict(out)


async def _raw_rows(session: AsyncSession, q: Query) -> list:
    """The counters of the conversations matching the tag/disposition filter, from their
    raw events and messages (the rollups' own functions, nothing stored)."""
    ids = select(Conversation.id).where(Conversation.workspace_id == q.workspace_id)
    if q.tag is not None:
        ids = ids.where(
            Conversation.id.in_(
                select(ConversationTag.conversation_id).where(ConversationTag.tag == q.tag)
            )
        )
    if q.disposition is not None:
        ids = ids.where(Conversation.disposition_code == q.disposition)
    # Only conversations alive in the period can add to it.
    ids = ids.where(Conversation.created_at < q.end).where(
        (Conversation.closed_at.is_(None)) | (Conversation.closed_at >= q.start - timedelta(days=1))
    )
    conversation_ids = list((await session.scalars(ids)).all())
    context = rollups.Context()
    await context.load(session)

    def keep(at: datetime) -> bool:
        return q.start <= at < q.end

    deltas = rollups.Deltas()
    for part in rollups._chunks(conversation_ids, 1_000):
        events = (
            await session.execute(
                select(*rollups._EVENT_COLUMNS)
                .where(ConversationEvent.conversation_id.in_(part))
                .order_by(ConversationEvent.id)
            )
        ).all()
        deltas.merge(await rollups.event_deltas(session, events, context, histories={}, keep=keep))
        messages = (
            await session.execute(
                select(*rollups._MESSAGE_COLUMNS)
                .where(Message.conversation_id.in_(part))
                .order_by(Message.id)
            )
        ).all()
        deltas.merge(
            await rollups.message_deltas(session, messages, context, threads={}, keep=keep)
        )
    return list(deltas.rows.items())


# ----------------------------------------------------------------------------- building


def _series(q: Query, by_hour: dict[datetime, Totals], pick: Callable[[Totals], dict]) -> list:
    sums: dict[Any, Totals] = defaultdict(Totals)
    for hour, totals in by_hour.items():
        sums[bucket_of(hour, q.group, q.tz)].add(totals.values)
    return [
        {"bucket": label(b, q.group), **pick(sums.get(b) or Totals())}
        for b in buckets(q.first_day, q.last_day, q.group, q.tz)
    ]


def _heatmap(q: Query, by_hour: dict[datetime, Totals]) -> list[dict]:
    cells: dict[tuple[int, int], int] = defaultdict(int)
    for hour, totals in by_hour.items():
        local = hour.astimezone(q.tz)
        cells[(local.weekday(), local.hour)] += int(totals.values["arrived"])
    return [
        {"weekday": WEEKDAYS[d], "hour": h, "count": cells.get((d, h), 0)}
        for d in range(7)
        for h in range(24)
    ]


async def names_of(session: AsyncSession, model, ids) -> dict[int, str]:
    ids = [i for i in ids if i]
    if not ids:
        return {}
    return dict(
        (await session.execute(select(model.id, model.name).where(model.id.in_(ids)))).all()
    )


def _period(q: Query) -> dict:
    return {
        "name": q.period,
        "from": q.first_day.isoformat(),
        "to": q.last_day.isoformat(),
        "tz": q.tz.key,
        "start": q.start.isoformat(),
        "end": q.end.isoformat(),
    }


def _filters(q: Query) -> dict:
    return {
        "queue_id": q.queue_id,
        "agent_id": q.agent_id,
        "number_id": q.number_id,
        "tag": q.tag,
        "disposition": q.disposition,
        "business_hours": q.business_hours,
    }


def conversation_filters(q: Query, conversation_id) -> list:
    """The tag and disposition filters as conditions on a conversation id column (the
    parts read outside the rollups: calls, CSAT, template rows, the funnel)."""
    out = []
    if q.tag is not None:
        out.append(
            conversation_id.in_(
                select(ConversationTag.conversation_id).where(ConversationTag.tag == q.tag)
            )
        )
    if q.disposition is not None:
        out.append(
            conversation_id.in_(
                select(Conversation.id).where(
                    Conversation.workspace_id == q.workspace_id,
                    Conversation.disposition_code == q.disposition,
                )
            )
        )
    return out


async def hours_filter(
    session: AsyncSession, q: Query
) -> Callable[[int | None, datetime], bool] | None:
    """``business_hours`` as a test of (queue, moment) by the rollups' own rule (a queue's
    hours at that moment; no queue, or a queue without hours: inside); None without it."""
    if q.business_hours is None:
        return None
    context = rollups.Context()
    await context.load(session)
    wanted = q.business_hours
    return lambda queue_id, at: context.in_hours(queue_id, at) is wanted


async def build(session: AsyncSession, q: Query) -> dict[str, Any]:
    """The report ``q.report`` as JSON-ready data."""
    body: dict[str, Any] = {
        "report": q.report,
        "period": _period(q),
        "group": q.group,
        "filters": _filters(q),
        "scope": sorted(q.visible_queues) if q.visible_queues is not None else "all",
    }
    if q.report == "calls":
        return {**body, **await _calls(session, q)}
    if q.report == "csat":
        return {**body, **await _csat(session, q)}
    by_hour = await grouped(session, q, "hour")
    totals = Totals.of(t.values for t in by_hour.values())
    body["totals"] = figures(totals)
    body["series"] = _series(q, by_hour, figures)
    if q.report in ("overview", "queues", "agents"):
        body["distributions"] = {
            "wait": distribution(totals, WAIT_BUCKETS),
            "first_response": distribution(totals, FRT_BUCKETS),
        }
    if q.report in ("overview", "queues"):
        body["heatmap"] = _heatmap(q, by_hour)
    if q.report == "queues":
        by_queue = await grouped(session, q, "queue_id")
        names = await names_of(session, Queue, by_queue)
        body["rows"] = [
            {"queue_id": qid or None, "queue": names.get(qid, NO_QUEUE), **figures(t)}
            for qid, t in sorted(by_queue.items(), key=lambda kv: names.get(kv[0], ""))
        ]
    elif q.report == "agents":
        by_agent = await grouped(session, q, "agent_id")
        occupied = await _occupancy(session, q)
        body["occupancy"] = occupied.about
        for agent in occupied.by_agent:
            by_agent.setdefault(agent, Totals())
        names = await names_of(session, User, by_agent)
        body["rows"] = [
            {
                "agent_id": aid,
                "agent": names.get(aid, f"#{aid}"),
                **figures(t),
                **occupied.figures(occupied.by_agent.get(aid)),
            }
            for aid, t in sorted(by_agent.items(), key=lambda kv: names.get(kv[0], ""))
            if aid
        ]
        body["totals"].update(occupied.figures(occupied.total))
        for point in body["series"]:
            point.update(occupied.figures(occupied.by_bucket.get(point["bucket"])))
    elif q.report == "flows":
        body["funnel"] = await _funnel(session, q)
        body["rows"] = body["funnel"]
    elif q.report == "templates":
        body["rows"] = await _templates(session, q)
    return body


# Filters occupancy cannot honour: it is a property of an agent's time, not of a
# conversation (tag, disposition), a number, or a queue's business hours.
OCCUPANCY_UNFILTERED = ("number_id", "tag", "disposition", "business_hours")


@dataclass
class Occupied:
    """Occupancy seconds of the agents report: per agent, per series bucket, in total;
    ``about`` says what they cover (or why they are absent)."""

    shown: bool
    about: dict
    by_agent: dict[int, dict[str, float]] = field(default_factory=dict)
    by_bucket: dict[str, dict[str, float]] = field(default_factory=dict)
    total: dict[str, float] = field(default_factory=dict)

    def figures(self, counts: dict[str, float] | None) -> dict:
        if not self.shown:
            return dict.fromkeys((*OCCUPANCY_COUNTERS, "occupancy_percent"))
        return occupancy_figures(counts or {})


def _sum_into(target: dict[str, float], counts: dict[str, float]) -> None:
    for name, value in counts.items():
        target[name] = target.get(name, 0.0) + value


async def _occupancy(session: AsyncSession, q: Query) -> Occupied:
    """Occupancy of the agents the reader may see (docs/metrics.md, occupancy): every
    agent for an admin, the members of the chosen or supervised queues otherwise."""
    blocking = [name for name in OCCUPANCY_UNFILTERED if getattr(q, name) is not None]
    if blocking:
        return Occupied(
            False,
            {
                "shown": False,
                "message": "occupancy is an agent's time, not a conversation's: it is not "
                f"shown with the filter(s) {', '.join(blocking)}",
            },
        )
    agents: set[int] | None = None
    if q.queue_filter is not None:
        agents = set(
            await session.scalars(
                select(QueueMember.user_id).where(
                    QueueMember.queue_id.in_(sorted(q.queue_filter) or [-1])
                )
            )
        )
    if q.agent_id is not None:
        agents = {q.agent_id} if agents is None else agents & {q.agent_id}
    found = Occupied(
        True,
        {
            "shown": True,
            "agents": "members of the queues in view" if agents is not None else "every agent",
        },
    )
    by_agent, by_hour = await occupancy.summed(
        session, q.workspace_id, q.start, q.end, agents=agents
    )
    found.by_agent = by_agent
    for hour, counts in by_hour.items():
        _sum_into(
            found.by_bucket.setdefault(label(bucket_of(hour, q.group, q.tz), q.group), {}), counts
        )
        _sum_into(found.total, counts)
    return found


async def _funnel(session: AsyncSession, q: Query) -> list[dict]:
    """Per flow widget: runs that reached it in the period, and runs that stopped there
    without reaching a person or the flow's end (the drop-off)."""
    if q.queue_filter is not None or q.agent_id is not None:
        # Flows run before any queue: a limited reader sees no funnel.
        return []
    if q.business_hours is False:
        # A step in no queue counts as inside business hours (as in the rollups).
        return []
    steps = select(
        FlowStep.run_id, FlowStep.flow_id, FlowStep.node_id, FlowStep.widget, FlowStep.id
    ).where(
        FlowStep.workspace_id == q.workspace_id,
        FlowStep.at >= q.start,
        FlowStep.at < q.end,
        *conversation_filters(q, FlowStep.conversation_id),
    )
    entered: dict[tuple, set[int]] = defaultdict(set)
    last: dict[int, tuple[int, tuple]] = {}
    for run_id, flow_id, node_id, widget, step_id in await session.execute(steps):
        key = (flow_id, node_id, widget)
        entered[key].add(run_id)
        if run_id not in last or last[run_id][0] < step_id:
            last[run_id] = (step_id, key)
    dropped: dict[tuple, int] = defaultdict(int)
    if last:
        ended = {}
        for part in rollups._chunks(list(last), 2_000):
            ended.update(
                dict(
                    (
                        await session.execute(
                            select(FlowRun.id, FlowRun.status).where(FlowRun.id.in_(part))
                        )
                    ).all()
                )
            )
        for run_id, (_, key) in last.items():
            if ended.get(run_id) in LEFT_RUN_STATUSES:
                dropped[key] += 1
    return [
        {
            "flow_id": k[0],
            "widget": k[1],
            "type": k[2],
            "entered": len(runs),
            "left": dropped.get(k, 0),
        }
        for k, runs in sorted(entered.items(), key=lambda kv: (kv[0][0], -len(kv[1])))
    ]


async def _templates(session: AsyncSession, q: Query) -> list[dict]:
    """Template sends of the period by template name and category (from the messages)."""
    query = (
        select(
            Message.content,
            Message.template_category,
            Message.status,
            Message.created_at,
            Conversation.queue_id,
        )
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Message.workspace_id == q.workspace_id,
            Message.type == "template",
            Message.direction == "outbound",
            Message.created_at >= q.start,
            Message.created_at < q.end,
            *conversation_filters(q, Message.conversation_id),
        )
    )
    if q.queue_filter is not None:
        query = query.where(Conversation.queue_id.in_(sorted(q.queue_filter) or [-1]))
    if q.agent_id is not None:
        query = query.where(Message.author_user_id == q.agent_id)
    if q.number_id is not None:
        query = query.where(Conversation.phone_number_id == q.number_id)
    inside = await hours_filter(session, q)
    rows: dict[tuple, dict] = {}
    for content, category, status, at, queue_id in await session.execute(query):
        if inside is not None and not inside(queue_id, at):
            continue
        template = (content or {}).get("template") or {}
        name = template.get("name") or "?"
        language = (template.get("language") or {}).get("code") or ""
        row = rows.setdefault(
            (name, language),
            {
                "template": name,
                "language": language,
                "category": (category or "").lower(),
                "sent": 0,
                "delivered": 0,
                "read": 0,
                "failed": 0,
            },
        )
        row["sent"] += 1
        if status in ("delivered", "read"):
            row["delivered"] += 1
        if status == "read":
            row["read"] += 1
        if status == "failed":
            row["failed"] += 1
    return sorted(rows.values(), key=lambda r: (-r["sent"], r["template"]))


async def _calls(session: AsyncSession, q: Query) -> dict:
    """Calls of the period (docs/metrics.md, calls): read from ``calls`` directly."""
    query = (
        select(
            Call.created_at,
            Call.direction,
            Call.status,
            Call.agent_id,
            Call.answered_at,
            Call.duration_seconds,
            Conversation.queue_id,
        )
        .join(Conversation, Conversation.id == Call.conversation_id)
        .where(
            Call.workspace_id == q.workspace_id,
            Call.created_at >= q.start,
            Call.created_at < q.end,
            *conversation_filters(q, Call.conversation_id),
        )
    )
    if q.queue_filter is not None:
        query = query.where(Conversation.queue_id.in_(sorted(q.queue_filter) or [-1]))
    if q.agent_id is not None:
        query = query.where(Call.agent_id == q.agent_id)
    if q.number_id is not None:
        query = query.where(Call.phone_number_id == q.number_id)
    rows = (await session.execute(query)).all()
    inside = await hours_filter(session, q)
    if inside is not None:
        rows = [r for r in rows if inside(r.queue_id, r.created_at)]

    def empty() -> dict:
        return {
            "offered": 0,
            "answered": 0,
            "missed": 0,
            "outbound": 0,
            "outbound_answered": 0,
            "talk_seconds": 0,
        }

    def add(acc: dict, row) -> None:
        if row.direction == "inbound":
            acc["offered"] += 1
            if row.answered_at is not None:
                acc["answered"] += 1
            elif row.status in ("missed", "rejected"):
                acc["missed"] += 1
        else:
            acc["outbound"] += 1
            if row.answered_at is not None:
                acc["outbound_answered"] += 1
        acc["talk_seconds"] += row.duration_seconds or 0

    def finish(acc: dict) -> dict:
        connected = acc["answered"] + acc["outbound_answered"]
        return {
            **acc,
            "answer_rate_percent": round(100 * acc["answered"] / acc["offered"], 1)
            if acc["offered"]
            else None,
            "average_talk_seconds": round(acc["talk_seconds"] / connected, 1)
            if connected
            else None,
        }

    totals, by_bucket, by_queue, by_agent = (
        empty(),
        defaultdict(empty),
        defaultdict(empty),
        defaultdict(empty),
    )
    for row in rows:
        add(totals, row)
        add(by_bucket[bucket_of(row.created_at, q.group, q.tz)], row)
        add(by_queue[row.queue_id or 0], row)
        if row.agent_id:
            add(by_agent[row.agent_id], row)
    queue_names = await names_of(session, Queue, by_queue)
    agent_names = await names_of(session, User, by_agent)
    return {
        "totals": finish(totals),
        "series": [
            {"bucket": label(b, q.group), **finish(by_bucket.get(b) or empty())}
            for b in buckets(q.first_day, q.last_day, q.group, q.tz)
        ],
        "rows": [
            {"queue_id": k or None, "queue": queue_names.get(k, NO_QUEUE), **finish(v)}
            for k, v in sorted(by_queue.items())
        ],
        "agents": [
            {"agent_id": k, "agent": agent_names.get(k, f"#{k}"), **finish(v)}
            for k, v in sorted(by_agent.items())
        ],
    }


async def _csat(session: AsyncSession, q: Query) -> dict:
    """Customer satisfaction answers of the period (see ``services/reporting/csat``)."""
    from madoguchi.services.reporting import csat

    return await csat.report(session, q)
