"""Campaigns' part of a number's sending shrinks while the event loop is late."""

from __future__ import annotations

from madoguchi.services.channel.lag_pacer import FLOOR, LagPacer


def test_late_loop_halves_the_part_and_a_punctual_one_gives_it_back():
    pacer = LagPacer()
    assert pacer.part(180) == 180
    assert pacer.observe(0.25) == 0.5
    assert pacer.observe(0.25) == 0.25
    assert pacer.part(180) == 45
    assert pacer.observe(0.05) == 0.25  # between late and on time: held
    for _ in range(8):
        pacer.observe(0.0)
    assert pacer.fraction == 1.0
    assert pacer.part(180) == 180


def test_the_part_never_reaches_zero():
    pacer = LagPacer()
    for _ in range(20):
        pacer.observe(1.0)
    assert pacer.fraction == FLOOR
    assert pacer.part(3) == 1
