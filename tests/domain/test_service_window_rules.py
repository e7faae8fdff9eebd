"""The customer service window at its boundaries, and where an outbound reply routes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from madoguchi.domain.route_back import route_back_target
from madoguchi.domain.service_window import service_window

T0 = datetime(2026, 11, 20, 9, 0, 0, tzinfo=UTC)
US = timedelta(microseconds=1)


def test_never_written_means_closed():
    window = service_window(None)
    assert window.closes_at is None and not window.is_open(T0)
    assert window.remaining(T0) == timedelta(0)


def test_the_window_closes_at_exactly_24_hours():
    window = service_window(T0)
    assert window.closes_at == T0 + timedelta(hours=24)
    assert window.basis == "customer_message"
    assert window.is_open(T0 + timedelta(hours=24) - US)
    assert window.remaining(T0 + timedelta(hours=23)) == timedelta(hours=1)
    assert not window.is_open(T0 + timedelta(hours=24))  # exactly 24 h: closed
    assert window.remaining(T0 + timedelta(hours=24)) == timedelta(0)


def test_a_free_entry_point_keeps_it_open_72_hours():
    window = service_window(T0, free_entry_point_at=T0)
    assert window.closes_at == T0 + timedelta(hours=72)
    assert window.basis == "free_entry_point"
    assert window.is_open(T0 + timedelta(hours=30))
    assert window.is_open(T0 + timedelta(hours=72) - US)
    assert not window.is_open(T0 + timedelta(hours=72))
    # A later message whose 24 h reach past the 72 h wins.
    later = service_window(T0 + timedelta(hours=60), free_entry_point_at=T0)
    assert later.closes_at == T0 + timedelta(hours=84) and later.basis == "customer_message"


def test_meta_saying_131047_closes_it_until_the_customer_writes_again():
    closed = service_window(T0, closed_at=T0 + timedelta(hours=2))
    assert closed.basis == "closed_by_meta"
    assert not closed.is_open(T0 + timedelta(hours=3))
    assert closed.is_open(T0 + timedelta(hours=1))
    reopened = service_window(T0 + timedelta(hours=5), closed_at=T0 + timedelta(hours=2))
    assert reopened.basis == "customer_message" and reopened.is_open(T0 + timedelta(hours=6))
    # A refusal in the same second as the message still closes it (storage reopens the
    # window when a message arrives after the refusal).
    same_second = service_window(T0, closed_at=T0 + timedelta(milliseconds=400))
    assert same_second.basis == "closed_by_meta"
    # A close after our own window already ended changes nothing.
    late = service_window(T0, closed_at=T0 + timedelta(hours=30))
    assert late.closes_at == T0 + timedelta(hours=24)


@dataclass
class Conv:
    route_back_agent_id: int | None = None
    route_back_queue_id: int | None = None
    route_back_until: datetime | None = None


@pytest.mark.parametrize(
    ("conversation", "at", "expected"),
    [
        (Conv(7, None, T0), T0 - US, (7, None)),
        (Conv(7, 3, T0), T0 - timedelta(hours=1), (7, 3)),
        (Conv(None, 3, T0), T0 - US, (None, 3)),
        (Conv(7, 3, T0), T0, None),  # the deadline is exclusive
        (Conv(7, 3, None), T0, None),
        (Conv(None, None, T0), T0 - US, None),
    ],
)
def test_route_back_target(conversation, at, expected):
    assert route_back_target(conversation, at) == expected
