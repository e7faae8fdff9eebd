"""Real HTTP: the simulator and a tiny webhook receiver, each under uvicorn on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from madoguchi.simulator import signing
from madoguchi.simulator.app import create_app
from madoguchi.simulator.config import SeedTemplate, SimNumber, SimulatorConfig

APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
GRAPH = "v26.0"
NUMBER = SimNumber(
    phone_number_id="100000000000001",
    display_phone_number="+1 555 0100",
    waba_id="200000000000001",
    access_token="sim-token-demo",
    verified_name="Madoguchi Demo",
)
SLOW_NUMBER = SimNumber(
    phone_number_id="100000000000002",
    display_phone_number="+1 555 0101",
    waba_id="200000000000001",
    access_token="sim-token-slow",
    verified_name="Madoguchi Slow Lane",
    rate_per_second=3,
)
OTHER_WABA_NUMBER = SimNumber(
    phone_number_id="100000000000003",
    display_phone_number="+44 20 7946 0000",
    waba_id="200000000000002",
    access_token="sim-token-other",
    verified_name="Another Business",
)
TEMPLATES = [
    SeedTemplate(
        name="order_ready",
        language="en_US",
        category="UTILITY",
        components=[
            {
                "type": "HEADER",
                "format": "TEXT",
                "text": "Order {{1}}",
                "example": {"header_text": ["A-1"]},
            },
            {
                "type": "BODY",
                "text": "Hi {{1}}, your order {{2}} is ready.",
                "example": {"body_text": [["Taro", "A-1"]]},
            },
            {"type": "FOOTER", "text": "Madoguchi Demo"},
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "QUICK_REPLY", "text": "Track it"},
                    {"type": "QUICK_REPLY", "text": "Stop updates"},
                    {
                        "type": "URL",
                        "text": "Open",
                        "url": "https://example.com/o/{{1}}",
                        "example": ["https://example.com/o/A-1"],
                    },
                ],
            },
        ],
    ),
    SeedTemplate(
        name="spring_sale",
        language="ja",
        category="MARKETING",
        components=[{"type": "BODY", "text": "春のセール開催中!"}],
    ),
    SeedTemplate(
        name="login_code",
        language="en_US",
        category="AUTHENTICATION",
        components=[
            {"type": "BODY", "add_security_recommendation": True},
            {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]},
        ],
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerThread:
    """uvicorn serving `app` in a background thread."""

    def __init__(self, app: Any, port: int) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", loop="asyncio", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{port}"

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@dataclass
class Received:
    body: dict
    raw: bytes
    signature: str | None
    signature_ok: bool
    answered: int


@dataclass
class Receiver:
    """The project's stand-in: checks signatures, records deliveries, answers as told."""

    secret: str
    deliveries: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # next status codes; then 200

    def clear(self) -> None:
        self.deliveries.clear()
        self.answers.clear()

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/webhooks/whatsapp")
        async def webhook(request: Request) -> Response:
            raw = await request.body()
            header = request.headers.get(signing.HEADER)
            ok = signing.verify(raw, self.secret, header)
            code = self.answers.pop(0) if self.answers else (200 if ok else 401)
            self.deliveries.append(Received(json.loads(raw), raw, header, ok, code))
            return Response(status_code=code)

        @app.get("/webhooks/whatsapp")
        async def verify(request: Request) -> Response:
            params = request.query_params
            if (
                params.get("hub.mode") == "subscribe"
                and params.get("hub.verify_token") == VERIFY_TOKEN
            ):
                return PlainTextResponse(params.get("hub.challenge", ""))
            return Response(status_code=403)

        return app

    # ------------------------------------------------------------- views

    def values(self, field_name: str = "messages") -> list[dict]:
        return [
            change["value"]
            for d in self.deliveries
            for entry in d.body["entry"]
            for change in entry["changes"]
            if change["field"] == field_name
        ]

    def messages(self) -> list[dict]:
        return [m for v in self.values() for m in v.get("messages", [])]

    def statuses(self, wamid: str | None = None) -> list[dict]:
        found = [s for v in self.values() for s in v.get("statuses", [])]
        return [s for s in found if wamid is None or s["id"] == wamid]

    def status_names(self, wamid: str) -> list[str]:
        return [s["status"] for s in self.statuses(wamid)]

    def delivery_of(self, wamid: str) -> Received:
        for d in self.deliveries:
            for entry in d.body["entry"]:
                for change in entry["changes"]:
                    for m in change["value"].get("messages", []):
                        if m["id"] == wamid:
                            return d
        raise AssertionError(f"no delivery carries {wamid}")


