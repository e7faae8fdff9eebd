"""Scaled mode as deployed: two real ``madoguchi serve`` processes on one PostgreSQL
database. With Redis, an admin connected to process 1 sees a customer's message that
arrived at process 2; without Redis it does not (so the test measures the fan-out)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import connect

from madoguchi.store.db import Database
from tests.conftest import (
    APP_SECRET,
    SECRET_KEY,
    VERIFY_TOKEN,
    _truncate,
    fixture_payload,
    free_socket,
    seed_workspace,
    signed_headers,
)
from tests.web.test_realtime import Live, ws_url

pytestmark = pytest.mark.postgres

REDIS_URL = os.environ.get("MADOGUCHI_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
STARTUP_SECONDS = 120  # a deadline, not a wait: the machine may be busy


async def _redis_reachable() -> bool:
    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()
        return True
    except (OSError, aioredis.ConnectionError):
        return False
    finally:
        await client.aclose()


def scaled_env(postgres_database: str, tmp_path: Path, *, redis: bool) -> dict[str, str]:
    """The environment of a ``madoguchi serve`` process of the scaled mode in a test: the
    shared database, the test secrets, no Graph API, and Redis on a channel of its own."""
    env = {
        **os.environ,
        "MADOGUCHI_DATABASE_URL": postgres_database,
        "MADOGUCHI_APP_SECRET": APP_SECRET,
        "MADOGUCHI_VERIFY_TOKEN": VERIFY_TOKEN,
        "MADOGUCHI_SECRET_KEY": SECRET_KEY,
        "MADOGUCHI_GRAPH_API_URL": "http://127.0.0.1:9",
        "MADOGUCHI_MEDIA_DIR": str(tmp_path / "media"),
    }
    env.pop("MADOGUCHI_REDIS_URL", None)
    if redis:
        env["MADOGUCHI_REDIS_URL"] = REDIS_URL
        env["MADOGUCHI_REDIS_CHANNEL"] = f"test-{uuid.uuid4().hex[:10]}"
    return env


class AppProcess:
    """``python -m madoguchi.cli serve`` on a free port, with its log kept for failures."""

    def __init__(self, env: dict[str, str], cwd: Path, name: str, workers: bool = False) -> None:
        sock = free_socket()
        self.port = sock.getsockname()[1]
        sock.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / f"{name}.log"
        self._log_file = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "madoguchi.cli", "serve", "--dev"]
            + ([] if workers else ["--no-workers"])
            + ["--port", str(self.port)],
            env=env,
            cwd=cwd,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    async def wait_ready(self) -> None:
        async with httpx.AsyncClient(timeout=2) as client, asyncio.timeout(STARTUP_SECONDS):
            while True:
                if self.proc.poll() is not None:
                    raise AssertionError(f"server exited:\n{self.log.read_text()}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log_file.close()


@pytest.mark.parametrize("with_redis", [True, False], ids=["redis", "no-redis"])
async def test_an_admin_on_one_process_sees_a_message_arriving_at_another(
    postgres_database, tmp_path, with_redis
):
    if with_redis and not await _redis_reachable():
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    await _truncate(postgres_database)
    db = Database(postgres_database)
    try:
        token = await seed_workspace(db)
    finally:
        await db.dispose()

    env = scaled_env(postgres_database, tmp_path, redis=with_redis)
    one = AppProcess(env, tmp_path, "one")
    two = AppProcess(env, tmp_path, "two")
    try:
        await asyncio.gather(one.wait_ready(), two.wait_ready())
        async with (
            connect(ws_url(one.url, token)) as ws_one,
            connect(ws_url(two.url, token)) as ws_two,
        ):
            on_one, on_two = Live(ws_one), Live(ws_two)
            hello_one, hello_two = await on_one.next(), await on_two.next()
            assert hello_one["instance"] != hello_two["instance"]  # really two processes

            body = json.dumps(fixture_payload("message_text.json")).encode()
            async with httpx.AsyncClient(base_url=two.url, timeout=30) as client:
                response = await client.post(
                    "/webhooks/whatsapp", content=body, headers=signed_headers(body)
                )
            assert response.status_code == 200, response.text
            # Every process processes the journal (journal_claim), so the event is
            # published by whichever claimed the row, not necessarily the one that
            # received the webhook: woken by its own commit, the other by the journal's
            # NOTIFY, on a busy machine either may claim first.
            seen = {
                asyncio.ensure_future(live.until("message.received")): live
                for live in (on_one, on_two)
            }
            if with_redis:
                # Both sockets get the same event: one locally, the other through Redis.
                one_frame, two_frame = await asyncio.gather(*seen)
                assert {k: v for k, v in one_frame.items() if k != "seq"} == {
                    k: v for k, v in two_frame.items() if k != "seq"
                }
            else:
                # One socket gets it (its process published it); the other never does.
                done, _ = await asyncio.wait(seen, return_when=asyncio.FIRST_COMPLETED)
                assert len(done) == 1, "without Redis only one process publishes it"
                [other] = [live for task, live in seen.items() if task not in done]
                for task in seen:
                    task.cancel()  # cancelling a websocket's recv loses no frame
                await asyncio.gather(*seen, return_exceptions=True)
                await other.nothing_within(1.5)
    finally:
        one.stop()
        two.stop()


async def test_revoking_a_token_on_one_process_closes_its_socket_on_another(
    postgres_database, tmp_path
):
    """Credentials withdrawn through one process close the sockets held by every other
    (the CredentialsChanged event crosses Redis like any other)."""
    if not await _redis_reachable():
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    from websockets.exceptions import ConnectionClosed

    from tests.access.people import add_token, add_user

    await _truncate(postgres_database)
    db = Database(postgres_database)
    try:
        admin_token = await seed_workspace(db)
        user = await add_user(db, "ann@acme.test", "agent")
        token_id, agent_token = await add_token(db, "agent", user_id=user)
    finally:
        await db.dispose()
    env = scaled_env(postgres_database, tmp_path, redis=True)
    one = AppProcess(env, tmp_path, "one")
    two = AppProcess(env, tmp_path, "two")
    try:
        await asyncio.gather(one.wait_ready(), two.wait_ready())
        async with connect(ws_url(one.url, agent_token)) as ws:
            assert (await Live(ws).next())["event"] == "hello"
            async with httpx.AsyncClient(base_url=two.url, timeout=30) as client:
                response = await client.delete(
                    f"/api/v1/tokens/{token_id}",
                    headers={"Authorization": f"Bearer {admin_token}"},
                )
            assert response.status_code == 204
            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(10):
                    while True:
                        await ws.recv()
            assert closed.value.rcvd.code == 4401
    finally:
        one.stop()
        two.stop()
