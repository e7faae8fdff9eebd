"""The processes of one ``madoguchi serve``: the web process starts, links and watches
its children; a child runs its part of the runtime (``madoguchi.layout`` says which).

Each child is ``python -m madoguchi.processes <name> <fd> <parent pid>`` with one end of
a socket pair (``bus.pipe.Link``). Over it travel:

- ``C`` (web → child, first frame): the settings and the layout;
- ``R`` (child → web): ready, its workers run;
- ``E``: a realtime event (when there is no Redis), relayed by the web process to the
  other children;
- ``W<worker>``: wake a worker of another process (a delivery was committed: ``journal``;
  a reply queued: ``sender``; …), relayed by the web process when it is not its own;
- ``B`` / ``Q`` (web → the journal's process): deliveries are waiting for their commit /
  none is; the processor then works in short slices and, between two, waits (a few ms at
  most) while acknowledgements wait. Not sent on a SQLite file, where the appends go to
  the journal's inbox (``services.channel.journal_inbox``), whose lock processing never
  takes;
- ``S`` (web → child): stop.

A child dies with its parent: it stops when its socket closes and, on Linux, the kernel
sends it SIGTERM when the parent dies (``PR_SET_PDEATHSIG``). SIGTERM or SIGINT stops a
child cleanly; the web process stops its children (SIGTERM, then SIGKILL after a grace
period) when it stops, and starts a child that died again after a short pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
from typing import TYPE_CHECKING

from madoguchi.bus.pipe import EVENT, Link, PipeFanOut
from madoguchi.gc_tuning import freeze_startup_heap
from madoguchi.layout import WEB, Layout

if TYPE_CHECKING:
    from madoguchi.runtime import Runtime

log = logging.getLogger(__name__)

CONFIG, READY, WAKE, BUSY, QUIET, STOP = b"C", b"R", b"W", b"B", b"Q", b"S"
STOP_GRACE_SECONDS = 15.0
READY_SECONDS = 60.0
RESTART_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)  # after a child died, by how often in a row
# A child runs at a lower CPU priority than the web process: on a machine short of CPU,
# acknowledging Meta and serving agents come first, processing takes what is left.
CHILD_NICE = 5
# A slice of the processor is one write transaction; deliveries are ingested in units (a
# slice ends between two), and a slice's events reach the handlers together (the flows'
# activations of a unit are one batch). Larger units cost less CPU per message: every
# unit and every handler's batch reads contacts, conversations, runs … once and pays
# ~20 statements whatever its size (in one process, ``bench.flows_cpu``: 1.28 ms per new
# customer of the guide's flow in units of 64, ~1.6 in units of 32, 2.1 in units of 16).
# With the journal's inbox the web process's appends no longer wait for the child's
# transactions, so units of 64, as in one process; what still waits for a slice is the
# web process's own writes (an agent's reply: a unit of 64 is ~60-80 ms of work).
# CHILD_BATCH_UNDER_ACKS is for a journal without the inbox (appends to the database
# file itself), while acknowledgements are flowing: short slices (units of 4, ~2 ms).
CHILD_BATCH = 64
CHILD_BATCH_UNDER_ACKS = 4
# With a backlog a slice may take three times its 8 ms (``ProcessorPolicy.behind_factor``):
# the web process's writes (an agent's reply) wait for at most ~25 ms of it.
CHILD_BEHIND_FACTOR = 3.0
# Between two slices the processor waits until no acknowledgement waits for its commit,
# for at most this long: under a flood of webhooks it then holds SQLite's lock for ~2 ms
# in 200 (the acknowledgements keep the writer), and works the backlog off in the lulls
# in units of 32; a stream with lulls between its deliveries is processed as it comes.
CHILD_ACK_WAIT_SECONDS = 0.2
# With the journal's inbox (SQLite) nothing makes the processor wait between slices, and a
# stream it keeps up with was taken a few rows a slice, each slice ~10 ms of CPU whatever
# it holds: at 150 deliveries/s 3-4 ms of the child's CPU per message. After a slice that
# found no more rows than it took, the next waits this long (a first row after a lull
# is taken at once): at 500/s ~25 rows a slice, at most 50 ms later.
CHILD_GATHER_SECONDS = 0.05


class Switchboard:
    """This process's end of the links: wakes a worker wherever it runs, relays events
    (``PipeFanOut``) and carries the journal's busy/quiet state to its processor."""

    def __init__(self, runtime: Runtime, layout: Layout, process: str) -> None:
        self.runtime = runtime
        self.layout = layout
        self.process = process
        self.here = layout.here(process)
        self.links: dict[str, Link] = {}  # process name -> link (a child: only "web")
        self.local_wakes: dict[str, object] = {}
        # The web process's journal: no delivery waiting for its commit (children only).
        self.acks_quiet = asyncio.Event()
        self.acks_quiet.set()
        self.stopping = asyncio.Event()

    @property
    def pipe(self) -> PipeFanOut | None:
        fanout = self.runtime.fanout
        return fanout if isinstance(fanout, PipeFanOut) else None

    def route_wakes(self) -> None:
        """Every worker's ``wake`` that runs in another process sends a frame there."""
        for worker, target in self.runtime.wakeable().items():
            self.local_wakes[worker] = target.wake
            if worker not in self.here:
                target.wake = _Wake(self, worker)

    def wake(self, worker: str) -> None:
        if worker in self.here:
            self.local_wakes[worker]()
            return
        place = self.layout.where(worker)
        if place is None:
            return  # not run anywhere (``serve --no-workers``)
        link = self.links.get(place if self.process == WEB else WEB)
        if link is not None:
            link.send(WAKE, worker.encode())

    def journal_busy(self, busy: bool) -> None:
        """The web process's journal: deliveries wait for their commit (or none does)."""
        place = self.layout.where("journal")
        link = self.links.get(place) if place else None
        if link is not None:
            link.send(BUSY if busy else QUIET)

    def attach(self, name: str, link: Link) -> None:
        self.links[name] = link
        if self.pipe is not None:
            self.pipe.attach(link)
        link.serve(self.on_frame)

    def detach(self, name: str, gap: str | None = None) -> None:
        link = self.links.pop(name, None)
        if link is not None and self.pipe is not None:
            self.pipe.detach(link, gap)

    async def on_frame(self, link: Link, kind: bytes, payload: bytes) -> None:
        if kind == EVENT:
            if self.pipe is not None:
                await self.pipe.receive(link, payload)
        elif kind == WAKE:
            self.wake(payload.decode())
        elif kind == BUSY:
            self.acks_quiet.clear()
        elif kind == QUIET:
            self.acks_quiet.set()
        elif kind == STOP:
            self.stopping.set()
        elif kind != READY:
            log.warning("unknown frame %r from %s", kind, link.name)


