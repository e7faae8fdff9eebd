"""Small, dependency-free statistics for benchmark figures."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of ``values``; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50 / p90 / p99 / max of latencies given in seconds, returned in milliseconds."""
    return {
        "p50_ms": percentile(seconds, 50) * 1000,
        "p90_ms": percentile(seconds, 90) * 1000,
        "p99_ms": percentile(seconds, 99) * 1000,
        "max_ms": (max(seconds) * 1000) if seconds else math.nan,
        "n": len(seconds),
    }


def max_in_window(times: Sequence[float], width: float = 1.0) -> int:
    """The largest number of ``times`` inside any half-open window [t, t + width)."""
    ordered = sorted(times)
    best = 0
    start = 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= width:
            start += 1
        best = max(best, end - start + 1)
    return best


def steady_rate(times: Sequence[float]) -> tuple[float, float]:
    """Sends per second over the longest whole-second span starting at the first send.

    A limiter that allows L per second lets at most k * L sends into any k-second span,
    so this figure can exceed L only if the limiter does; ``(n - 1) / (last - first)``
    could not say that (the first window's burst makes it read slightly above L). Runs
    shorter than a second fall back to ``(n - 1) / (last - first)``.
    Returns (rate, span in seconds).
    """
    if len(times) < 2:
        return math.nan, 0.0
    ordered = sorted(times)
    duration = ordered[-1] - ordered[0]
    span = math.floor(duration)
    if span < 1:
        return ((len(ordered) - 1) / duration if duration > 0 else math.nan), duration
    end = ordered[0] + span
    return sum(1 for t in ordered if t < end) / span, float(span)


def fmt_ms(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if value >= 10_000:
        return f"{value / 1000:.1f} s"
    if value >= 100:
        return f"{value:.0f} ms"
    return f"{value:.1f} ms"


def fmt_rate(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"
