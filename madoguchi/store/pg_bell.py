"""A wake-up between processes through PostgreSQL's LISTEN/NOTIFY (scaled mode).

Several processes share one PostgreSQL database and take the webhook journal's rows by
customer (``services.channel.journal_claim``). A row appended by one process wakes that
process's processor at once, but the others only looked again after their idle poll
(``ProcessorPolicy.sweep_seconds``, a second): a burst landing on one web process was
worked by it alone for up to a second, and a ``madoguchi worker`` (which appends
nothing) joined a burst only on its poll. A processor that found every pending customer
held by another process idled for that second too, even when the holder finished its
slice a few milliseconds later.

So the journal rings a bell in the transaction that appends rows, and a processor in the
transaction of a slice that left rows behind for others (``ring``: ``pg_notify``,
delivered at commit, when the rows are visible and the customers' locks released), and
every process listens (``Bell``: a connection of its own, ``LISTEN``) and wakes its
processor. Nothing depends on the bell for correctness: a missed ring (a connection
lost and opened again) costs at most the idle poll, which stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg
from sqlalchemy import text

from madoguchi.store.leader import asyncpg_dsn

log = logging.getLogger(__name__)

JOURNAL = "madoguchi_journal"  # rung when journal rows may be waiting for a processor

RING_JOURNAL = text(f"SELECT pg_notify('{JOURNAL}', '')")


class Bell:
    """Calls ``on_ring`` whenever some process rings ``channel`` (and once on every
    (re)connection, for rings that may have been missed while not listening)."""

    def __init__(
        self,
        database_url: str,
        channel: str,
        on_ring: Callable[[], None],
        *,
        check_seconds: float = 5.0,
        retry_seconds: float = 1.0,
    ) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self.channel = channel
        self.on_ring = on_ring
        self.check_seconds = check_seconds
        self.retry_seconds = retry_seconds
        self.listening = asyncio.Event()  # set while the LISTEN is in force

    def _heard(self, *_args) -> None:
        self.on_ring()

    async def run(self) -> None:
        """Forever: listen; on a lost connection, listen again after ``retry_seconds``."""
        while True:
            connection = None
            try:
                connection = await asyncpg.connect(self.dsn)
                await connection.add_listener(self.channel, self._heard)
                self.listening.set()
                self.on_ring()
                while True:  # a dead connection hears nothing: notice it
                    await asyncio.sleep(self.check_seconds)
                    await asyncio.wait_for(connection.fetchval("SELECT 1"), self.check_seconds)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("listening for %s failed; listening again", self.channel, exc_info=True)
            finally:
                self.listening.clear()
                if connection is not None:
                    with contextlib.suppress(Exception):
                        connection.terminate()
            await asyncio.sleep(self.retry_seconds)