class _Wake:
    """A worker's ``wake`` when the worker runs in another process."""

    def __init__(self, switchboard: Switchboard, worker: str) -> None:
        self.switchboard = switchboard
        self.worker = worker

    def __call__(self) -> None:
        self.switchboard.wake(self.worker)


class Children:
    """The web process's children: started, linked, started again if one dies, stopped."""

    def __init__(self, switchboard: Switchboard) -> None:
        self.switchboard = switchboard
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.restarts: dict[str, int] = {}
        self._tasks: list[asyncio.Task] = []
        self._stopping = False

    async def start(self) -> None:
        """Start every child and wait until each says its workers run."""
        ready = []
        for name in self.switchboard.layout.children:
            first = asyncio.get_running_loop().create_future()
            ready.append(first)
            self._tasks.append(asyncio.create_task(self._keep(name, first), name=f"child-{name}"))
        await asyncio.wait_for(asyncio.gather(*ready), READY_SECONDS)

    def pid(self, name: str) -> int | None:
        proc = self.procs.get(name)
        return proc.pid if proc is not None and proc.returncode is None else None

    async def _keep(self, name: str, first: asyncio.Future) -> None:
        failures = 0
        while not self._stopping:
            try:
                code = await self._run_once(name, first)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not first.done():
                    first.set_exception(exc)
                    return
                log.exception("starting the %s process failed", name)
                code = None
            if self._stopping:
                return
            failures += 1
            self.restarts[name] = self.restarts.get(name, 0) + 1
            delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS)) - 1]
            log.error("the %s process exited (%s); starting it again in %.1f s", name, code, delay)
            await asyncio.sleep(delay)

    async def _run_once(self, name: str, first: asyncio.Future) -> int:
        runtime = self.switchboard.runtime
        ours, theirs = socket.socketpair()
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "madoguchi.processes",
                name,
                str(theirs.fileno()),
                str(os.getpid()),
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        self.procs[name] = proc
        link = Link(ours, name)
        await link.open()
        link.send(CONFIG, pickle.dumps((runtime.settings, self.switchboard.layout)))
        try:
            kind, _ = await asyncio.wait_for(_first_frame(link, proc), READY_SECONDS)
        except Exception:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            await link.close()
            raise RuntimeError(
                f"the {name} process did not start (exit code {proc.returncode})"
            ) from None
        self.switchboard.attach(name, link)
        if not self.switchboard.acks_quiet.is_set():
            link.send(BUSY)
        link.send(WAKE, b"journal")  # rows committed while it was away
        if not first.done():
            first.set_result(proc.pid)
        log.info("the %s process runs (pid %d)", name, proc.pid)
        try:
            return await proc.wait()
        finally:
            gap = None if self._stopping else f"the {name} process restarted"
            self.switchboard.detach(name, gap)
            await link.close()

    async def stop(self) -> None:
        self._stopping = True
        for name, proc in self.procs.items():
            if proc.returncode is None:
                link = self.switchboard.links.get(name)
                if link is not None:
                    link.send(STOP)
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        for name, proc in self.procs.items():
            try:
                await asyncio.wait_for(proc.wait(), STOP_GRACE_SECONDS)
            except TimeoutError:
                log.error("the %s process did not stop in %.0f s: killed", name, STOP_GRACE_SECONDS)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()


