"""The wallboard kept change by change (``board.Board``) against the reference recount
(``wallboard.assemble``), over random sequences of changes, without a database: after
every batch the kept board equals a whole recount, and a reader that took the first
snapshot and applied every delta since holds the same board. (The same, through the
real API and events on SQLite and PostgreSQL: ``test_wallboard.py``.)"""

from __future__ import annotations

import random
from collections import defaultdict, namedtuple
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from madoguchi.services.supervision import board as boards
from madoguchi.services.supervision import wallboard

LIMITED = frozenset({1})
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
User = namedtuple("User", "id name role")  # noqa: PYI024 - as the query returns it
LogRow = namedtuple("LogRow", "id type queue_id agent_id from_status data at")  # noqa: PYI024


@dataclass
class QueueRow:
    id: int
    name: str
    max_per_agent: int
    service_level_seconds: int
    short_abandon_seconds: int


@dataclass
class Presence:
    status: str
    away_reason: str | None
    changed_at: datetime


class World:
    """The database, as plain values; each step changes some of it at random."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.queues = {q: QueueRow(q, f"Q{q}", rng.choice([1, 2, 3]), 60, 10) for q in (1, 2, 3)}
        self.users = [User(u, f"U{u:02d}", "agent") for u in range(10, 22)]
        self.users += [User(30, "Sup", "supervisor"), User(31, "Boss", "admin")]
        self.members = {q: {u for u in range(10, 22) if rng.random() < 0.5} for q in self.queues}
        self.presence: dict[int, Presence] = {}
        self.monitors: dict[int, list[int]] = {}
        self.conversations: dict[int, tuple] = {}
        self.log: list[LogRow] = []
        self.last_reply: dict[int, datetime] = {}
        self.next_id = 100

    def structure(self) -> wallboard.Facts:
        """As ``load_structure`` reads it: new objects every time."""
        facts = wallboard.Facts(timezone="UTC", midnight=NOW.replace(hour=0), day=date(2026, 12, 3))
        facts.queues = [
            QueueRow(**vars(q)) for q in sorted(self.queues.values(), key=lambda q: q.name)
        ]
        members: dict[int, set[int]] = {}
        queues_of: dict[int, list[int]] = defaultdict(list)
        for q, users in self.members.items():
            if users:
                members[q] = set(users)
            for u in sorted(users):
                queues_of[u].append(q)
        facts.members, facts.queues_of = members, dict(queues_of)
        facts.presence = {u: Presence(**vars(p)) for u, p in self.presence.items()}
        facts.users = sorted(self.users, key=lambda u: (u.name, u.id))
        facts.monitors = {c: list(s) for c, s in self.monitors.items() if s}
        return facts

    def row(self, cid: int):
        return self.conversations.get(cid)

    def whole(self) -> wallboard.Facts:
        facts = self.structure()
        facts.conversations = dict(self.conversations)
        facts.views = {i: wallboard._view(r) for i, r in self.conversations.items()}
        facts.last_reply = dict(self.last_reply)
        outcomes, arrived = defaultdict(list), defaultdict(int)
        for row in self.log:
            wallboard.count_step(outcomes, arrived, row)
        facts.outcomes, facts.arrived = dict(outcomes), dict(arrived)
        return facts

    def _conversation(self, cid, status, queue_id, offered=None, assigned=None, since=None):
        at = since or NOW - timedelta(seconds=self.rng.randrange(1, 3000))
        self.conversations[cid] = wallboard.ConversationRow(
            id=cid, status=status, queue_id=queue_id, assigned_agent_id=assigned,
            offered_agent_id=offered, queued_at=at, offered_at=at, assigned_at=at,
            wrap_up_at=at, created_at=at, last_inbound_at=at, profile_name=f"C{cid}",
            wa_id=None, username=None,
        )  # fmt: skip

    def _log(self, step, queue_id, agent_id=None, from_status=None, wait=None):
        self.next_id += 1
        data = {"wait_seconds": wait} if wait is not None else None
        self.log.append(LogRow(self.next_id, step, queue_id, agent_id, from_status, data, NOW))

    def step(self) -> tuple[set[int], set[int]]:
        """One random change; the conversations and people it touched."""
        rng = self.rng
        cids, people = set(), set()
        waiting = [c for c, r in self.conversations.items() if r.status in ("queued", "offered")]
        held = [c for c, r in self.conversations.items() if r.status in ("active", "wrap_up")]
        kind = rng.choice(
            ["arrive", "arrive", "offer", "accept", "wrap", "close", "abandon", "transfer",
             "presence", "presence", "member", "capacity", "monitor", "reply", "flow"]
        )  # fmt: skip
        agents = [u.id for u in self.users if u.role == "agent"]
        if kind == "arrive":
            self.next_id += 1
            cid = self.next_id
            q = rng.choice(list(self.queues))
            self._conversation(cid, "queued", q)
            self._log("queued", q)
            cids.add(cid)
        elif kind == "flow":
            self.next_id += 1
            self._conversation(self.next_id, "in_flow", None)
            cids.add(self.next_id)
        elif kind == "offer" and waiting:
            cid = rng.choice(waiting)
            r = self.row(cid)
            agent = rng.choice(agents)
            self.conversations[cid] = r._replace(status="offered", offered_agent_id=agent)
            cids.add(cid)
            people.update({agent, r.offered_agent_id} - {None})
        elif kind == "accept" and waiting:
            cid = rng.choice(waiting)
            r = self.row(cid)
            agent = r.offered_agent_id or rng.choice(agents)
            self.conversations[cid] = r._replace(
                status="active", assigned_agent_id=agent, offered_agent_id=None
            )
            self._log("accepted", r.queue_id, agent, r.status, round(rng.uniform(0, 200), 3))
            cids.add(cid)
            people.add(agent)
        elif kind == "wrap" and held:
            cid = rng.choice(held)
            self.conversations[cid] = self.row(cid)._replace(status="wrap_up")
            cids.add(cid)
        elif kind == "close" and held:
            cid = rng.choice(held)
            people.add(self.row(cid).assigned_agent_id)
            del self.conversations[cid]
            cids.add(cid)
        elif kind == "abandon" and waiting:
            cid = rng.choice(waiting)
            r = self.row(cid)
            self._log("abandoned", r.queue_id, None, r.status, rng.choice([2.0, 30.0, None]))
            del self.conversations[cid]
            cids.add(cid)
            people.update({r.offered_agent_id} - {None})
        elif kind == "transfer" and (waiting or held):
            cid = rng.choice(waiting + held)
            r = self.row(cid)
            q = rng.choice(list(self.queues))
            self.conversations[cid] = r._replace(
                status="queued", queue_id=q, offered_agent_id=None, assigned_agent_id=None
            )
            self._log("transferred", q)
            cids.add(cid)
            people.update({r.offered_agent_id, r.assigned_agent_id} - {None})
        elif kind == "presence":
            u = rng.choice(agents + [30])
            self.presence[u] = Presence(
                rng.choice(["available", "available", "away", "offline"]),
                rng.choice([None, "lunch"]),
                NOW - timedelta(seconds=rng.randrange(100)),
            )
        elif kind == "member":
            q = rng.choice(list(self.queues))
            self.members[q] ^= {rng.choice(agents + [30])}
        elif kind == "capacity":
            q = self.queues[rng.choice(list(self.queues))]
            q.max_per_agent = rng.choice([1, 2, 3])
            q.service_level_seconds = rng.choice([30, 60])
        elif kind == "monitor" and self.conversations:
            cid = rng.choice(list(self.conversations))
            self.monitors[cid] = [] if self.monitors.get(cid) else [30]
        elif kind == "reply" and held:
            agent = self.row(rng.choice(held)).assigned_agent_id
            self.last_reply[agent] = NOW - timedelta(seconds=rng.randrange(100))
            people.add(agent)
        return cids, people


def comparable(snapshot: dict) -> dict:
    """Order-free and without the instant: what a reader shows."""
    return {
        "queues": sorted(
            (boards.comparable_queue(q) for q in snapshot["queues"]), key=lambda q: q["id"]
        ),
        "agents": sorted(snapshot["agents"], key=lambda a: a["user_id"]),
        "conversations": sorted(snapshot["conversations"], key=lambda c: c["id"]),
    }


@pytest.mark.parametrize("seed", range(12))
def test_kept_board_equals_a_recount_after_random_changes(seed):
    rng = random.Random(seed)
    world = World(rng)
    for _ in range(15):
        world.step()
    board = boards.Board(world.structure())
    board.apply(
        boards.Changes(
            rows=dict(world.conversations), replies=dict(world.last_reply), log=list(world.log)
        ),
        NOW,
    )
    board.build_rows(NOW)
    assert board.snapshot(NOW) == wallboard.assemble(world.whole(), NOW)
    reader = board.snapshot(NOW)
    limited = wallboard.for_viewer(reader, LIMITED)  # a supervisor of queue 1 only
    seen = len(world.log)
    for _batch in range(40):
        cids, people = set(), set()
        for _ in range(rng.randrange(1, 6)):
            c, p = world.step()
            cids |= c
            people |= p
        # Now and then an event names a conversation that did not change, and the log is
        # read from a little before the last read (rows seen twice count once).
        cids |= set(rng.sample(sorted(world.conversations), min(2, len(world.conversations))))
        changes = boards.Changes(
            structure=world.structure(),
            rows={c: world.row(c) for c in cids},
            replies={u: world.last_reply[u] for u in people if u in world.last_reply},
            log=world.log[max(0, seen - 3) :],
        )
        seen = len(world.log)
        delta = board.apply(changes, NOW)
        expected = wallboard.assemble(world.whole(), NOW)
        assert board.snapshot(NOW) == expected
        reader = boards.apply_delta(reader, delta)
        assert comparable(reader) == comparable(expected)
        mine = boards.cut(delta, LIMITED)
        # Nothing about other queues: a removal names only a row the viewer holds.
        assert set(mine["conversations_removed"]) <= {c["id"] for c in limited["conversations"]}
        assert set(mine["agents_removed"]) <= {a["user_id"] for a in limited["agents"]}
        assert set(mine["queues_removed"]) <= {q["id"] for q in limited["queues"]}
        limited = boards.apply_delta(limited, mine)
        assert comparable(limited) == comparable(wallboard.for_viewer(expected, LIMITED))
        assert all(c["queue_id"] in LIMITED for c in mine["conversations"])
        assert all(LIMITED & set(a["queue_ids"]) for a in mine["agents"])


def test_a_delta_names_only_what_changed():
    world = World(random.Random(3))
    board = boards.Board(world.structure())
    board.apply(boards.Changes(), NOW)
    board.build_rows(NOW)
    world.next_id += 1
    world._conversation(world.next_id, "queued", 1)
    delta = board.apply(
        boards.Changes(structure=world.structure(), rows={world.next_id: world.row(world.next_id)}),
        NOW,
    )
    assert [q["id"] for q in delta["queues"]] == [1]
    assert [c["id"] for c in delta["conversations"]] == [world.next_id]
    assert delta["agents"] == [] and delta["conversations_removed"] == []
    again = board.apply(
        boards.Changes(structure=world.structure(), rows={world.next_id: world.row(world.next_id)}),
        NOW,
    )
    assert boards.empty(again)


def test_occupancy_moves_on_as_the_agents_state_counted_till_each_change():
    """An agent's occupancy (read at whole reads) moves on at each change of their
    presence or conversations handled, the time since counting as the state before did
    (``report_metrics.occupied``: the reports' definition); the recount shows the same."""
    world = World(random.Random(5))
    agent = 10
    world.presence[agent] = Presence("available", None, NOW)
    board = boards.Board(world.structure())
    board.apply(boards.Changes(occupancy={agent: (100.0, 40.0, NOW)}), NOW)
    board.build_rows(NOW)

    def occupancy(at):
        return next(a for a in board.snapshot(at)["agents"] if a["user_id"] == agent)["occupancy"]

    assert occupancy(NOW) == {
        "available_seconds": 100,
        "busy_seconds": 40,
        "percent": 40.0,
        "as_of": NOW.isoformat(),
    }
    # 60 s on, they accept a conversation: those 60 s were available, not busy.
    later = NOW + timedelta(seconds=60)
    world._conversation(900, "active", 1, assigned=agent)
    delta = board.apply(boards.Changes(rows={900: world.row(900)}), later)
    row = next(a for a in delta["agents"] if a["user_id"] == agent)
    assert row["occupancy"] == {
        "available_seconds": 160,
        "busy_seconds": 40,
        "percent": 25.0,
        "as_of": later.isoformat(),
    }
    # 40 s on, they go away with it still theirs: those 40 s were available and busy.
    away = later + timedelta(seconds=40)
    world.presence[agent] = Presence("away", "break", away)
    board.apply(boards.Changes(structure=world.structure()), away)
    assert occupancy(away)["available_seconds"] == 200 and occupancy(away)["busy_seconds"] == 80
    # A change that is not of their state (a reply) leaves the count where it was.
    world.last_reply[agent] = away + timedelta(seconds=5)
    board.apply(
        boards.Changes(replies={agent: world.last_reply[agent]}), away + timedelta(seconds=5)
    )
    assert occupancy(away)["as_of"] == away.isoformat()
    # A fresh read replaces it; a whole recount from the same facts shows the same.
    board.apply(boards.Changes(occupancy={agent: (300.0, 90.0, away)}), away)
    facts = world.whole()
    facts.occupancy = {agent: (300.0, 90.0, away)}
    recount = next(a for a in wallboard.assemble(facts, away)["agents"] if a["user_id"] == agent)
    assert (
        recount["occupancy"]
        == occupancy(away)
        == {
            "available_seconds": 300,
            "busy_seconds": 90,
            "percent": 30.0,
            "as_of": away.isoformat(),
        }
    )
