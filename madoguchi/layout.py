"""Which process of one ``madoguchi serve`` runs which worker.

``madoguchi serve`` is one *web* process (HTTP, websockets, the webhook journal's appends:
what must answer fast) and, in the split layout, child processes for the rest. The
default split (SQLite, ``MADOGUCHI_PROCESSES=auto`` or ``2``) puts every worker into one
child, ``processing``: acknowledging Meta and serving the API keep one core, storing,
flows, routing, assist and sending get the other. ``MADOGUCHI_WORKER_PLACEMENT`` moves a
worker elsewhere: ``sender=own`` (a process of its own, named after the worker),
``assist=web`` (back into the web process), ``timers=processing``. ``MADOGUCHI_PROCESSES=1``
keeps everything in the one web process (tiny deployments, tests).

The workers:
- ``journal``: processing of the webhook journal (contacts, conversations, messages, and
  the event handlers they trigger: flows, routing, service window, opt-out …);
- ``timers``, ``routing`` (the routing sweep; offers themselves are made where the event
  that caused them is handled);
- the single-instance workers: ``media``, ``health``, ``costs``, ``assist``, ``rollups``,
  ``sender``, ``campaigns``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

WEB = "web"
PROCESSING = "processing"
OWN = "own"
SINGLE_INSTANCE = ("media", "health", "costs", "assist", "rollups", "sender", "campaigns")
WORKERS = ("journal", "timers", "routing", *SINGLE_INSTANCE)


@dataclass(frozen=True)
class Layout:
    """worker -> the name of the process that runs it (``web`` or a child's name)."""

    places: Mapping[str, str] = field(default_factory=dict)

    def here(self, process: str) -> frozenset[str]:
        return frozenset(worker for worker, place in self.places.items() if place == process)

    def where(self, worker: str) -> str | None:
        return self.places.get(worker)

    @property
    def children(self) -> tuple[str, ...]:
        """The processes besides the web process, in a stable order."""
        return tuple(sorted({place for place in self.places.values() if place != WEB}))

    def describe(self) -> str:
        parts = []
        for process in (WEB, *self.children):
            workers = [w for w in WORKERS if self.places.get(w) == process]
            parts.append(
                f"{process}: {', '.join(['http', *workers] if process == WEB else workers)}"
            )
        return "; ".join(parts)


def single(*, workers: bool = True) -> Layout:
    """Everything in the one process (``workers=False``: only journal processing)."""
    return Layout({worker: WEB for worker in (WORKERS if workers else ("journal",))})


def parse_placement(text: str) -> dict[str, str]:
    """``"sender=own, assist=web"`` -> {"sender": "own", "assist": "web"}; a ValueError
    says what is wrong."""
    placement: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        worker, sep, place = (piece.strip() for piece in item.partition("="))
        if not sep or worker not in WORKERS or place not in (WEB, PROCESSING, OWN):
            raise ValueError(
                f"MADOGUCHI_WORKER_PLACEMENT: {item!r} is not <worker>=<web|processing|own> "
                f"with a worker among {', '.join(WORKERS)}"
            )
        placement[worker] = place
    return placement


def plan(
    *, processes: str | int, sqlite_file: bool, placement: str = "", workers: bool = True
) -> Layout:
    """The layout of ``madoguchi serve``: ``processes`` is ``auto`` (two on a SQLite file,
    where one process is one core; one on PostgreSQL, which scales with `madoguchi
    worker` processes instead), 1 or 2."""
    chosen = str(processes).strip().lower()
    if chosen not in ("auto", "1", "2"):
        raise ValueError(f"MADOGUCHI_PROCESSES must be auto, 1 or 2; got {processes!r}")
    moves = parse_placement(placement)
    if chosen == "1" or (chosen == "auto" and not sqlite_file):
        return single(workers=workers)
    names = WORKERS if workers else ("journal",)
    places = {}
    for worker in names:
        place = moves.get(worker, PROCESSING)
        places[worker] = worker if place == OWN else place
    return Layout(places)