async def _first_frame(link: Link, proc) -> tuple[bytes, bytes]:
    kind, payload = await link.read_frame()
    if kind != READY:
        raise RuntimeError(f"expected ready, got {kind!r}")
    return kind, payload


# ---------------------------------------------------------------------------- the child


def _die_with_parent(parent_pid: int) -> None:
    """Linux: SIGTERM when the parent dies (the socket's end is the portable signal)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # it died before the line above
        sys.exit(0)


async def run_child(name: str, fd: int) -> None:
    from madoguchi.runtime import Runtime

    link = Link(socket.socket(fileno=fd), WEB)
    await link.open()
    kind, payload = await link.read_frame()
    if kind != CONFIG:
        raise RuntimeError(f"the web process sent {kind!r} first")
    settings, layout = pickle.loads(payload)  # noqa: S301 - our own parent, over a socketpair
    runtime = Runtime(settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    loop.add_signal_handler(signal.SIGUSR1, _log_tasks)  # what is it doing?
    await runtime.start(layout=layout, process=name, parent=link)
    freeze_startup_heap()
    link.send(READY)
    log.info("%s process running: %s", name, ", ".join(sorted(layout.here(name))))
    try:
        waits = [
            asyncio.ensure_future(stopping.wait()),
            asyncio.ensure_future(link.closed.wait()),
            asyncio.ensure_future(runtime.switchboard.stopping.wait()),
        ]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()
    finally:
        await runtime.stop()
        await link.close()


def _log_tasks() -> None:
    for task in asyncio.all_tasks():
        frames = task.get_stack(limit=8)
        where = " <- ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in reversed(frames))
        log.warning("task %s: %s", task.get_name(), where or "(not started)")


def child_policy(policy):
    """The journal processor in a child: it has a core of its own, so it never rests for
    the acknowledgements' sake (the policies for calm and for acknowledgements flowing)."""
    calm = dataclasses.replace(
        policy,
        yield_factor=0.0,
        slice_seconds=0.008,
        behind_factor=CHILD_BEHIND_FACTOR,
        batch=CHILD_BATCH,
        claim=CHILD_BATCH,
        ack_wait_seconds=CHILD_ACK_WAIT_SECONDS,
        gather_seconds=CHILD_GATHER_SECONDS,
    )
    under_acks = dataclasses.replace(
        calm,
        slice_seconds=0.002,
        behind_factor=1.0,
        batch=CHILD_BATCH_UNDER_ACKS,
        claim=CHILD_BATCH_UNDER_ACKS,
    )
    return calm, under_acks


def adapt_processor(processor, acks_quiet: asyncio.Event) -> None:
    """Each slice of ``processor`` under the policy for the moment: short while the web
    process has acknowledgements waiting (``acks_quiet`` clear)."""
    calm, under_acks = child_policy(processor.policy)
    processor.policy = calm
    processor.acknowledgements_done = acks_quiet.wait
    slice_once = processor.process_slice

    async def process_slice() -> int:
        processor.policy = calm if acks_quiet.is_set() else under_acks
        return await slice_once()

    processor.process_slice = process_slice


def main(argv: list[str]) -> None:
    name, fd, parent = argv[0], int(argv[1]), int(argv[2])
    _die_with_parent(parent)
    with contextlib.suppress(OSError):
        os.nice(CHILD_NICE)
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(levelname)s:     [{name}] %(name)s: %(message)s",
    )
    asyncio.run(run_child(name, fd))


if __name__ == "__main__":
    main(sys.argv[1:])
