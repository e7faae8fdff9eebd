"""One asyncio lock per key, dropped once nobody holds or waits for it.

The sender serialises sends per recipient and the flow runner activations per
conversation; both meet an unbounded stream of keys (a campaign's 100,000
recipients), so a plain ``defaultdict(asyncio.Lock)`` would keep every key forever.
Each entry counts its holders and waiters and goes when the count is back to zero."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager


class KeyedLocks:
    def __init__(self) -> None:
        self._entries: dict[Hashable, list] = {}  # key -> [lock, holders and waiters]

    def __len__(self) -> int:
        return len(self._entries)

    def _enter(self, key: Hashable) -> asyncio.Lock:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = [asyncio.Lock(), 0]
        entry[1] += 1
        return entry[0]

    def _leave(self, key: Hashable) -> None:
        entry = self._entries[key]
        entry[1] -= 1
        if entry[1] == 0:
            del self._entries[key]

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        """The key's lock for the block, waiting for it if another holds it."""
        lock = self._enter(key)
        try:
            async with lock:
                yield
        finally:
            self._leave(key)

    async def try_hold(self, key: Hashable) -> bool:
        """Take the key's lock if it is free, without waiting; ``release`` gives it back."""
        entry = self._entries.get(key)
        if entry is not None and entry[0].locked():
            return False
        await self._enter(key).acquire()  # free (checked above): taken without waiting
        return True

    def release(self, key: Hashable) -> None:
        """Give back a lock taken with ``try_hold``."""
        self._entries[key][0].release()
        self._leave(key)
