"""Report figures, defined once (docs/metrics.md): what each lifecycle step and each
message adds to the counters of an hour, and how the counters become figures.

Plain Python over facts. The reporting service feeds it the lifecycle log
(``conversation_events``) and the messages, in id order, and adds what it returns to
hourly rollups; a rebuild feeds it the same rows again, and a filtered report (by tag or
disposition) feeds it the matching conversations' rows without storing anything. All
three go through these functions, so a figure cannot mean two things.

Every figure is counted in the hour of the step (or message) that completes it: an
arrival in the hour it arrived, a wait in the hour it was answered or abandoned, a
handle time in the hour the agent's work ended. A conversation spanning midnight thus
adds its arrival to one day and its handle time to the next.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

from madoguchi.domain.lifecycle import ANSWERING_STEPS, Status, Step
from madoguchi.domain.service_metrics import (
    DEFAULT_SERVICE_LEVEL_SECONDS,
    DEFAULT_SHORT_ABANDON_SECONDS,
    is_abandon,
    is_answer,
    is_arrival,
    service_level_percent,
)

WAITING = (Status.QUEUED.value, Status.OFFERED.value)
ANSWERED_STATUSES = (Status.ACTIVE.value, Status.WRAP_UP.value)
# Steps by which a conversation enters a queue (a transfer to a named agent stays put).
ARRIVALS = (Step.QUEUE.value, Step.OVERFLOW.value, Step.TRANSFER.value)
# The close reason of the inactivity timer (services/contact_center/assignment.py).
SILENCE_REASON = "customer inactive"

# Upper edges (seconds, inclusive) of the distribution buckets of waits and first
# responses; the last bucket holds everything longer than the last edge.
BUCKET_EDGES: tuple[int, ...] = (15, 30, 60, 120, 300, 600, 1800, 3600)
BUCKET_LABELS: tuple[str, ...] = (
    "0-15s",
    "15-30s",
    "30-60s",
    "1-2m",
    "2-5m",
    "5-10m",
    "10-30m",
    "30-60m",
    "60m+",
)
WAIT_BUCKETS = tuple(f"wait_b{i}" for i in range(len(BUCKET_LABELS)))
FRT_BUCKETS = tuple(f"frt_b{i}" for i in range(len(BUCKET_LABELS)))

TEMPLATE_CATEGORIES = ("marketing", "utility", "authentication")

# Every counter an hourly rollup keeps (sums in seconds). The figures are derived from
# these by ``figures``.
COUNTERS: tuple[str, ...] = (
    "arrived",
    "answered",
    "answered_timed",  # answers with a recorded wait
    "wait_sum",
    "answered_in_target",
    "abandoned",
    "short_abandoned",
    "transfers",
    "requeues",
    "handled",
    "handle_sum",
    "wrapped",
    "wrap_sum",
    "resolved",
    "resolution_sum",
    "closed_by_silence",
    "first_responses",
    "first_response_sum",
    "agent_responses",
    "agent_response_sum",
    "messages_in",
    "messages_out",
    "templates_marketing",
    "templates_utility",
    "templates_authentication",
    "flow_entered",
    "bot_resolved",
    "handoffs",
    *WAIT_BUCKETS,
    *FRT_BUCKETS,
)
FLOAT_COUNTERS = frozenset(c for c in COUNTERS if c.endswith("_sum"))
# What the occupancy rollups keep per agent and hour (seconds): see ``occupancy_seconds``.
OCCUPANCY_COUNTERS: tuple[str, ...] = ("available_seconds", "busy_seconds", "away_busy_seconds")


def bucket_of(seconds: float) -> int:
    """Index of the distribution bucket ``seconds`` falls in (edges inclusive)."""
    return bisect.bisect_left(BUCKET_EDGES, seconds)


@dataclass(frozen=True, slots=True)
class LoggedStep:
    """One row of the lifecycle log, as reporting reads it."""

    conversation_id: int
    type: str
    from_status: str | None
    to_status: str | None
    queue_id: int | None
    agent_id: int | None
    at: datetime
    data: dict | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class QueueRules:
    service_level_seconds: int = DEFAULT_SERVICE_LEVEL_SECONDS
    short_abandon_seconds: int = DEFAULT_SHORT_ABANDON_SECONDS


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one fact adds to the counters of (queue, agent) in the hour of ``at``."""

    queue_id: int | None
    agent_id: int | None
    at: datetime
    counts: dict[str, float]


