"""One process of many runs the workers that must not run twice (scaled mode).

Several Madoguchi processes share one PostgreSQL database. Most of the background work
is claimed row by row and is safe in every process (journal rows by customer, timers,
routing offers, flow activations: ``FOR UPDATE SKIP LOCKED`` or row locks). A few
workers are not: the sender keeps each number's and each recipient's send windows in
memory (two senders would each allow a number its full rate), the campaign worker counts
the messaging limit, and the media, assist, billing and health workers pick their work
without claiming it. Those run in the one process that holds the *leadership*: a
session-level advisory lock held on a connection of its own (``pg_try_advisory_lock``).
When that process dies, PostgreSQL drops its connection and with it the lock, and
another process takes over within ``retry_seconds``; a leader that loses its connection
stops those workers before anyone else may start them (it checks every
``check_seconds``, so the overlap after a network split is at most about that long).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

# The leadership's advisory lock (two-int form), in a namespace of its own ("ME"; the
# journal's customer keys use "MD").
LOCK_NAMESPACE = 0x4D45
LOCK_ID = 1


def asyncpg_dsn(database_url: str) -> str:
    """The SQLAlchemy URL (``postgresql+asyncpg://…``) as a DSN asyncpg connects with."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


class Leadership:
    """Runs ``lead`` while this process holds the leadership, and only then."""

    def __init__(
        self,
        database_url: str,
        *,
        lock_id: int = LOCK_ID,
        retry_seconds: float = 1.0,
        check_seconds: float = 2.0,
    ) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self.lock_id = lock_id
        self.retry_seconds = retry_seconds
        self.check_seconds = check_seconds
        self.leading = asyncio.Event()  # set while ``lead`` runs

    async def run(self, lead: Callable[[], Awaitable[None]]) -> None:
        """Forever: wait for the lock, run ``lead`` until the lock is lost (or ``lead``
        ends), then wait again."""
        while True:
            connection = None
            try:
                connection = await asyncpg.connect(self.dsn)
                while True:  # another process leads: ask again now and then
                    if await connection.fetchval(
                        "SELECT pg_try_advisory_lock($1, $2)", LOCK_NAMESPACE, self.lock_id
                    ):
                        break
                    await asyncio.sleep(self.retry_seconds)
                log.info("this process leads the single-instance workers")
                await self._lead_while_held(connection, lead)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("leadership lost; trying again")
            finally:
                self.leading.clear()
                if connection is not None:
                    connection.terminate()  # the lock goes with the connection
            await asyncio.sleep(self.retry_seconds)

    async def _lead_while_held(self, connection, lead: Callable[[], Awaitable[None]]) -> None:
        task = asyncio.ensure_future(lead())
        self.leading.set()
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.check_seconds)
                if done:
                    task.result()
                    return
                # Still holding it? (a dead connection means another process may lead)
                await asyncio.wait_for(connection.fetchval("SELECT 1"), self.check_seconds)
        finally:
            self.leading.clear()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
