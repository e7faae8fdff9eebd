"""Hold a page's read until the test lets it land: the answer is taken from the server when
the page asks, and handed over only on ``release()``. With it a test puts a slow answer
after things that happened meanwhile (a send, a note, a switch to another conversation),
the order a busy machine produces now and then, every time.
"""

from __future__ import annotations

import asyncio
import re

WAIT_SECONDS = 60  # when a wait counts as a failure; a condition met sooner ends it


class HeldRead:
    """The next GET whose URL matches ``pattern`` (a regex searched in the URL) is held;
    later ones pass until ``arm()`` is called again."""

    def __init__(self, page, pattern: str) -> None:
        self.page = page
        self.pattern = re.compile(pattern)
        self._armed = True
        self._taken = asyncio.Event()
        self._released = asyncio.Event()
        self._request = None

    async def install(self) -> HeldRead:
        await self.page.route(self.pattern, self._route)
        return self

    def arm(self) -> None:
        """Hold the next matching read (after the previous one was released)."""
        for event in (self._taken, self._released):
            event.clear()
        self._armed = True

    async def _route(self, route) -> None:
        if route.request.method != "GET" or not self._armed:
            await route.continue_()
            return
        self._armed = False
        answer = await route.fetch()  # the server's answer as of now
        self._request = route.request
        self._taken.set()
        await self._released.wait()
        await route.fulfill(response=answer)

    async def taken(self) -> None:
        """The page asked, and the server has answered (the page has not seen it yet)."""
        await asyncio.wait_for(self._taken.wait(), timeout=WAIT_SECONDS)

    async def release(self) -> None:
        """Hand the answer over and wait until the page's own callbacks have had it: the
        browser has read the whole answer, then a task and two animation frames later."""
        async with self.page.expect_event(
            "requestfinished", lambda r: r is self._request, timeout=WAIT_SECONDS * 1000
        ):
            self._released.set()
        await self.page.evaluate(
            "() => new Promise((r) => setTimeout(() =>"
            " requestAnimationFrame(() => requestAnimationFrame(r)), 0))"
        )
