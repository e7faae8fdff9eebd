"""A pair's pace alone: no more than each limit's sends end within its period before the
next may start, and pairs idle for the longest period are forgotten (a campaign's
recipients must not pile up, nor make each new one slower)."""

from __future__ import annotations

from madoguchi.services.channel.pair_windows import PAIR_RATE, PairWindows


def test_a_new_pair_waits_for_nothing():
    assert PairWindows().wait_seconds((1, "81800000001"), 100.0) == 0.0


def test_the_burst_limit_holds_the_next_send_until_the_oldest_end_leaves_its_period():
    pairs = PairWindows(((3, 6.0), (5, 60.0)))
    for at in (10.0, 11.0, 12.0):
        assert pairs.wait_seconds("p", at) == 0.0
        pairs.ended("p", at)
    assert pairs.wait_seconds("p", 13.0) == 3.0  # 10.0 + 6 s - 13.0
    assert pairs.wait_seconds("p", 16.0) == 0.0  # the end at 10.0 is out of the 6 s
    assert pairs.wait_seconds("other", 13.0) == 0.0


def test_the_sustained_limit_holds_once_it_is_reached():
    pairs = PairWindows(((3, 6.0), (5, 60.0)))
    for at in (0.0, 7.0, 14.0, 21.0, 28.0):  # never 3 within 6 s
        assert pairs.wait_seconds("p", at) == 0.0
        pairs.ended("p", at)
    assert pairs.wait_seconds("p", 35.0) == 25.0  # the end at 0.0 leaves the 60 s at 60.0
    assert pairs.wait_seconds("p", 60.0) == 0.0


def test_meta_pair_rate_is_the_default():
    pairs = PairWindows()
    for k in range(45):
        pairs.ended("p", 100.0 + k * 0.01)
    assert pairs.wait_seconds("p", 100.5) > 5.0
    assert PairWindows().rates == PAIR_RATE


def test_pairs_idle_for_the_longest_period_are_forgotten_and_busy_ones_kept():
    pairs = PairWindows(((3, 6.0), (5, 60.0)))
    for k in range(20_000):  # a campaign: each recipient once, 100 a second
        pairs.ended(("number", k), k / 100)
    # only the last 60 s of recipients are remembered: 6,000, not 20,000
    assert 5_900 <= len(pairs) <= 6_001
    pairs.ended("again", 199.0)
    pairs.ended("again", 199.5)
    pairs.ended("again", 199.9)
    assert pairs.wait_seconds("again", 200.0) > 0  # still counted


def test_only_the_sends_a_limit_can_count_are_kept():
    pairs = PairWindows(((3, 6.0), (5, 60.0)))
    for k in range(50):
        assert pairs.wait_seconds("p", k * 13.0) == 0.0  # one every 13 s: never held
        pairs.ended("p", k * 13.0)
    assert len(pairs._ended["p"]) == 5
