"""One thread for the language work (tokenising, scoring), off the event loop.

SudachiPy and the scorers are CPU work of a few milliseconds per message; on the event
loop they would delay webhooks and websockets. One thread is enough for a contact
center's message rate and keeps the analysers' per-thread state in one place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="assist-nlp")


async def run(fn: Callable[..., T], *args) -> T:
    return await asyncio.get_running_loop().run_in_executor(_executor, fn, *args)
