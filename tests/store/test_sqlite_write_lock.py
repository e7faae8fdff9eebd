"""SQLite mode: a write waits for another process's write lock without stalling the event
loop (calls run on the loop's thread, so SQLite's own busy wait would freeze it)."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from sqlalchemy import select

from madoguchi.services.access.workspaces import get_or_create_workspace
from madoguchi.store import db as db_module
from madoguchi.store.db import Database
from madoguchi.store.models import Workspace


@pytest.fixture
async def sqlite_db(sqlite_template, tmp_path):
    import shutil

    path = tmp_path / "lock.db"
    shutil.copy(sqlite_template, path)
    database = Database(f"sqlite+aiosqlite:///{path}")
    async with database.write() as session:  # the server's first connection turns on WAL
        await get_or_create_workspace(session, "first")
    yield database, path
    await database.dispose()


async def test_write_waits_for_another_writer_while_the_loop_keeps_running(sqlite_db):
    database, path = sqlite_db
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's writer holds the lock
    ticks = 0
    ten_ticks = asyncio.Event()

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1
            if ticks >= 10:
                ten_ticks.set()

    async def write():
        async with database.write() as session:
            await get_or_create_workspace(session, "waited")

    ticking = asyncio.create_task(ticker())
    writing = asyncio.create_task(write())
    await asyncio.wait_for(ten_ticks.wait(), 60)  # the loop serves other work …
    assert not writing.done()  # … while the write still waits for the lock
    other.execute("COMMIT")
    other.close()
    await asyncio.wait_for(writing, 30)
    ticking.cancel()
    async with database.read() as session:
        assert await session.scalar(select(Workspace.id).where(Workspace.slug == "waited"))


async def test_write_gives_up_with_the_reason_when_the_lock_never_comes(sqlite_db, monkeypatch):
    database, path = sqlite_db
    monkeypatch.setattr(db_module, "WRITE_LOCK_WAIT_SECONDS", 0.2)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(Exception, match="database is locked"):
            async with database.write() as session:
                await get_or_create_workspace(session, "never")
    finally:
        other.execute("ROLLBACK")
        other.close()
    async with database.write() as session:  # the connection is usable again
        await get_or_create_workspace(session, "later")