@dataclass(slots=True)
class History:
    """What reporting remembers of one conversation's earlier steps: the current agent's
    part (who, in which queue, since when), when wrap-up began, whether it ever waited in
    a queue. Built by ``remember`` from the steps in order."""

    segment_agent: int | None = None
    segment_queue: int | None = None
    segment_start: datetime | None = None
    wrap_up_at: datetime | None = None
    queued: bool = False


# Steps that change what History holds (the reporting service reads only these back).
REMEMBERED_STEPS = (
    Step.ACCEPT.value,
    Step.TAKE_OVER.value,
    Step.WRAP_UP.value,
    Step.TRANSFER.value,
    Step.REQUEUE.value,
    Step.QUEUE.value,
    Step.CLOSE.value,
)


def remember(history: History, step: LoggedStep) -> None:
    if step.type in ANSWERING_STEPS:
        history.segment_agent = step.agent_id
        history.segment_queue = step.queue_id
        history.segment_start = step.at
        history.wrap_up_at = None
    elif step.type == Step.WRAP_UP.value:
        history.wrap_up_at = step.at
    elif step.type in (Step.TRANSFER.value, Step.REQUEUE.value, Step.CLOSE.value):
        history.segment_agent = history.segment_start = history.wrap_up_at = None
    if step.type in (Step.QUEUE.value, Step.TRANSFER.value, Step.OVERFLOW.value):
        history.queued = True


def _seconds(later: datetime, earlier: datetime | None) -> float | None:
    if earlier is None:
        return None
    return max(0.0, (later - earlier).total_seconds())


def step_contributions(
    step: LoggedStep,
    history: History,
    rules: QueueRules,
    *,
    started_at: datetime | None = None,
    last_message_at: datetime | None = None,
) -> list[Contribution]:
    """What one lifecycle step adds (see docs/metrics.md for every definition).

    ``history`` is the conversation's state before this step (``remember`` it after);
    ``started_at`` the conversation's first customer message (its start);
    ``last_message_at`` its last message, which ends a conversation closed by silence.
    """
    out: list[Contribution] = []
    kind, at = step.type, step.at
    wait = (step.data or {}).get("wait_seconds")

    def add(queue_id, agent_id, **counts) -> None:
        out.append(Contribution(queue_id, agent_id, at, counts))

    if kind == Step.START_FLOW.value:
        add(step.queue_id, None, flow_entered=1)
    if is_arrival(kind, step.queue_id, step.agent_id):
        add(step.queue_id, None, arrived=1)
    if kind == Step.QUEUE.value and step.from_status == Status.IN_FLOW.value:
        add(step.queue_id, None, handoffs=1)
    # Answers: an accepted offer, or a supervisor taking a waiting customer.
    if is_answer(kind, step.from_status, step.queue_id):
        counts = {"answered": 1}
        if wait is not None:
            counts.update(answered_timed=1, wait_sum=float(wait))
            counts[WAIT_BUCKETS[bucket_of(wait)]] = 1
            if wait <= rules.service_level_seconds:
                counts["answered_in_target"] = 1
        add(step.queue_id, step.agent_id, **counts)
    if is_abandon(kind, step.from_status, step.queue_id):
        counts = {"abandoned": 1}
        if wait is not None and wait < rules.short_abandon_seconds:
            counts["short_abandoned"] = 1
        add(step.queue_id, None, **counts)
    # The end of an agent's part: handle time (accept → wrap-up ended, or the step that
    # took the conversation from them).
    ends_part = (
        kind in (Step.CLOSE.value, Step.TRANSFER.value, Step.REQUEUE.value, Step.TAKE_OVER.value)
        and step.from_status in ANSWERED_STATUSES
    )
    if ends_part and history.segment_start is not None:
        queue_id, agent_id = history.segment_queue, history.segment_agent
        counts = {"handled": 1, "handle_sum": _seconds(at, history.segment_start)}
        if kind == Step.CLOSE.value and history.wrap_up_at is not None:
            counts.update(wrapped=1, wrap_sum=_seconds(at, history.wrap_up_at))
        if kind == Step.TRANSFER.value:
            counts["transfers"] = 1
        if kind == Step.REQUEUE.value:
            counts["requeues"] = 1
        add(queue_id, agent_id, **counts)
    elif kind == Step.TRANSFER.value and step.from_status in WAITING:
        add(step.queue_id, None, transfers=1)
    if kind == Step.CLOSE.value and step.from_status in ANSWERED_STATUSES:
        silent = step.reason == SILENCE_REASON
        end = last_message_at if silent and last_message_at is not None else at
        counts = {"resolved": 1}
        resolution = _seconds(end, started_at)
        if resolution is not None:
            counts["resolution_sum"] = resolution
        if silent:
            counts["closed_by_silence"] = 1
        add(
            history.segment_queue or step.queue_id, history.segment_agent or step.agent_id, **counts
        )
    # Ended in the flow, never queued: the bot resolved it.
    if (
        kind in (Step.CLOSE.value, Step.ABANDON.value)
        and step.from_status == Status.IN_FLOW.value
        and not history.queued
    ):
        add(step.queue_id, None, bot_resolved=1)
    return out


