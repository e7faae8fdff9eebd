"""PostgreSQL's pool pings a connection only after it waited idle (store.db): one that
died meanwhile (a restarted server, pg_terminate_backend) is replaced before anyone
sees it, and one in steady use is not pinged (three round trips per transaction)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from madoguchi.store.db import Database

pytestmark = pytest.mark.postgres


async def _backend(db: Database) -> int:
    async with db.read() as session:
        return await session.scalar(text("SELECT pg_backend_pid()"))


async def _terminate(url: str, pid: int) -> None:
    admin = Database(url)
    try:
        async with admin.write() as session:  # waits until the backend is gone
            assert await session.scalar(
                text("SELECT pg_terminate_backend(:pid, 30000)"), {"pid": pid}
            )
    finally:
        await admin.dispose()


async def test_a_pooled_connection_that_died_while_idle_is_replaced_unseen(postgres_database):
    db = Database(postgres_database, pool_size=1, ping_idle_seconds=0)
    try:
        dead = await _backend(db)
        await _terminate(postgres_database, dead)
        assert await _backend(db) != dead  # no error: pinged, found dead, replaced
    finally:
        await db.dispose()


async def test_a_connection_in_steady_use_is_not_pinged(postgres_database):
    # The control: within the idle time no ping, so the dead connection is used as is
    # (this is the error the ping spares whoever waited in the pool).
    db = Database(postgres_database, pool_size=1, ping_idle_seconds=3600)
    try:
        dead = await _backend(db)
        await _terminate(postgres_database, dead)
        with pytest.raises(DBAPIError):
            await _backend(db)
        assert await _backend(db) != dead  # the pool replaced it after the error
    finally:
        await db.dispose()
