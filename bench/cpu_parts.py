"""CPU time of the pipeline's parts, measured in place (``bench.flows_cpu --parts``).

cProfile's overhead is per Python call, so it inflates the ORM-heavy parts against the
ones that spend their time in SQLite. This counts the event loop thread's CPU time
(``time.thread_time``) per task: every callback the loop runs (a task's step) is timed
and charged to that task's context, so a part that waits (a lock, a sleep, the assist
worker's thread) is not charged with what other tasks did meanwhile. A wrapped coroutine
function (``measured``) is charged with its own task's CPU while it runs, minus the
wrapped parts nested in it (a handler inside the flows' publish is the handler's).
Needs the plain asyncio loop (``install`` patches ``asyncio.events.Handle._run``).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import time
from collections import defaultdict

_totals: dict[str, float] = defaultdict(float)
_calls: dict[str, int] = defaultdict(int)
_context_cpu: dict[int, float] = defaultdict(float)  # id(context) -> CPU of its finished steps
_step = {"context": 0, "start": 0.0}  # the step running now
_nested: contextvars.ContextVar[list | None] = contextvars.ContextVar("cpu_parts", default=None)


def install() -> None:
    """Time every callback of the (plain asyncio) event loop, by its context."""
    run = asyncio.events.Handle._run

    def timed(handle):
        key = id(handle._context)
        outer = dict(_step)
        _step["context"], _step["start"] = key, time.thread_time()
        try:
            return run(handle)
        finally:
            _context_cpu[key] += time.thread_time() - _step["start"]
            _step.update(outer)

    asyncio.events.Handle._run = timed


def _own_cpu() -> float:
    """CPU of the running task's context so far (its finished steps and this one)."""
    return _context_cpu[_step["context"]] + time.thread_time() - _step["start"]


def measured(name: str, fn):
    """``fn`` (a coroutine function), its task's CPU while it runs counted under ``name``."""

    @functools.wraps(fn)
    async def wrapper(*args, **kwargs):
        stack = _nested.get()
        if stack is None:
            stack = []
            _nested.set(stack)
        frame = [0.0]  # CPU of the wrapped parts nested in this call
        stack.append(frame)
        start = _own_cpu()
        try:
            return await fn(*args, **kwargs)
        finally:
            spent = _own_cpu() - start
            stack.pop()
            _totals[name] += spent - frame[0]
            _calls[name] += 1
            if stack:
                stack[-1][0] += spent

    return wrapper


def patch(obj, attr: str, name: str | None = None) -> None:
    setattr(obj, attr, measured(name or attr, getattr(obj, attr)))


def wrap_handlers(bus) -> None:
    """Every handler subscribed to ``bus`` (an ``InProcessBus``), by its qualified name."""
    for kind, handlers in bus._handlers.items():
        bus._handlers[kind] = [
            (measured(f"handler {getattr(h, '__qualname__', h)}", h), many) for h, many in handlers
        ]
    bus._catch_all = [
        measured(f"handler {getattr(h, '__qualname__', h)}", h) for h in bus._catch_all
    ]


def reset() -> None:
    _totals.clear()
    _calls.clear()


def report(per: int, unit: str, total: float) -> list[str]:
    """One line per part, largest first, and the rest of ``total`` (the loop thread's
    CPU of the phase: acknowledgements, the event loop, what is not wrapped)."""
    rest = total - sum(_totals.values())
    lines = []
    for name, spent in sorted(_totals.items(), key=lambda kv: -kv[1]):
        if spent * 1000 / per < 0.005:
            continue
        lines.append(
            f"    {spent * 1000 / per:6.3f} ms per {unit} ({spent / total:5.1%}) {name} "
            f"({_calls[name]:,} calls)"
        )
    lines.append(f"    {rest * 1000 / per:6.3f} ms per {unit} ({rest / total:5.1%}) the rest")
    return lines