@dataclass(frozen=True, slots=True)
class MessageFact:
    id: int
    conversation_id: int
    direction: str  # inbound | outbound
    author_user_id: int | None
    type: str
    template_category: str | None
    at: datetime


@dataclass(slots=True)
class Thread:
    """What reporting remembers of a conversation's messages before the next one: the
    first customer message, whether a person has replied yet, and the oldest customer
    message still waiting for a person's reply."""

    first_inbound_at: datetime | None = None
    replied: bool = False
    unanswered_since: datetime | None = None
    outbound_first: bool = False
    seen: int = 0


def message_contributions(
    message: MessageFact, thread: Thread, queue_id: int | None
) -> list[Contribution]:
    """What one message adds, then ``thread`` moves past it.

    - messages in / out: every inbound / outbound message (bots, templates, agents);
    - template sends by category: outbound templates;
    - first response time: the conversation's first customer message → the first reply
      written by a person (conversations the business started are left out);
    - agent response time: each reply written by a person ← the oldest customer message
      it answers (the first after the previous person's reply).
    """
    out: list[Contribution] = []
    at = message.at
    if message.direction == "inbound":
        out.append(Contribution(queue_id, None, at, {"messages_in": 1}))
        if thread.seen == 0:
            thread.first_inbound_at = at
        if thread.unanswered_since is None:
            thread.unanswered_since = at
        thread.seen += 1
        return out
    counts: dict[str, float] = {"messages_out": 1}
    category = (message.template_category or "").lower()
    if message.type == "template" and category in TEMPLATE_CATEGORIES:
        counts[f"templates_{category}"] = 1
    agent = message.author_user_id
    if thread.seen == 0:
        thread.outbound_first = True
    thread.seen += 1
    if agent is not None:
        if not thread.replied and not thread.outbound_first and thread.first_inbound_at:
            first = _seconds(at, thread.first_inbound_at)
            counts.update(first_responses=1, first_response_sum=first)
            counts[FRT_BUCKETS[bucket_of(first)]] = 1
        thread.replied = True
        if thread.unanswered_since is not None:
            counts.update(
                agent_responses=1, agent_response_sum=_seconds(at, thread.unanswered_since)
            )
            thread.unanswered_since = None
    out.append(Contribution(queue_id, agent, at, counts))
    return out


