"""Shared fixtures: real databases (SQLite and PostgreSQL), the real app and the simulator
served over real HTTP on 127.0.0.1.

Storage tests take the ``db_url`` fixture and run once per backend. PostgreSQL gets one
fresh database per test session (created from the server named by
``MADOGUCHI_TEST_POSTGRES_URL``), migrated once and truncated between tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import httpx
import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from madoguchi.runtime import Runtime
from madoguchi.security.secrets import SecretBox
from madoguchi.services.access.tokens import create_token
from madoguchi.services.access.users import use_cheapest_hashing_for_tests
from madoguchi.services.access.workspaces import get_or_create_workspace
from madoguchi.services.configuration.apply import apply_config
from madoguchi.settings import Settings
from madoguchi.simulator.app import create_app as create_simulator_app
from madoguchi.simulator.config import SimNumber, SimulatorConfig
from madoguchi.store.db import Database
from madoguchi.store.migrate import upgrade
from madoguchi.store.models import Base, WebhookDelivery
from madoguchi.web.app import create_app
from madoguchi.whatsapp.signature import sign

use_cheapest_hashing_for_tests()

POSTGRES_URL = os.environ.get(
    "MADOGUCHI_TEST_POSTGRES_URL", "postgresql+asyncpg://root@127.0.0.1:5432/test"
)
APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
SECRET_KEY = "test-secret-key"
FIXTURES = Path(__file__).parent / "fixtures" / "webhooks"

# The fixture files name these: the workspace file in `seeded` declares them.
WABA_ID = "201234567890123"
PHONE_NUMBER_ID = "301234567890123"
WA_TOKEN = "sim-token-demo"


def fixture_payload(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def signed_headers(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    return {"X-Hub-Signature-256": sign(body, secret), "Content-Type": "application/json"}


# ----------------------------------------------------------------------------- workers

# `make test` runs the suite on several pytest-xdist workers (`-n … --dist loadgroup`).
# Every test is independent of the others: its own SQLite file, its own PostgreSQL database
# per worker (``postgres_database``), servers on ports the kernel picks, Redis channels
# under a random prefix. The browser tests share a group: one worker runs them one after
# the other, so two Chromiums never fight over the two cores, while the other workers run
# the rest.
GROUPS = {"ui": "browser"}


def pytest_collection_modifyitems(config, items) -> None:
    root = Path(__file__).parent
    for item in items:
        try:
            top = Path(item.path).relative_to(root).parts[0]
        except ValueError:
            continue
        if top in GROUPS:
            item.add_marker(pytest.mark.xdist_group(GROUPS[top]))


# ----------------------------------------------------------------------------- databases


def run_in_thread(coro):
    """asyncio.run from a sync fixture that may be set up inside a running loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    run_in_thread(upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_database() -> AsyncIterator[str]:
    base = make_url(POSTGRES_URL)
    # Each pytest-xdist worker (gw0, gw1, …) runs its own session: its own database.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"madoguchi_test_{worker}_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(
            host=base.host, port=base.port or 5432, user=base.username, database=base.database
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        run_in_thread(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}")
    url = base.set(database=name).render_as_string(hide_password=False)
    run_in_thread(upgrade(url))
    yield url
    run_in_thread(admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


async def _truncate(url: str) -> None:
    engine = create_async_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request, tmp_path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "madoguchi.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_database")
        await _truncate(url)
        yield url


# ----------------------------------------------------------------------------- servers


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.set_inheritable(True)
    return sock


class ServedApp:
    """An ASGI app served by uvicorn in the test's own event loop, over real TCP."""

    def __init__(self, app=None) -> None:
        self.sock = free_socket()
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = app
        self.server: uvicorn.Server | None = None
        self.task: asyncio.Task | None = None

    async def start(self, app=None) -> ServedApp:
        self.app = app or self.app
        self.server = uvicorn.Server(
            # A connection still busy at stop gets 10 s, then is cut: a teardown must not
            # wait forever (a test hung in `served.stop()` on a loaded machine).
            uvicorn.Config(
                self.app,
                log_level="warning",
                access_log=False,
                lifespan="on",
                timeout_graceful_shutdown=10,
                # The clients drop an idle connection after 5 s (httpx's keep-alive
                # expiry), uvicorn after 5 s too: on a loaded machine a request sent as
                # the server closes it failed with ReadError. The server waits longer.
                timeout_keep_alive=120,
            )
        )
        self.task = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        while not self.server.started:
            if self.task.done():
                self.task.result()
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await self.task
        self.sock.close()


def make_settings(
    db_url: str, tmp_path: Path, graph_api_url: str = "http://127.0.0.1:9"
) -> Settings:
    return Settings(
        database_url=db_url,
        graph_api_url=graph_api_url,
        app_secret=APP_SECRET,
        verify_token=VERIFY_TOKEN,
        secret_key=SECRET_KEY,
        media_dir=tmp_path / "media",
        sender_backoff_scale=0.01,
        # The simulator's Meta app (its defaults), so Embedded Signup works against it.
        meta_app_id=SimulatorConfig().app_id,
        meta_config_id=SimulatorConfig().signup_config_id,
        # The tests' own HTTP servers listen on 127.0.0.1: allowed as an operator would
        # allow an internal API (tests/flows/test_http_guard.py checks the default).
        flow_http_allow=["127.0.0.1"],
        _env_file=None,
    )


WORKSPACE_FILE = f"""
workspace: {{slug: acme, name: ACME}}
whatsapp:
  accounts:
    - waba_id: "{WABA_ID}"
      name: ACME
      phone_numbers:
        - phone_number_id: "{PHONE_NUMBER_ID}"
          display_phone_number: "+1 555 0123"
          access_token: ${{WA_TOKEN}}
"""


async def seed_workspace(db: Database, text_: str = WORKSPACE_FILE, slug: str = "acme") -> str:
    """Apply a workspace file and return an admin API token for it."""
    await apply_config(db, SecretBox(SECRET_KEY), text_, env={"WA_TOKEN": WA_TOKEN})
    async with db.write() as session:
        workspace, _ = await get_or_create_workspace(session, slug)
        return await create_token(session, workspace.id, "admin", "tests")


# The tests' HTTP clients wait this long for an answer before failing. The test process
# serves the product and the simulator and drives the browser in one event loop; beside
# other CPU-heavy processes (load 10-16 on two cores) it was measured getting 0.1-0.9 s
# of CPU in loop stalls of 3-13 s, and a flow publish went unanswered for 30 s (the
# previous ceiling). Like ``tests.helpers.eventually``'s, the ceiling only decides when a
# wait counts as a failure: an answer ends it at once.
REQUEST_CEILING_SECONDS = 120


class Stack:
    """The running product for one test: runtime, HTTP server, a client, a token."""

    def __init__(self, runtime: Runtime, served: ServedApp, token: str) -> None:
        self.runtime = runtime
        self.served = served
        self.url = served.url
        self.token = token
        self.client = httpx.AsyncClient(base_url=served.url, timeout=REQUEST_CEILING_SECONDS)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def post_webhook(
        self, payload: dict | bytes, headers: dict | None = None
    ) -> httpx.Response:
        """POST a delivery; on 200, wait until the journal's processor has stored it."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        response = await self.client.post(
            "/webhooks/whatsapp", content=body, headers=headers or signed_headers(body)
        )
        if response.status_code == 200:
            async with asyncio.timeout(60):  # a deadline (tests.helpers.eventually)
                await self.runtime.processor.wait_idle()
        return response

    async def delivery(self, response: httpx.Response) -> WebhookDelivery:
        """The journal row of an acknowledged delivery (state, counts, error)."""
        async with self.runtime.db.read() as session:
            return await session.get(WebhookDelivery, response.json()["delivery_id"])

    async def api(self, method: str, path: str, **kwargs) -> httpx.Response:
        return await self.client.request(method, path, headers=self.auth, **kwargs)


async def start_stack(
    db_url: str,
    tmp_path: Path,
    *,
    graph_api_url: str = "http://127.0.0.1:9",
    workers: bool = False,
    workspace_file: str = WORKSPACE_FILE,
    served: ServedApp | None = None,
) -> Stack:
    settings = make_settings(db_url, tmp_path, graph_api_url)
    runtime = Runtime(settings)
    token = await seed_workspace(runtime.db, workspace_file)
    served = served or ServedApp()
    await served.start(create_app(settings, runtime=runtime, workers=workers))
    return Stack(runtime, served, token)


@pytest.fixture
async def stack(db_url, tmp_path) -> AsyncIterator[Stack]:
    """The product on either database, workers off (tests drive them), no Graph API."""
    s = await start_stack(db_url, tmp_path)
    yield s
    await s.client.aclose()
    await s.served.stop()


# ----------------------------------------------------------------------------- simulator

SIM_NUMBER = SimNumber(
    phone_number_id=PHONE_NUMBER_ID,
    display_phone_number="+1 555 0123",
    waba_id=WABA_ID,
    access_token=WA_TOKEN,
    verified_name="ACME",
)


class SimStack(Stack):
    def __init__(self, base: Stack, sim: ServedApp) -> None:
        super().__init__(base.runtime, base.served, base.token)
        self.client = base.client
        self.sim = sim
        self.sim_client = httpx.AsyncClient(base_url=sim.url, timeout=REQUEST_CEILING_SECONDS)


async def start_sim_stack(
    db_url: str,
    tmp_path: Path,
    *,
    workers: bool = True,
    numbers: list[SimNumber] | None = None,
    workspace_file: str = WORKSPACE_FILE,
    **sim_options,
) -> SimStack:
    """The product and the simulator, each knowing the other's real URL.

    The simulator hosts ``numbers`` (default: the one number the workspace file connects).
    """
    product, sim = ServedApp(), ServedApp()
    sim_config = SimulatorConfig(
        webhook_url=f"{product.url}/webhooks/whatsapp",
        app_secret=APP_SECRET,
        verify_token=VERIFY_TOKEN,
        public_url=sim.url,
        numbers=numbers or [SIM_NUMBER],
        status_delay_seconds=0.01,
        delivery_backoff_seconds=0.05,
        **sim_options,
    )
    await sim.start(create_simulator_app(sim_config))
    base = await start_stack(
        db_url,
        tmp_path,
        graph_api_url=sim.url,
        workers=workers,
        served=product,
        workspace_file=workspace_file,
    )
    return SimStack(base, sim)


@pytest.fixture
async def sim_stack(db_url, tmp_path) -> AsyncIterator[SimStack]:
    s = await start_sim_stack(db_url, tmp_path)
    yield s
    await s.client.aclose()
    await s.sim_client.aclose()
    await s.served.stop()
    await s.sim.stop()
