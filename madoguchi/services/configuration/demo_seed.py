"""What ``madoguchi demo`` seeds besides the workspace file: the guide's flow in English
and Japanese (each bound to one of the simulator's numbers), and people who can sign in
with known passwords. Demo only: these passwords are printed on the terminal."""

from __future__ import annotations

import yaml
from sqlalchemy import select

from madoguchi.domain.flows.examples import guide_flow
from madoguchi.services.access.users import set_password
from madoguchi.store.db import Database
from madoguchi.store.models import User

NUMBER_EN = "100000000000001"
NUMBER_JA = "100000000000002"
# The simulator's second number (the first is ``simulator.config.DEMO_NUMBER``).
SIM_NUMBER_JA = {
    "phone_number_id": NUMBER_JA,
    "display_phone_number": "+81 50 5555 0100",
    "waba_id": "200000000000001",
    "access_token": "sim-token-demo",
    "verified_name": "窓口デモ",
}
# email, name, role, password
USERS = (
    ("admin@demo.test", "Demo Admin", "admin", "demo-admin-password"),
    ("agent@demo.test", "Demo Agent", "agent", "demo-agent-password"),
)


def flows_yaml() -> str:
    """The ``flows:`` section of the demo workspace file."""
    flows = [
        {
            "name": "Guide (English)",
            "description": "The guide's flow: welcome, sales or support, route to the queue",
            "definition": guide_flow([NUMBER_EN], language="en"),
        },
        {
            "name": "Guide (日本語)",
            "description": "ガイドのフロー：あいさつ、営業かサポートかを聞いてキューへ",
            "definition": guide_flow([NUMBER_JA], language="ja"),
        },
    ]
    return yaml.safe_dump({"flows": flows}, allow_unicode=True, sort_keys=False)


async def set_passwords(db: Database) -> list[tuple[str, str, str]]:
    """Give the demo users their known passwords; returns (e-mail, role, password)."""
    out = []
    async with db.write() as session:
        for email, _, role, password in USERS:
            user = await session.scalar(select(User).where(User.email == email))
            if user is not None:
                await set_password(session, user, password)
                out.append((email, role, password))
    return out