@dataclass(slots=True)
class Totals:
    """Counters summed over any set of hourly rollups."""

    values: dict[str, float] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))

    def add(self, counts: dict[str, float] | Sequence[float]) -> None:
        if isinstance(counts, dict):
            for key, value in counts.items():
                self.values[key] += value or 0
        else:
            for key, value in zip(COUNTERS, counts, strict=True):
                self.values[key] += value or 0

    @classmethod
    def of(cls, rows: Iterable[dict[str, float] | Sequence[float]]) -> Totals:
        totals = cls()
        for row in rows:
            totals.add(row)
        return totals


def percentile_bucket(counts: Sequence[int], fraction: float) -> int | None:
    """Index of the distribution bucket holding the nearest-rank ``fraction`` percentile
    (None without values). Reports keep waits as bucket counts, so this bucket is all
    they know of the percentile: it lies between the bucket's lower edge (excluded) and
    its upper edge (included)."""
    total = sum(counts)
    if not total:
        return None
    rank = max(1, math.ceil(fraction * total))
    running = 0
    for index, count in enumerate(counts):
        running += count
        if running >= rank:
            return index
    return len(counts) - 1


def _p90(hist: Sequence[int], name: str) -> dict:
    """``p90_<name>_seconds``: the upper edge of the bucket holding the 90th percentile,
    an upper bound of it (None when that is the open-ended last bucket);
    ``p90_<name>_bucket``: that bucket's label ("1-2m": the p90 is above 60 s, at most
    120 s)."""
    index = percentile_bucket(hist, 0.9)
    return {
        f"p90_{name}_seconds": float(BUCKET_EDGES[index])
        if index is not None and index < len(BUCKET_EDGES)
        else None,
        f"p90_{name}_bucket": BUCKET_LABELS[index] if index is not None else None,
    }


def _mean(total: float, count: float) -> float | None:
    return round(total / count, 1) if count else None


def _rate(part: float, whole: float) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def figures(totals: Totals) -> dict[str, float | int | None]:
    """The reported figures from summed counters (docs/metrics.md)."""
    v = totals.values
    ints = {k: int(v[k]) for k in COUNTERS if k not in FLOAT_COUNTERS}
    wait_hist = [ints[b] for b in WAIT_BUCKETS]
    frt_hist = [ints[b] for b in FRT_BUCKETS]
    return {
        "arrived": ints["arrived"],
        "answered": ints["answered"],
        "abandoned": ints["abandoned"],
        "short_abandoned": ints["short_abandoned"],
        "abandon_rate_percent": _rate(ints["abandoned"], ints["answered"] + ints["abandoned"]),
        "average_wait_seconds": _mean(v["wait_sum"], ints["answered_timed"]),
        **_p90(wait_hist, "wait"),
        "answered_in_target": ints["answered_in_target"],
        "service_level_percent": service_level_percent(
            ints["answered_in_target"], ints["answered"], ints["abandoned"], ints["short_abandoned"]
        ),
        "transfers": ints["transfers"],
        "requeues": ints["requeues"],
        "handled": ints["handled"],
        "average_handle_seconds": _mean(v["handle_sum"], ints["handled"]),
        "wrapped": ints["wrapped"],
        "average_wrap_up_seconds": _mean(v["wrap_sum"], ints["wrapped"]),
        "resolved": ints["resolved"],
        "average_resolution_seconds": _mean(v["resolution_sum"], ints["resolved"]),
        "closed_by_silence": ints["closed_by_silence"],
        "first_responses": ints["first_responses"],
        "average_first_response_seconds": _mean(v["first_response_sum"], ints["first_responses"]),
        **_p90(frt_hist, "first_response"),
        "agent_responses": ints["agent_responses"],
        "average_agent_response_seconds": _mean(v["agent_response_sum"], ints["agent_responses"]),
        "messages_in": ints["messages_in"],
        "messages_out": ints["messages_out"],
        "templates_marketing": ints["templates_marketing"],
        "templates_utility": ints["templates_utility"],
        "templates_authentication": ints["templates_authentication"],
        "flow_entered": ints["flow_entered"],
        "bot_resolved": ints["bot_resolved"],
        "bot_resolved_percent": _rate(ints["bot_resolved"], ints["flow_entered"]),
        "handoffs": ints["handoffs"],
        "handoff_percent": _rate(ints["handoffs"], ints["flow_entered"]),
    }