async def wait_for(check: Callable[[], Any], within: float = 5.0) -> Any:
    """Poll `check` until it returns something truthy."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.fixture(scope="session")
def receiver() -> Any:
    rec = Receiver(APP_SECRET)
    server = ServerThread(rec.app(), free_port()).start()
    rec.url = f"{server.url}/webhooks/whatsapp"  # type: ignore[attr-defined]
    yield rec
    server.stop()


@pytest.fixture(scope="session")
def sim_config(receiver: Receiver) -> SimulatorConfig:
    port = free_port()
    return SimulatorConfig(
        webhook_url=receiver.url,  # type: ignore[attr-defined]
        app_secret=APP_SECRET,
        verify_token=VERIFY_TOKEN,
        public_url=f"http://127.0.0.1:{port}",
        numbers=[NUMBER, SLOW_NUMBER, OTHER_WABA_NUMBER],
        templates=TEMPLATES,
        status_delay_seconds=0.01,
        auto_approve_templates_after=0.2,
        delivery_backoff_seconds=0.05,
        delivery_max_attempts=4,
        delivery_timeout_seconds=3,
    )


@pytest.fixture(scope="session")
def sim_url(sim_config: SimulatorConfig) -> Any:
    port = int(sim_config.public_url.rsplit(":", 1)[1])
    server = ServerThread(create_app(sim_config), port).start()
    yield server.url
    server.stop()


class Driver:
    """What a test needs: the simulator over HTTP, the receiver, and the test numbers."""

    number = NUMBER
    slow = SLOW_NUMBER
    other = OTHER_WABA_NUMBER
    graph = GRAPH
    secret = APP_SECRET
    wait_for = staticmethod(wait_for)

    def __init__(self, http: httpx.AsyncClient, receiver: Receiver, config: SimulatorConfig):
        self.http = http
        self.receiver = receiver
        self.config = config

    @staticmethod
    def auth(number: SimNumber = NUMBER) -> dict:
        return {"Authorization": f"Bearer {number.access_token}"}

    async def new_customer(self, **fields: Any) -> dict:
        response = await self.http.post(
            "/_sim/customers", json=fields or {"wa_id": "81901234567", "name": "Taro Yamada"}
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def says(self, customer: dict, spec: dict) -> dict:
        """The customer writes; returns the control API's answer."""
        response = await self.http.post(
            f"/_sim/customers/{customer['user_id']}/messages", json=spec
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def send(self, body: dict, number: SimNumber = NUMBER) -> httpx.Response:
        """The business calls `POST /{phone_number_id}/messages`."""
        body = {"messaging_product": "whatsapp", **body}
        return await self.http.post(
            f"/{GRAPH}/{number.phone_number_id}/messages", json=body, headers=self.auth(number)
        )

    async def send_ok(self, body: dict, number: SimNumber = NUMBER) -> str:
        response = await self.send(body, number)
        assert response.status_code == 200, response.text
        return response.json()["messages"][0]["id"]

    async def statuses_reach(self, wamid: str, *names: str) -> list[str]:
        """Wait until the receiver has seen each status in `names` for `wamid`."""
        return await wait_for(
            lambda: (
                (got := self.receiver.status_names(wamid)) and all(n in got for n in names) and got
            )
        )

    async def thread(self, customer: dict, **params: Any) -> dict:
        response = await self.http.get(
            f"/_sim/customers/{customer['user_id']}/thread", params=params
        )
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
async def sim(sim_url: str, receiver: Receiver, sim_config: SimulatorConfig) -> Any:
    async with httpx.AsyncClient(base_url=sim_url, timeout=10) as http:
        (await http.post("/_sim/reset")).raise_for_status()
        receiver.clear()
        yield Driver(http, receiver, sim_config)


@pytest.fixture
def start_sim() -> Any:
    """Start an extra simulator with its own settings; returns its base URL."""
    servers: list[ServerThread] = []

    def start(**overrides: Any) -> str:
        port = free_port()
        settings: dict[str, Any] = {
            "app_secret": APP_SECRET,
            "public_url": f"http://127.0.0.1:{port}",
            "numbers": [NUMBER],
            "status_delay_seconds": 0.01,
            "delivery_backoff_seconds": 0.05,
            "delivery_max_attempts": 2,
            "delivery_timeout_seconds": 1,
        }
        settings.update(overrides)
        server = ServerThread(create_app(SimulatorConfig(**settings)), port).start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.stop()
