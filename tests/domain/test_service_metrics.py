"""The figure definitions the wallboard and reports share (docs/metrics.md)."""

from __future__ import annotations

from datetime import UTC, datetime

from madoguchi.domain.service_metrics import Outcome, day_bounds, percentile, queue_period


def test_service_level_leaves_short_abandons_out():
    outcomes = [
        Outcome(True, 5),
        Outcome(True, 60),  # exactly the target: in target
        Outcome(True, 61),
        Outcome(False, 3),  # short abandon: counted, not in the service level
        Outcome(False, 45),
    ]
    period = queue_period(7, outcomes, service_level_seconds=60, short_abandon_seconds=10)
    assert (period.arrived, period.answered, period.abandoned) == (7, 3, 2)
    assert period.short_abandoned == 1
    assert period.answered_in_target == 2
    # 2 in target / (3 answered + 2 abandoned - 1 short) = 50 %
    assert period.service_level_percent == 50.0
    assert period.average_wait_seconds == 42.0
    assert period.p90_wait_seconds == 61


def test_nothing_answered_or_abandoned_has_no_service_level():
    period = queue_period(2, [Outcome(False, 1)], short_abandon_seconds=10)
    assert period.service_level_percent is None
    assert period.average_wait_seconds is None and period.p90_wait_seconds is None
    assert period.as_dict()["short_abandoned"] == 1


def test_unknown_waits_are_counted_but_not_measured():
    period = queue_period(1, [Outcome(True, None), Outcome(True, 10)])
    assert period.answered == 2 and period.average_wait_seconds == 10.0
    assert period.answered_in_target == 1


def test_p90_is_a_wait_that_happened():
    assert percentile(list(range(1, 11)), 0.9) == 9
    assert percentile([7.5], 0.9) == 7.5
    assert percentile([], 0.9) is None


def test_today_is_the_workspace_day():
    # 2026-12-03 16:30 UTC is already 12-04 in Tokyo (UTC+9): its day began 15:00 UTC.
    now = datetime(2026, 12, 3, 16, 30, tzinfo=UTC)
    start, day = day_bounds(now, "Asia/Tokyo")
    assert day.isoformat() == "2026-12-04"
    assert start == datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
    start, day = day_bounds(now, "America/New_York")
    assert day.isoformat() == "2026-12-03" and start == datetime(2026, 12, 3, 5, 0, tzinfo=UTC)
    # An unknown zone falls back to UTC rather than failing the wallboard.
    assert day_bounds(now, "Mars/Olympus")[0] == datetime(2026, 12, 3, tzinfo=UTC)
