"""The pure rules: routing methods, lifecycle steps, business hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from madoguchi.domain.business_hours import BusinessHours, BusinessHoursError
from madoguchi.domain.lifecycle import InvalidTransition, Status, Step, next_status
from madoguchi.domain.routing import Candidate, Method, choose, eligible

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def c(uid, load=0, idle_minutes=None, priority=0):
    last = None if idle_minutes is None else T0 - timedelta(minutes=idle_minutes)
    return Candidate(user_id=uid, priority=priority, load=load, last_assigned_at=last)


def test_longest_idle_prefers_the_oldest_assignment_and_never_assigned_first():
    assert (
        choose(
            [c(1, idle_minutes=5), c(2, idle_minutes=30), c(3, idle_minutes=10)],
            Method.LONGEST_IDLE,
        ).user_id
        == 2
    )
    assert choose([c(1, idle_minutes=5), c(2)], Method.LONGEST_IDLE).user_id == 2


def test_least_busy_prefers_the_lowest_load():
    assert choose([c(1, load=2), c(2, load=0), c(3, load=1)], Method.LEAST_BUSY).user_id == 2


def test_round_robin_continues_after_the_last_offered():
    pool = [c(1), c(2), c(3)]
    assert choose(pool, Method.ROUND_ROBIN, None).user_id == 1
    assert choose(pool, Method.ROUND_ROBIN, 1).user_id == 2
    assert choose(pool, Method.ROUND_ROBIN, 3).user_id == 1  # wraps around


def test_member_priority_wins_over_the_method():
    pool = [c(1, load=0, priority=1), c(2, load=2, priority=0)]
    assert choose(pool, Method.LEAST_BUSY).user_id == 2


def test_capacity_and_exclusions():
    pool = [c(1, load=3), c(2, load=1), c(3, load=0)]
    assert [x.user_id for x in eligible(pool, 3, {3})] == [2]
    assert choose(eligible(pool, 1, set()), Method.LONGEST_IDLE).user_id == 3
    assert choose([], Method.LONGEST_IDLE) is None


def test_lifecycle_allows_only_valid_steps():
    assert next_status("queued", Step.OFFER) == Status.OFFERED
    assert next_status("offered", Step.OFFER_TIMEOUT) == Status.QUEUED
    assert next_status("active", Step.TRANSFER) == Status.QUEUED
    with pytest.raises(InvalidTransition, match="a conversation that is queued cannot be accepted"):
        next_status("queued", Step.ACCEPT)
    with pytest.raises(InvalidTransition):
        next_status("closed", Step.CLOSE)
    with pytest.raises(InvalidTransition):
        next_status("active", Step.ABANDON)


WEEKDAYS = {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


@pytest.mark.parametrize(
    ("utc", "is_open"),
    [
        # Tokyo is UTC+9: 09:00 JST on Wednesday is 00:00 UTC
        (datetime(2026, 11, 25, 0, 0, tzinfo=UTC), True),
        (datetime(2026, 11, 24, 23, 59, 59, tzinfo=UTC), False),  # 08:59:59 JST
        (datetime(2026, 11, 25, 8, 59, 59, tzinfo=UTC), True),  # 17:59:59 JST
        (datetime(2026, 11, 25, 9, 0, tzinfo=UTC), False),  # 18:00 JST closes
        (datetime(2026, 11, 28, 3, 0, tzinfo=UTC), False),  # Saturday noon JST
        (datetime(2026, 11, 23, 3, 0, tzinfo=UTC), False),  # holiday (Labour Thanksgiving)
    ],
)
def test_business_hours_at_the_boundary_in_the_queue_time_zone(utc, is_open):
    hours = BusinessHours.parse("Asia/Tokyo", WEEKDAYS, ["2026-11-23"])
    assert hours.is_open(utc) is is_open


def test_business_hours_follow_daylight_saving():
    hours = BusinessHours.parse("America/New_York", WEEKDAYS, [])
    # 09:00 New York is 14:00 UTC in winter, 13:00 UTC in summer
    assert hours.is_open(datetime(2026, 12, 2, 14, 0, tzinfo=UTC))
    assert not hours.is_open(datetime(2026, 12, 2, 13, 30, tzinfo=UTC))
    assert hours.is_open(datetime(2026, 7, 1, 13, 0, tzinfo=UTC))


def test_no_schedule_is_always_open_and_errors_name_the_field():
    assert BusinessHours.parse("UTC", None, None).is_open(T0)
    with pytest.raises(BusinessHoursError, match="timezone"):
        BusinessHours.parse("Mars/Olympus", None, None)
    with pytest.raises(BusinessHoursError, match=r"hours.mon\[0\]"):
        BusinessHours.parse("UTC", {"mon": [["18:00", "09:00"]]}, None)
    with pytest.raises(BusinessHoursError, match="hours.funday"):
        BusinessHours.parse("UTC", {"funday": []}, None)
    with pytest.raises(BusinessHoursError, match=r"holidays\[0\]"):
        BusinessHours.parse("UTC", None, ["next tuesday"])
