"""``madoguchi worker``: the scaled mode's processing process (on PostgreSQL only)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from madoguchi.services.channel.webhook_journal import Journal
from madoguchi.store.db import Database
from madoguchi.store.models import Message
from tests.conftest import (
    APP_SECRET,
    SECRET_KEY,
    VERIFY_TOKEN,
    _truncate,
    fixture_payload,
    seed_workspace,
)
from tests.helpers import eventually


def test_worker_refuses_sqlite_where_one_serve_does_all_the_work(tmp_path):
    env = {
        **os.environ,
        "MADOGUCHI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "madoguchi.cli", "worker", "--dev"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "needs PostgreSQL" in done.stdout + done.stderr
    assert not (tmp_path / "cli.db").exists()  # nothing was started on the file


def start_worker(env: dict, cwd, log) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "madoguchi.cli", "worker", "--dev"],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.mark.postgres
async def test_worker_processes_the_journal_and_stops_on_sigterm(postgres_database, tmp_path):
    await _truncate(postgres_database)
    db = Database(postgres_database)
    await seed_workspace(db)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MADOGUCHI_")},
        "MADOGUCHI_DATABASE_URL": postgres_database,
        "MADOGUCHI_SECRET_KEY": SECRET_KEY,
        "MADOGUCHI_APP_SECRET": APP_SECRET,
        "MADOGUCHI_VERIFY_TOKEN": VERIFY_TOKEN,
        "MADOGUCHI_MEDIA_DIR": str(tmp_path / "media"),
        "MADOGUCHI_GRAPH_API_URL": "http://127.0.0.1:9",
    }
    log = tmp_path / "worker.log"
    worker = start_worker(env, tmp_path, log)
    try:
        journal = Journal(db)
        for i in range(3):
            payload = fixture_payload("message_text.json")
            payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = f"wamid.W{i}"
            await journal.append(json.dumps(payload).encode(), 1, "JP.70211330012345")

        async def processed() -> bool:
            assert worker.poll() is None, log.read_text()
            async with db.read() as session:
                return await session.scalar(select(func.count()).select_from(Message)) == 3

        await eventually(processed, within=120)
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 60) == 0, log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        await db.dispose()