def distribution(totals: Totals, names: Sequence[str]) -> list[dict]:
    return [
        {"bucket": label, "count": int(totals.values[name])}
        for label, name in zip(BUCKET_LABELS, names, strict=True)
    ]


def csat_figures(asked: int, scores: Sequence[int]) -> dict[str, float | int | None]:
    """Customer satisfaction from the questions asked and the answers' counts by score
    (``scores[0]`` = how many answered 1 … ``scores[4]`` = 5):

    - score: the mean of the answers (1–5), two decimals;
    - satisfied %: answers of 4 or 5 over all answers;
    - response rate %: answers over questions asked.
    """
    answered = sum(scores)
    total = sum(score * count for score, count in enumerate(scores, start=1))
    return {
        "asked": asked,
        "answered": answered,
        "response_rate_percent": _rate(answered, asked),
        "score": round(total / answered, 2) if answered else None,
        "satisfied_percent": _rate(scores[3] + scores[4], answered),
    }


# ----------------------------------------------------------------------------- occupancy

# Steps that start or end an agent's part of a conversation (as ``remember`` reads them).
PART_STEPS = (
    Step.ACCEPT.value,
    Step.TAKE_OVER.value,
    Step.TRANSFER.value,
    Step.REQUEUE.value,
    Step.CLOSE.value,
)
AVAILABLE = "available"


@dataclass(frozen=True, slots=True)
class PresenceFact:
    """One row of the presence log: ``user_id``'s presence from ``at`` on."""

    user_id: int
    status: str
    at: datetime


@dataclass(slots=True)
class Staffing:
    """Where occupancy stands at one moment: each agent's presence (absent: offline) and
    the agent handling each conversation (accepted or taken over, until transferred,
    re-queued or closed: the same part that handle time measures)."""

    presence: dict[int, str] = field(default_factory=dict)
    parts: dict[int, int] = field(default_factory=dict)  # conversation → agent

    def load(self, agent_id: int) -> int:
        return sum(1 for a in self.parts.values() if a == agent_id)


def hour_start(at: datetime, tz: tzinfo | None = None) -> datetime:
    """The start (as UTC) of the hour of ``tz``'s clock that ``at`` falls in: the hours
    reports count in. For zones a whole number of hours from UTC this is the UTC hour;
    for India (+5:30), Nepal (+5:45), Newfoundland (−3:30)… it starts at :30 or :15 UTC,
    so that their days start at local midnight."""
    at = at.astimezone(UTC)
    if tz is None:
        return at.replace(minute=0, second=0, microsecond=0)
    offset = at.astimezone(tz).utcoffset()
    # Local hours begin where UTC minutes = -offset (mod 60 min): +5:30 → :30, +5:45 → :15.
    shift = timedelta(seconds=-int(offset.total_seconds()) % 3600) if offset else timedelta(0)
    return (at - shift).replace(minute=0, second=0, microsecond=0) + shift


def occupied(status: str, load: int) -> tuple[bool, bool]:
    """Whether a stretch with presence ``status`` and ``load`` conversations handled
    counts as available time, and as busy time (docs/metrics.md, occupancy)."""
    return status == AVAILABLE or load > 0, load > 0


