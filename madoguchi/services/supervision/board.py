"""The wallboard kept up to date change by change, and what changed (the deltas).

``wallboard.assemble`` counts a whole snapshot from the facts (the reference: reports
and tests use it). A ``Board`` holds the same figures as counters and rows, and
``apply`` moves them by what one batch of changes brings: a conversation's row before
and after (its queue's status counts and waiting customers, its agent's work), presence,
membership and queue settings (the members' contributions to their queues' agent states
and free slots), last replies, and today's new lifecycle rows (``PeriodTally``). Nothing
is counted again over the whole workspace: the work is proportional to the change.

``apply`` returns the rows that changed (a delta): queues, agents and conversations
changed or removed. ``snapshot`` gives the whole board in ``assemble``'s shape and order;
the live feed checks now and then that it still equals a full recount
(``services/supervision/live_wallboard.py``) and ``tests/supervision`` check it after
random sequences of events.

Plain Python, no I/O: the feed runs it in a worker thread, one call at a time.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from madoguchi.domain.lifecycle import Status
from madoguchi.domain.report_metrics import occupied
from madoguchi.domain.service_metrics import PeriodTally
from madoguchi.services.supervision.wallboard import (
    DEFAULT_CAPACITY,
    WAITING,
    Facts,
    _iso,
    _since,
    _view,
    occupancy_view,
    outcome_of,
)

_WORK = ("offered", "active", "wrap_up")
_NO_WORK = {"offered": 0, "active": 0, "wrap_up": 0}


@dataclass
class Changes:
    """One batch of what the database says now, for ``Board.apply``."""

    structure: Facts | None = None  # the small tables read afresh (None: not re-read)
    rows: dict[int, Any] = field(default_factory=dict)  # conversation -> row (None: closed)
    replies: dict[int, datetime] = field(default_factory=dict)  # person -> last reply
    log: list = field(default_factory=list)  # today's lifecycle rows since the last read
    # People's occupancy today read anew (``wallboard.read_occupancy``; None: not read).
    occupancy: dict[int, tuple[float, float, datetime]] | None = None


def _holding(row) -> tuple[int, str] | None:
    """Who holds a conversation as routing counts it, and as what."""
    if row.status == Status.OFFERED and row.offered_agent_id:
        return row.offered_agent_id, "offered"
    if row.status in (Status.ACTIVE, Status.WRAP_UP) and row.assigned_agent_id:
        return row.assigned_agent_id, row.status
    return None


def _queue_key(q) -> tuple:
    return (q.name, q.max_per_agent, q.service_level_seconds, q.short_abandon_seconds)


def _presence_key(p) -> tuple | None:
    return None if p is None else (p.status, p.away_reason, p.changed_at)


def comparable_queue(row: dict[str, Any]) -> dict[str, Any]:
    """A queue row without what depends on the instant it was read."""
    return {k: v for k, v in row.items() if k != "longest_wait_seconds"}


class Board:
    def __init__(self, structure: Facts) -> None:
        self.structure = structure
        self.rows: dict[int, Any] = {}  # open conversations, by id
        self.views: dict[int, dict[str, Any]] = {}  # their rows as listed
        self.counts: dict[int | None, Counter] = defaultdict(Counter)  # queue -> status -> n
        self.waiting: dict[int, dict[int, datetime]] = defaultdict(dict)  # queue -> conv -> since
        self._oldest: dict[int, list] = defaultdict(list)  # heaps of (since, conv), lazily pruned
        self.held: dict[int, Counter] = defaultdict(Counter)  # person -> work -> n
        self.contrib: dict[int, dict[int, tuple[str, int]]] = defaultdict(dict)
        self.states: dict[int, Counter] = defaultdict(Counter)  # queue -> agent state -> n
        self.free: dict[int, int] = defaultdict(int)
        self.tallies: dict[int, PeriodTally] = defaultdict(PeriodTally)
        self.counted: set[int] = set()
        self.last_reply: dict[int, datetime] = {}
        self.queue_rows: dict[int, dict[str, Any]] = {}
        self.agent_rows: dict[int, dict[str, Any]] = {}
        self.log_read_at: datetime | None = None
        # Occupancy today per person: (available s, busy s, as of), moved on at each
        # change of their state (presence, conversations handled) as it counted till then.
        self.occupancy: dict[int, tuple[float, float, datetime]] = {}
        self.load: Changes | None = None  # a whole read not applied yet
        self._was_queue: dict[int, int | None] = {}  # this apply's conversations' queues before
        self._index()
        for q in structure.queues:
            for user_id in structure.members.get(q.id, ()):
                self._contribute(q.id, user_id)

    # ------------------------------------------------------------------ reading

    @property
    def day(self):
        return self.structure.day

    def _index(self) -> None:
        self._queues = {q.id: q for q in self.structure.queues}
        self._users = {u.id: u for u in self.structure.users}

    def _load(self, user_id: int) -> int:
        held = self.held.get(user_id)
        return sum(held.values()) if held else 0

    def _state(self, queue_id: int, user_id: int) -> tuple[str, int]:
        p = self.structure.presence.get(user_id)
        status = p.status if p is not None else "offline"
        if status == "available":
            room = self._queues[queue_id].max_per_agent - self._load(user_id)
            return ("busy" if room <= 0 else "available"), max(0, room)
        return ("away" if status == "away" else "offline"), 0

    def _contribute(self, queue_id: int, user_id: int, member: bool = True) -> bool:
        """Move one member's part in a queue's agent states and free slots; whether it
        changed."""
        old = self.contrib[queue_id].get(user_id)
        new = self._state(queue_id, user_id) if member else None
        if old == new:
            return False
        if old is not None:
            self.states[queue_id][old[0]] -= 1
            self.free[queue_id] -= old[1]
        if new is None:
            del self.contrib[queue_id][user_id]
        else:
            self.contrib[queue_id][user_id] = new
            self.states[queue_id][new[0]] += 1
            self.free[queue_id] += new[1]
        return True

    def _oldest_waiting(self, queue_id: int) -> datetime | None:
        heap, waiting = self._oldest.get(queue_id), self.waiting.get(queue_id)
        while heap and (waiting is None or waiting.get(heap[0][1]) != heap[0][0]):
            heapq.heappop(heap)  # an entry of a customer no longer waiting (since then)
        return heap[0][0] if heap else None

    def _queue_row(self, q, now: datetime) -> dict[str, Any]:
        counts = self.counts.get(q.id) or Counter()
        oldest = self._oldest_waiting(q.id)
        states = self.states.get(q.id) or Counter()
        tally = self.tallies.get(q.id) or PeriodTally()
        today = tally.period(
            service_level_seconds=q.service_level_seconds,
            short_abandon_seconds=q.short_abandon_seconds,
        )
        return {
            "id": q.id,
            "name": q.name,
            "service_level_seconds": q.service_level_seconds,
            "short_abandon_seconds": q.short_abandon_seconds,
            "waiting": counts[Status.QUEUED.value],
            "offered": counts[Status.OFFERED.value],
            "active": counts[Status.ACTIVE.value],
            "wrap_up": counts[Status.WRAP_UP.value],
            "oldest_waiting_since": _iso(oldest),
            "longest_wait_seconds": (
                round((now - oldest).total_seconds(), 1) if oldest is not None else 0
            ),
            "agents": {k: states[k] for k in ("available", "busy", "away", "offline")},
            "free_slots": self.free.get(q.id, 0),
            "today": today.as_dict(),
        }

    def _listed(self, u) -> bool:
        held = self.held.get(u.id)
        return (
            u.role == "agent"
            or u.id in self.structure.queues_of
            or (held is not None and any(held.values()))
        )

    def _agent_row(self, u) -> dict[str, Any]:
        s = self.structure
        p = s.presence.get(u.id)
        mine = s.queues_of.get(u.id, [])
        held = self.held.get(u.id)
        work = {k: held[k] for k in _WORK} if held else dict(_NO_WORK)
        return {
            "user_id": u.id,
            "name": u.name,
            "role": u.role,
            "presence": p.status if p is not None else "offline",
            "away_reason": p.away_reason if p is not None else None,
            "presence_since": _iso(p.changed_at) if p is not None else None,
            **work,
            "capacity": max(
                (self._queues[q].max_per_agent for q in mine if q in self._queues),
                default=DEFAULT_CAPACITY,
            ),
            "last_reply_at": _iso(self.last_reply.get(u.id)),
            "queue_ids": sorted(mine),
            "occupancy": occupancy_view(self.occupancy.get(u.id)),
        }

    def _occupancy_state(self, user_id: int) -> tuple[str, int]:
        """An agent's presence and the conversations they handle (active, wrap-up)."""
        p = self.structure.presence.get(user_id)
        held = self.held.get(user_id)
        return (
            p.status if p is not None else "offline",
            (held["active"] + held["wrap_up"]) if held else 0,
        )

    def _move_occupancy(self, user_id: int, before: dict[str, Any], now: datetime) -> None:
        """The agent's state changed from their row ``before``: the time since their
        occupancy's ``as of`` counts as that state did (the browser's count till now)."""
        anchor = self.occupancy.get(user_id)
        if anchor is None:
            return
        state = (before["presence"], before["active"] + before["wrap_up"])
        if state == self._occupancy_state(user_id):
            return
        available, busy, at = anchor
        elapsed = max(0.0, (now - at).total_seconds())
        counts_available, counts_busy = occupied(*state)
        self.occupancy[user_id] = (
            available + (elapsed if counts_available else 0.0),
            busy + (elapsed if counts_busy else 0.0),
            now,
        )

    def _conversation_row(self, conversation_id: int) -> dict[str, Any]:
        return {
            **self.views[conversation_id],
            "monitored_by": self.structure.monitors.get(conversation_id, []),
        }

    def snapshot(self, now: datetime) -> dict[str, Any]:
        """The whole board, as ``wallboard.assemble`` would count it at ``now``."""
        s = self.structure
        queues = []
        for q in s.queues:
            row = self.queue_rows.get(q.id) or self._queue_row(q, now)
            oldest = self._oldest_waiting(q.id)
            wait = round((now - oldest).total_seconds(), 1) if oldest is not None else 0
            queues.append({**row, "longest_wait_seconds": wait})
        agents = [self.agent_rows[u.id] for u in s.users if u.id in self.agent_rows]

        def urgency(v: dict[str, Any]) -> tuple:
            return (v["status"] not in WAITING, v["since"] or "", v["id"])

        conversations = [
            self._conversation_row(v["id"]) for v in sorted(self.views.values(), key=urgency)
        ]
        return {
            "generated_at": now.isoformat(),
            "timezone": s.timezone,
            "day": s.day.isoformat(),
            "queues": queues,
            "agents": agents,
            "conversations": conversations,
        }

    # ------------------------------------------------------------------ changing

    def apply(self, changes: Changes, now: datetime) -> dict[str, Any]:
        """Move the board by ``changes``; the rows that changed (a delta)."""
        queues: set[int] = set()
        agents: set[int] = set()
        conversations: set[int] = set()
        loaded: set[int] = set()  # people whose work changed
        if changes.structure is not None:
            self._restructure(changes.structure, queues, agents, conversations)
        for conversation_id, row in changes.rows.items():
            self._move(conversation_id, row, queues, loaded, conversations)
        for user_id, at in changes.replies.items():
            if self.last_reply.get(user_id) != at:
                self.last_reply[user_id] = at
                agents.add(user_id)
        if changes.occupancy is not None:
            for user_id in self.occupancy.keys() | changes.occupancy.keys():
                if self.occupancy.get(user_id) != changes.occupancy.get(user_id):
                    agents.add(user_id)
            self.occupancy = dict(changes.occupancy)
        for row in changes.log:
            if row.id in self.counted:
                continue
            self.counted.add(row.id)
            counted = outcome_of(row)
            if counted is True:
                self.tallies[row.queue_id].arrived += 1
            elif counted is not None:
                self.tallies[row.queue_id].add(counted)
            else:
                continue
            queues.add(row.queue_id)
        queues_of = self.structure.queues_of
        for user_id in loaded:
            agents.add(user_id)
            for queue_id in queues_of.get(user_id, ()):
                if queue_id in self._queues and self._contribute(queue_id, user_id):
                    queues.add(queue_id)
        return self._delta(queues, agents, conversations, now)

    def _move(
        self, conversation_id: int, row, queues: set, loaded: set, conversations: set
    ) -> None:
        """One conversation's row from what the board had to ``row`` (None: closed)."""
        before = self.rows.get(conversation_id)
        if before == row:
            return
        if before is not None:
            self._was_queue.setdefault(conversation_id, before.queue_id)
        for r, sign in ((before, -1), (row, 1)):
            if r is None:
                continue
            self.counts[r.queue_id][r.status] += sign
            if r.queue_id is not None:
                queues.add(r.queue_id)
            if r.status in WAITING and r.queue_id is not None:
                waiting = self.waiting[r.queue_id]
                if sign < 0:
                    waiting.pop(conversation_id, None)
                else:
                    since = _since(r)
                    waiting[conversation_id] = since
                    heapq.heappush(self._oldest[r.queue_id], (since, conversation_id))
            holder = _holding(r)
            if holder is not None:
                self.held[holder[0]][holder[1]] += sign
                loaded.add(holder[0])
        conversations.add(conversation_id)
        if row is None:
            self.rows.pop(conversation_id, None)
            self.views.pop(conversation_id, None)
        else:
            self.rows[conversation_id] = row
            self.views[conversation_id] = _view(row)

    def _restructure(self, new: Facts, queues: set, agents: set, conversations: set) -> None:
        """The small tables read again: find what differs and move only that."""
        old = self.structure
        old_queues = {q.id: q for q in old.queues}
        self.structure = new
        self._index()
        settings_changed = set()
        for queue_id in old_queues.keys() | self._queues.keys():
            before, after = old_queues.get(queue_id), self._queues.get(queue_id)
            if before is None or after is None or _queue_key(before) != _queue_key(after):
                queues.add(queue_id)
                settings_changed.add(queue_id)
        for queue_id in old.members.keys() | new.members.keys():
            was, now_ = old.members.get(queue_id, set()), new.members.get(queue_id, set())
            if queue_id not in self._queues:
                continue
            # Settings changed (capacity): every member again; else those who came or went.
            redo = was | now_ if queue_id in settings_changed else was ^ now_
            for user_id in redo:
                if self._contribute(queue_id, user_id, member=user_id in now_):
                    queues.add(queue_id)
            agents.update(was ^ now_)
            if queue_id in settings_changed:
                agents.update(now_)  # their capacity
        for queue_id in settings_changed - self._queues.keys():
            self.contrib.pop(queue_id, None)
            self.states.pop(queue_id, None)
            self.free.pop(queue_id, None)
        for user_id in old.presence.keys() | new.presence.keys():
            if _presence_key(old.presence.get(user_id)) == _presence_key(new.presence.get(user_id)):
                continue
            agents.add(user_id)
            for queue_id in new.queues_of.get(user_id, ()):
                if queue_id in self._queues and self._contribute(queue_id, user_id):
                    queues.add(queue_id)
        before_users = {u.id: tuple(u) for u in old.users}
        after_users = {u.id: tuple(u) for u in new.users}
        for user_id in before_users.keys() | after_users.keys():
            if before_users.get(user_id) != after_users.get(user_id):
                agents.add(user_id)
        for conversation_id in old.monitors.keys() | new.monitors.keys():
            moved = old.monitors.get(conversation_id) != new.monitors.get(conversation_id)
            if moved and conversation_id in self.views:
                conversations.add(conversation_id)

    def _delta(self, queues: set, agents: set, conversations: set, now: datetime) -> dict[str, Any]:
        was_conversations, self._was_queue = self._was_queue, {}
        was_agents = {
            user_id: self.agent_rows[user_id]["queue_ids"]
            for user_id in agents
            if user_id in self.agent_rows
        }
        changed_queues, removed_queues = [], []
        for queue_id in sorted(q for q in queues if q is not None):
            q = self._queues.get(queue_id)
            before = self.queue_rows.get(queue_id)
            if q is None:
                if self.queue_rows.pop(queue_id, None) is not None:
                    removed_queues.append(queue_id)
                continue
            row = self._queue_row(q, now)
            self.queue_rows[queue_id] = row
            if before is None or comparable_queue(before) != comparable_queue(row):
                changed_queues.append(row)
        changed_agents, removed_agents = [], []
        for user_id in sorted(agents):
            u = self._users.get(user_id)
            before = self.agent_rows.get(user_id)
            if u is None or not self._listed(u):
                if self.agent_rows.pop(user_id, None) is not None:
                    removed_agents.append(user_id)
                continue
            if before is not None:
                self._move_occupancy(user_id, before, now)
            row = self._agent_row(u)
            self.agent_rows[user_id] = row
            if before != row:
                changed_agents.append(row)
        changed_conversations, removed_conversations = [], []
        for conversation_id in sorted(conversations):
            if conversation_id in self.views:
                changed_conversations.append(self._conversation_row(conversation_id))
            else:
                removed_conversations.append(conversation_id)
        return {
            "queues": changed_queues,
            "queues_removed": removed_queues,
            "agents": changed_agents,
            "agents_removed": removed_agents,
            "conversations": changed_conversations,
            "conversations_removed": removed_conversations,
            WAS: {"conversations": was_conversations, "agents": was_agents},
        }

    def build_rows(self, now: datetime) -> None:
        """Every queue and agent row (a new board, once its facts are in)."""
        self._delta(set(self._queues), set(self._users), set(), now)


