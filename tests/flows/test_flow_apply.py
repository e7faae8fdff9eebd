"""Flows in the ``apply`` file: inline or in files next to it (plain or exported),
``bind`` to numbers, published when changed, idempotent, errors naming the widget and
field — and the ``make demo`` seed, whose flows run in English and Japanese."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from madoguchi.cli import DEMO_CONFIG
from madoguchi.domain.flows.examples import guide_flow
from madoguchi.security.secrets import SecretBox
from madoguchi.services.access.users import verify_password
from madoguchi.services.configuration import demo_seed
from madoguchi.services.configuration.apply import ConfigError, apply_config
from madoguchi.store.db import Database
from madoguchi.store.models import Flow, FlowBinding, FlowVersion, PhoneNumber, User

BOX = SecretBox("test-secret-key")
ENV = {"TOKEN": "EAAG-token"}
BASE = """
workspace: {slug: acme, name: ACME}
queues:
  - {name: Sales}
  - {name: Support}
whatsapp:
  accounts:
    - waba_id: "200000000000001"
      name: ACME
      phone_numbers:
        - phone_number_id: "100000000000001"
          display_phone_number: "+1 555 0100"
          access_token: ${TOKEN}
        - phone_number_id: "100000000000002"
          display_phone_number: "+1 555 0101"
          access_token: ${TOKEN}
"""


@pytest.fixture
async def db(db_url):
    database = Database(db_url)
    yield database
    await database.dispose()


def with_flows(flows: list[dict]) -> str:
    return BASE + yaml.safe_dump({"flows": flows}, allow_unicode=True)


async def state(db) -> dict:
    async with db.read() as session:
        out = {}
        for flow in await session.scalars(select(Flow).order_by(Flow.name)):
            versions = (
                await session.scalars(
                    select(FlowVersion.version).where(FlowVersion.flow_id == flow.id)
                )
            ).all()
            numbers = (
                await session.scalars(
                    select(PhoneNumber.phone_number_id)
                    .join(FlowBinding, FlowBinding.phone_number_id == PhoneNumber.id)
                    .where(FlowBinding.flow_id == flow.id)
                )
            ).all()
            out[flow.name] = (flow.published_version, sorted(versions), sorted(numbers))
        return out


async def test_inline_and_file_flows_are_published_once(db, tmp_path: Path):
    flows_dir = tmp_path / "flows"
    flows_dir.mkdir()
    (flows_dir / "ja.json").write_text(
        json.dumps(guide_flow([], language="ja"), ensure_ascii=False), encoding="utf-8"
    )
    exported = {"madoguchi_flow": 1, "name": "x", "definition": guide_flow(["100000000000002"])}
    (flows_dir / "exported.json").write_text(json.dumps(exported))
    text = with_flows(
        [
            {"name": "English", "definition": guide_flow(["100000000000001"])},
            {"name": "Japanese", "file": "flows/ja.json", "bind": ["100000000000002"]},
            {"name": "Unpublished", "file": "flows/exported.json", "bind": [], "publish": False},
        ]
    )
    first = await apply_config(db, BOX, text, env=ENV, base_dir=tmp_path)
    assert "created flow English" in first.changes
    assert "published flow English version 1" in first.changes
    assert "published flow Japanese version 1" in first.changes
    assert not any("Unpublished version" in c for c in first.changes)
    assert await state(db) == {
        "English": (1, [1], ["100000000000001"]),
        "Japanese": (1, [1], ["100000000000002"]),
        "Unpublished": (None, [], []),
    }

    second = await apply_config(db, BOX, text, env=ENV, base_dir=tmp_path)
    assert second.changes == []

    changed = guide_flow(["100000000000001"])
    changed["nodes"][1]["text"] = "Hello again!"
    third = await apply_config(
        db,
        BOX,
        with_flows([{"name": "English", "definition": changed}]),
        env=ENV,
        base_dir=tmp_path,
    )
    assert third.changes == [
        "updated flow English: draft",
        "published flow English version 2",
    ]
    assert (await state(db))["English"] == (2, [1, 2], ["100000000000001"])


async def test_errors_name_the_flow_widget_and_field_and_change_nothing(db, tmp_path: Path):
    broken = guide_flow(["100000000000001"])
    broken["nodes"][4]["queue"] = "Salez"
    taken = guide_flow(["100000000000001"])
    with pytest.raises(ConfigError) as caught:
        await apply_config(
            db,
            BOX,
            with_flows(
                [
                    {"name": "Broken", "definition": broken},
                    {"name": "Missing", "file": "nowhere.json"},
                ]
            ),
            env=ENV,
            base_dir=tmp_path,
        )
    assert [p[0] for p in caught.value.problems] == ["flows[1].file"]
    with pytest.raises(ConfigError) as caught:
        await apply_config(
            db,
            BOX,
            with_flows(
                [{"name": "Broken", "definition": broken}, {"name": "Twin", "definition": taken}]
            ),
            env=ENV,
        )
    assert ("flows[0].definition.nodes[Route_to_Sales].queue", "no queue named 'Salez'") in (
        caught.value.problems
    )
    async with db.read() as session:
        assert (await session.scalars(select(Flow))).all() == []  # all or nothing

    with pytest.raises(ConfigError) as caught:
        await apply_config(
            db,
            BOX,
            with_flows([{"name": "A", "definition": taken}, {"name": "B", "definition": taken}]),
            env=ENV,
        )
    [(where, message)] = caught.value.problems
    assert where == "flows[1].definition.nodes[Start].numbers[0]"
    assert "already starts the flow 'A'" in message

    shape = guide_flow([])
    shape["nodes"][2]["timeout_seconds"] = "soon"
    with pytest.raises(ConfigError) as caught:
        await apply_config(db, BOX, with_flows([{"name": "S", "definition": shape}]), env=ENV)
    assert (
        caught.value.problems[0][0] == "flows[0].definition.nodes[Ask_Department].timeout_seconds"
    )


async def test_the_demo_seed_has_both_guides_and_people_who_can_sign_in(db):
    env = {"MADOGUCHI_DEMO_WA_TOKEN": "sim-token-demo"}
    result = await apply_config(db, BOX, DEMO_CONFIG + demo_seed.flows_yaml(), env=env)
    assert "published flow Guide (English) version 1" in result.changes
    assert "published flow Guide (日本語) version 1" in result.changes
    assert await state(db) == {
        "Guide (English)": (1, [1], [demo_seed.NUMBER_EN]),
        "Guide (日本語)": (1, [1], [demo_seed.NUMBER_JA]),
    }
    people = await demo_seed.set_passwords(db)
    assert {email for email, _, _ in people} == {"admin@demo.test", "agent@demo.test"}
    async with db.read() as session:
        agent = await session.scalar(select(User).where(User.email == "agent@demo.test"))
    assert await verify_password(agent, "demo-agent-password")
    again = await apply_config(db, BOX, DEMO_CONFIG + demo_seed.flows_yaml(), env=env)
    assert again.changes == []
