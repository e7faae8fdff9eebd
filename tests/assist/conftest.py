"""The assist tests' stack: the contact-center workspace (agents, a supervisor, queues)."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from madoguchi.runtime import Runtime
from madoguchi.services.access.tokens import create_token
from madoguchi.store.models import User
from madoguchi.web.app import create_app
from tests.conftest import ServedApp, Stack, make_settings, seed_workspace
from tests.contact_center.test_routing import CC, FILE, make_cc


@pytest.fixture
async def cc(db_url, tmp_path):
    c = await make_cc(db_url, tmp_path)
    yield c
    await c.stack.client.aclose()
    await c.stack.served.stop()


class FakeModel:
    """A stand-in for an OpenAI-compatible server, on 127.0.0.1: it records what it
    receives and answers as told (``mode``: ok, error, garbage, hang)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.mode = "ok"
        self.reply = "Customer: test\nWants: help"
        self.release = asyncio.Event()
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def completions(request: Request):
            self.requests.append({"json": await request.json(), "headers": dict(request.headers)})
            if self.mode == "hang":
                await self.release.wait()
            if self.mode == "error":
                return JSONResponse({"error": "overloaded"}, status_code=503)
            if self.mode == "garbage":
                return JSONResponse({"choices": []})
            return {"choices": [{"message": {"role": "assistant", "content": self.reply}}]}

        self.served = ServedApp(app)

    @property
    def url(self) -> str:
        return f"{self.served.url}/v1"

    def texts(self) -> str:
        return "\n".join(m["content"] for r in self.requests for m in r["json"]["messages"])


@pytest.fixture
async def fake_model():
    model = FakeModel()
    await model.served.start()
    yield model
    model.release.set()
    await model.served.stop()


async def make_cc_with(db_url, tmp_path, **settings) -> CC:
    """The contact-center stack of ``make_cc`` with settings of its own (the model's)."""
    base = make_settings(db_url, tmp_path).model_copy(update=settings)
    runtime = Runtime(base)
    token = await seed_workspace(runtime.db, FILE.replace("{method}", "longest_idle"))
    served = await ServedApp().start(create_app(base, runtime=runtime, workers=False))
    stack = Stack(runtime, served, token)
    tokens, users = {"admin": token}, {}
    async with runtime.db.write() as session:
        for user in await session.scalars(select(User)):
            who = user.email.split("@")[0]
            users[who] = user.id
            tokens[who] = await create_token(session, user.workspace_id, user.role, who, user.id)
    return CC(stack, tokens, users)