def empty(delta: dict[str, Any]) -> bool:
    return not any(delta[k] for k in DELTA_KEYS)


EMPTY: dict[str, Any] = {"queues": [], "agents": [], "conversations": []}
WAS = "_was"  # where rows were before (their queues): for ``cut``, never sent
DELTA_KEYS = (
    "queues",
    "queues_removed",
    "agents",
    "agents_removed",
    "conversations",
    "conversations_removed",
)


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The delta from one snapshot to another (a reconciliation's corrections)."""

    def by(rows, key):
        return {r[key]: r for r in rows}

    out: dict[str, Any] = {}

    def plain(row):
        return row

    for name, key, norm in (
        ("queues", "id", comparable_queue),
        ("agents", "user_id", plain),
        ("conversations", "id", plain),
    ):
        old, new = by(before[name], key), by(after[name], key)
        out[name] = [r for k, r in new.items() if k not in old or norm(old[k]) != norm(r)]
        out[f"{name}_removed"] = sorted(k for k in old if k not in new)
    out[WAS] = {
        "conversations": {c["id"]: c["queue_id"] for c in before["conversations"]},
        "agents": {a["user_id"]: a["queue_ids"] for a in before["agents"]},
    }
    return out


def apply_delta(snapshot: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """A snapshot with a delta applied, as a browser does (tests use it); rows keep their
    place and new ones go last (order is the reader's)."""
    out = dict(snapshot)
    for name, key in (("queues", "id"), ("agents", "user_id"), ("conversations", "id")):
        rows = {r[key]: r for r in snapshot[name]}
        for k in delta[f"{name}_removed"]:
            rows.pop(k, None)
        for r in delta[name]:
            rows[r[key]] = r
        out[name] = list(rows.values())
    return out


def merge(first: dict[str, Any], then: dict[str, Any]) -> dict[str, Any]:
    """One delta doing what ``first`` then ``then`` do."""
    out: dict[str, Any] = {}
    for name, key in (("queues", "id"), ("agents", "user_id"), ("conversations", "id")):
        rows = {r[key]: r for r in first[name]}
        removed = set(first[f"{name}_removed"])
        for k in then[f"{name}_removed"]:
            rows.pop(k, None)
            removed.add(k)
        for r in then[name]:
            rows[r[key]] = r
            removed.discard(r[key])
        out[name] = list(rows.values())
        out[f"{name}_removed"] = sorted(removed)
    was_first, was_then = first.get(WAS, {}), then.get(WAS, {})
    out[WAS] = {
        k: {**was_then.get(k, {}), **was_first.get(k, {})} for k in ("conversations", "agents")
    }
    return out


def cut(changes: dict[str, Any], queue_ids: frozenset[int] | None) -> dict[str, Any]:
    """A delta as a viewer limited to ``queue_ids`` may see it (None: all of it), without
    the bookkeeping. A row that left the viewer's queues (a conversation transferred
    away, an agent signed out of them) becomes a removal, and a removal is sent only
    for a row that was in the viewer's queues."""
    if queue_ids is None:
        return {k: changes[k] for k in DELTA_KEYS}
    was = changes.get(WAS, {})
    was_conversation, was_agent = was.get("conversations", {}), was.get("agents", {})

    def had_agent(user_id: int) -> bool:
        return bool(queue_ids.intersection(was_agent.get(user_id, ())))

    agents, gone_agents = [], [a for a in changes["agents_removed"] if had_agent(a)]
    for row in changes["agents"]:
        if queue_ids.intersection(row["queue_ids"]):
            agents.append(row)
        elif had_agent(row["user_id"]):
            gone_agents.append(row["user_id"])
    conversations = []
    gone = [c for c in changes["conversations_removed"] if was_conversation.get(c) in queue_ids]
    for row in changes["conversations"]:
        if row["queue_id"] in queue_ids:
            conversations.append(row)
        elif was_conversation.get(row["id"]) in queue_ids:
            gone.append(row["id"])
    return {
        "queues": [q for q in changes["queues"] if q["id"] in queue_ids],
        "queues_removed": [q for q in changes["queues_removed"] if q in queue_ids],
        "agents": agents,
        "agents_removed": gone_agents,
        "conversations": conversations,
        "conversations_removed": gone,
    }
