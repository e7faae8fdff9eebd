"""Keep Python's full garbage collections short in the long-running servers.

A full (generation 2) collection walks every tracked object. After start-up that is
mostly what never goes away: modules, the ORM's mappers, the web app's routes and
schemas. Measured on ``madoguchi serve`` under the ingest benchmark, each full
collection stopped the event loop for about 100 ms, the slowest webhook answers of all.
Moving what exists at start-up out of the collector's reach (``gc.freeze``) leaves
full collections to walk only what requests created since.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect once, then exempt every surviving object from later collections.

    Call once, after the application is built and before it serves.
    """
    gc.collect()
    gc.freeze()


def freeze_survivors_of_full_collections() -> None:
    """After every full collection, exempt what survived it from the next ones.

    For the WhatsApp simulator only. It plays Meta: its state (customers, every message
    and status it sent, its logs) only grows, so each full collection walks more objects
    and frees none of them. Measured under the campaign benchmark (a thousand sends a
    second): every ~2 s a full collection stopped the simulator's event loop for 45 ms
    at 80,000 objects, growing to 590 ms at 940,000 — a pause Meta never makes, which the
    product's sender saw as Meta answering half a second late. Freezing the survivors
    keeps each full collection to what was created since the last one.

    Not for the product's servers: what they hold does die (sessions, caches' entries),
    and a cycle frozen while alive would never be collected once it is garbage.
    """
    if _freeze_after_full_collection not in gc.callbacks:
        gc.callbacks.append(_freeze_after_full_collection)


def _freeze_after_full_collection(phase: str, info: dict) -> None:
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()
