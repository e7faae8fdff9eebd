"""The calling tests' stack: the product and the simulator, agents with tokens, and an
agent "browser" played by aiortc (a real WebRTC endpoint, like the customer's phone)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from madoguchi.services.access.tokens import create_token
from madoguchi.simulator.webrtc import PhoneLine
from madoguchi.store.models import Call, User, Workspace
from tests.conftest import PHONE_NUMBER_ID, WABA_ID, SimStack, seed_workspace
from tests.helpers import eventually

FILE = f"""
workspace: {{slug: acme, name: ACME}}
users:
  - {{email: aiko@acme.test, name: Aiko, role: agent}}
  - {{email: ben@acme.test, name: Ben, role: agent}}
  - {{email: chie@acme.test, name: Chie, role: agent}}
queues:
  - name: Support
    members:
      - {{email: aiko@acme.test}}
      - {{email: ben@acme.test}}
whatsapp:
  accounts:
    - waba_id: "{WABA_ID}"
      name: ACME
      phone_numbers:
        - phone_number_id: "{PHONE_NUMBER_ID}"
          display_phone_number: "+1 555 0123"
          access_token: ${{WA_TOKEN}}
          default_queue: Support
"""


@dataclass
class Desk:
    s: SimStack
    tokens: dict[str, str] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)

    async def as_(self, who: str, method: str, path: str, **kwargs):
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        return await self.s.client.request(method, path, headers=headers, **kwargs)

    async def presence(self, who: str, status: str = "available") -> None:
        r = await self.as_(who, "PUT", "/api/v1/agents/me/presence", json={"status": status})
        assert r.status_code == 200, r.text

    async def customer(self, wa_id: str, name: str = "Hana") -> dict:
        r = await self.s.sim_client.post("/_sim/customers", json={"wa_id": wa_id, "name": name})
        assert r.status_code in (200, 201), r.text
        return r.json()

    async def customer_calls(self, customer: dict) -> dict:
        r = await self.s.sim_client.post(f"/_sim/customers/{customer['user_id']}/calls")
        assert r.status_code == 200, r.text
        return r.json()

    async def sim_call(self, call_id: str) -> dict:
        return (await self.s.sim_client.get(f"/_sim/calls/{call_id}")).json()

    async def sim_call_becomes(self, call_id: str, state: str) -> dict:
        async def check():
            call = await self.sim_call(call_id)
            return call if call["state"] == state else None

        return await eventually(check)

    async def ringing_for(self, who: str) -> dict:
        async def check():
            calls = (await self.as_(who, "GET", "/api/v1/calls")).json()
            return next((c for c in calls if c["status"] == "ringing"), None)

        return await eventually(check)

    async def call_of(self, sim_call_id: str) -> dict:
        """The product's call for a simulator call, once the product has it."""

        async def check():
            async with self.s.runtime.db.read() as session:
                return await session.scalar(select(Call.id).where(Call.meta_call_id == sim_call_id))

        call_id = await eventually(check)
        return (await self.as_("admin", "GET", f"/api/v1/calls/{call_id}")).json()

    async def call_becomes(self, call_id: int, status: str) -> dict:
        async def check():
            call = (await self.as_("admin", "GET", f"/api/v1/calls/{call_id}")).json()
            return call if call["status"] == status else None

        return await eventually(check)


async def make_desk(s: SimStack) -> Desk:
    desk = Desk(s)
    desk.tokens["admin"] = await seed_workspace(s.runtime.db, FILE)
    async with s.runtime.db.write() as session:
        ws = await session.scalar(select(Workspace).where(Workspace.slug == "acme"))
        for user in await session.scalars(select(User).where(User.workspace_id == ws.id)):
            who = user.email.split("@")[0]
            desk.users[who] = user.id
            desk.tokens[who] = await create_token(session, ws.id, user.role, who, user_id=user.id)
    return desk


async def audio_flows(line: PhoneLine, desk: Desk, sim_call_id: str, frames: int = 25) -> dict:
    """Both ends hear sound: the agent's endpoint and the simulated phone."""

    async def check():
        sim = await desk.sim_call(sim_call_id)
        heard = sim["media"]["audible_frames_received"]
        return sim if heard >= frames and line.heard.audible_frames >= frames else None

    return await eventually(check)
