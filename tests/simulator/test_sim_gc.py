"""The simulator's full garbage collections stay short as its state grows: what survives
one is exempt from the next (``gc_tuning.freeze_survivors_of_full_collections``).

Run in a child interpreter: the callback changes the collector of the whole process."""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = """
import gc, json
from madoguchi.gc_tuning import freeze_survivors_of_full_collections
{setup}
before = gc.get_freeze_count()
state = [{{"wamid": str(i), "statuses": [{{"status": "sent"}}]}} for i in range(20_000)]
gc.collect()
after_full = gc.get_freeze_count()
garbage = []
garbage.append(garbage)  # a cycle created after the freeze is still collected
del garbage
print(json.dumps({{"frozen": after_full - before, "collected": gc.collect()}}))
"""


def run_child(setup: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD.format(setup=setup)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def test_survivors_of_a_full_collection_are_frozen_and_new_garbage_still_collected():
    result = run_child("freeze_survivors_of_full_collections()")
    assert result["frozen"] >= 40_000  # the state's dicts and lists
    assert result["collected"] >= 1


def test_without_it_nothing_is_frozen():
    assert run_child("")["frozen"] == 0
