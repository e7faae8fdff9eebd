"""The leadership (scaled mode): one process of many runs the single-instance workers,
and another takes over when it dies."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from madoguchi.store.leader import LOCK_NAMESPACE, Leadership, asyncpg_dsn

pytestmark = pytest.mark.postgres


async def test_one_process_leads_and_another_takes_over_when_it_dies(postgres_database):
    running: list[str] = []
    stopped: list[str] = []
    a_stopped = asyncio.Event()

    def work(name: str):
        async def lead() -> None:
            running.append(name)
            try:
                await asyncio.Event().wait()  # a worker runs until cancelled
            finally:
                stopped.append(name)
                if name == "A":
                    a_stopped.set()

        return lead

    # unique lock ids: other tests' runtimes use the default one
    first = Leadership(postgres_database, lock_id=9001, retry_seconds=0.05, check_seconds=0.1)
    second = Leadership(postgres_database, lock_id=9001, retry_seconds=0.05, check_seconds=0.1)
    a = asyncio.create_task(first.run(work("A")))
    await asyncio.wait_for(first.leading.wait(), 30)
    b = asyncio.create_task(second.run(work("B")))
    try:
        # B keeps asking (its connection is up and the lock is held by A)
        admin = await asyncpg.connect(asyncpg_dsn(postgres_database))
        try:

            async def waiters() -> int:
                return await admin.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND classid = $1 AND objid = 9001 AND granted",
                    LOCK_NAMESPACE,
                )

            assert await waiters() == 1
            assert running == ["A"] and not second.leading.is_set()

            # A's connection dies (as when its process is killed): B leads, A stops.
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                " AND classid = $1 AND objid = 9001 AND granted",
                LOCK_NAMESPACE,
            )
            await asyncio.wait_for(second.leading.wait(), 30)
            assert running == ["A", "B"]
            await asyncio.wait_for(a_stopped.wait(), 30)  # A noticed at its next check
            assert stopped == ["A"]
        finally:
            await admin.close()
    finally:
        for task in (a, b):
            task.cancel()
        await asyncio.gather(a, b, return_exceptions=True)


async def test_two_runtimes_run_the_single_instance_workers_in_one_of_them(
    postgres_database, tmp_path
):
    from madoguchi.runtime import Runtime
    from tests.conftest import _truncate, make_settings

    await _truncate(postgres_database)
    first = Runtime(make_settings(postgres_database, tmp_path / "a"))
    second = Runtime(make_settings(postgres_database, tmp_path / "b"))
    for runtime in (first, second):
        runtime.leadership.retry_seconds = 0.05
    await first.start()
    await asyncio.wait_for(first.leadership.leading.wait(), 30)
    await second.start()
    try:
        # the second process runs journal processing, timers and routing, not the sender
        assert not second.leadership.leading.is_set()
        await first.stop()  # the leader goes: the other takes over
        await asyncio.wait_for(second.leadership.leading.wait(), 30)
    finally:
        await second.stop()
