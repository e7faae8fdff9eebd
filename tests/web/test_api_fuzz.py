"""Property-based requests across the whole OpenAPI surface (schemathesis): generated
from the app's own schema, valid and invalid, with an admin's and an agent's token. No
answer may be a server error; 502/503/504 are allowed (Meta's Graph API is not running
here, and saying so is the right answer).

Bounded: a few examples per operation and credential, no shrinking, so it fits the suite.
The server runs in a thread of its own (schemathesis calls it synchronously).
"""

from __future__ import annotations

import asyncio
import shutil
import threading

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from madoguchi.runtime import Runtime
from madoguchi.web.app import create_app
from tests.access.people import add_token, add_user
from tests.conftest import free_socket, make_settings, run_in_thread, seed_workspace

EXAMPLES = 4
UPSTREAM_DOWN = {502, 503, 504}
# Routes that would end the credential the rest of the run needs.
SKIP = {("DELETE", "/api/v1/tokens/{token_id}"), ("POST", "/api/v1/auth/logout")}


class ThreadServer:
    def __init__(self, app) -> None:
        self.sock = free_socket()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        )
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True
        )

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        for _ in range(3000):
            if self.server.started:
                return self
            self.thread.join(0.01)
        raise RuntimeError("the server did not start")

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()


async def _people(settings) -> dict[str, str]:
    runtime = Runtime(settings)
    try:
        admin_token = await seed_workspace(runtime.db)
        agent = await add_user(runtime.db, "fuzz-agent@acme.test", "agent")
        _, agent_token = await add_token(runtime.db, "agent", user_id=agent)
    finally:
        await runtime.db.dispose()
    return {"admin": admin_token, "agent": agent_token}


def fuzz(operation, base_url: str, headers: dict, failures: list[str]) -> None:
    """A few valid and invalid requests of one operation; 5xx answers go in failures."""
    strategy = st.one_of(
        operation.as_strategy(),
        operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def check(case) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        status = response.status_code
        if status >= 500 and status not in UPSTREAM_DOWN:
            failures.append(
                f"{operation.label} -> {status}: {response.text[:300]}\n"
                f"   {case.as_curl_command(headers=headers)[:600]}"
            )

    check()


@pytest.mark.parametrize("role", ["admin", "agent"])
def test_no_generated_request_gets_a_server_error(tmp_path, sqlite_template, role):
    db = tmp_path / "fuzz.db"
    shutil.copy(sqlite_template, db)
    app_settings = make_settings(f"sqlite+aiosqlite:///{db}", tmp_path)
    tokens = run_in_thread(_people(app_settings))
    headers = {"Authorization": f"Bearer {tokens[role]}"}
    failures: list[str] = []
    with ThreadServer(create_app(app_settings, workers=False)) as served:
        schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) > 40, "the schema lists too few operations"
        for operation in operations:
            if (operation.method.upper(), operation.path) in SKIP:
                continue
            fuzz(operation, served.url, headers, failures)
    assert not failures, "\n".join(failures[:20])