def _add_span(
    out: dict[tuple[int, datetime], dict[str, float]],
    agent_id: int,
    status: str,
    load: int,
    start: datetime,
    end: datetime,
    tz: tzinfo | None,
) -> None:
    """Add ``start``–``end`` in state (status, load) to the agent's hours (split at each
    hour boundary of ``tz``'s clock)."""
    available, busy = occupied(status, load)
    if not available or end <= start:
        return
    at = start
    while at < end:
        hour = hour_start(at, tz)
        stop = min(end, hour + timedelta(hours=1))
        seconds = (stop - at).total_seconds()
        row = out.setdefault((agent_id, hour), dict.fromkeys(OCCUPANCY_COUNTERS, 0.0))
        row["available_seconds"] += seconds
        if busy:
            row["busy_seconds"] += seconds
            if status != AVAILABLE:
                row["away_busy_seconds"] += seconds
        at = stop


def occupancy_seconds(
    staffing: Staffing,
    start: datetime,
    end: datetime,
    presence: Sequence[PresenceFact],
    steps: Sequence[LoggedStep],
    zones: dict[int, tzinfo] | None = None,
) -> dict[tuple[int, datetime], dict[str, float]]:
    """Seconds available, busy and busy-while-not-available per (agent, UTC hour) from
    ``start`` to ``end`` (docs/metrics.md, occupancy), given where things stood at
    ``start`` (``staffing``, moved on to ``end``) and the presence changes and lifecycle
    steps in between (each in time order; only ``PART_STEPS`` matter). Hours are those
    of each agent's workspace zone (``zones``; UTC hours without).

    - available: presence "available", or handling at least one conversation whatever
      the presence (an agent away or signed out with a conversation still theirs is
      working on it);
    - busy: handling at least one conversation;
    - away_busy: the part of busy spent away or offline (shown, so that it is seen).
    Occupancy is busy over available: at most 100 %.
    """
    out: dict[tuple[int, datetime], dict[str, float]] = {}
    since: dict[int, datetime] = {}
    loads: dict[int, int] = defaultdict(int)
    for agent_id in staffing.parts.values():
        loads[agent_id] += 1
    changes: list[tuple[datetime, int, int, object]] = [
        (p.at, 0, i, p) for i, p in enumerate(presence)
    ]
    changes += [(s.at, 1, i, s) for i, s in enumerate(steps) if s.type in PART_STEPS]
    changes.sort(key=lambda c: (c[0], c[1], c[2]))

    def close(agent_id: int, at: datetime) -> None:
        _add_span(
            out,
            agent_id,
            staffing.presence.get(agent_id, "offline"),
            loads[agent_id],
            since.get(agent_id, start),
            at,
            (zones or {}).get(agent_id),
        )
        since[agent_id] = at

    for at, _, _, change in changes:
        at = min(max(at, start), end)
        if isinstance(change, PresenceFact):
            close(change.user_id, at)
            staffing.presence[change.user_id] = change.status
            continue
        step: LoggedStep = change  # type: ignore[assignment]
        before = staffing.parts.get(step.conversation_id)
        after = (
            step.agent_id if step.type in ANSWERING_STEPS and step.agent_id is not None else None
        )
        if before == after:
            continue
        for agent_id, delta in ((before, -1), (after, 1)):
            if agent_id is not None:
                close(agent_id, at)
                loads[agent_id] += delta
        if after is None:
            staffing.parts.pop(step.conversation_id, None)
        else:
            staffing.parts[step.conversation_id] = after
    for agent_id in set(staffing.presence) | set(loads):
        close(agent_id, end)
    return out


def occupancy_figures(counts: dict[str, float]) -> dict[str, float | None]:
    """Occupancy from summed seconds: busy over available, ×100 (one decimal)."""
    available = counts.get("available_seconds", 0) or 0
    busy = counts.get("busy_seconds", 0) or 0
    return {
        "available_seconds": round(available),
        "busy_seconds": round(busy),
        "away_busy_seconds": round(counts.get("away_busy_seconds", 0) or 0),
        "occupancy_percent": _rate(busy, available),
    }
