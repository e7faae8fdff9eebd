"""Templates declared in the ``apply`` file: validated with exact paths, stored as drafts
idempotently, submitted to Meta when missing; and the opt-out rules that need no server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from madoguchi.security.secrets import SecretBox
from madoguchi.services.access.workspaces import get_or_create_workspace
from madoguchi.services.channel.marketing_optout import (
    keyword_intent,
    normalize_keyword,
    set_preference,
)
from madoguchi.services.configuration.apply import ConfigError, apply_config
from madoguchi.services.templates.catalog import submit_declared_templates
from madoguchi.settings import Settings
from madoguchi.store.db import Database
from madoguchi.store.models import Contact, MarketingPreference, MessageTemplate
from tests.conftest import SECRET_KEY, WA_TOKEN, WORKSPACE_FILE, start_sim_stack
from tests.helpers import eventually

TEMPLATES = """
      templates:
        - name: order_shipped
          language: en_US
          category: UTILITY
          components:
            - type: BODY
              text: "Hi {{1}}, order {{2}} has shipped."
              example: {body_text: [["Taro", "A-1"]]}
        - name: welcome_named
          language: ja
          category: marketing
          components:
            - type: BODY
              text: "{{name}}さん、ようこそ！"
              example:
                body_text_named_params: [{param_name: name, example: 太郎}]
            - type: BUTTONS
              buttons:
                - {type: QUICK_REPLY, text: 配信停止}
"""
WITH_TEMPLATES = WORKSPACE_FILE.rstrip("\n") + "\n" + TEMPLATES.strip("\n") + "\n"
ENV = {"WA_TOKEN": WA_TOKEN}


@pytest.fixture
async def db(db_url):
    database = Database(db_url)
    yield database
    await database.dispose()


async def test_invalid_templates_are_named_by_their_path_and_nothing_changes(db):
    bad = WITH_TEMPLATES.replace('text: "Hi {{1}}, order {{2}} has shipped."', 'text: "Hi {{1}}"')
    bad = bad.replace('example: {body_text: [["Taro", "A-1"]]}', "example: {}")
    bad = bad.replace("name: welcome_named", "name: Welcome")
    with pytest.raises(ConfigError) as info:
        await apply_config(db, SecretBox(SECRET_KEY), bad, env=ENV)
    where = dict(info.value.problems)
    assert "whatsapp.accounts[0].templates[0].components[0].example.body_text" in where
    assert "lowercase" in where["whatsapp.accounts[0].templates[1].name"]
    async with db.read() as session:
        assert (await session.scalars(select(MessageTemplate))).all() == []


async def test_declared_templates_are_drafts_then_submitted_once(db_url, tmp_path):
    s = await start_sim_stack(db_url, tmp_path, auto_approve_templates_after=0.2)
    try:
        box = SecretBox(SECRET_KEY)
        first = await apply_config(s.runtime.db, box, WITH_TEMPLATES, env=ENV)
        assert "declared template order_shipped (en_US) of 201234567890123" in first.changes
        assert "declared template welcome_named (ja) of 201234567890123" in first.changes
        again = await apply_config(s.runtime.db, box, WITH_TEMPLATES, env=ENV)
        assert not again.changed
        async with s.runtime.db.read() as session:
            rows = (await session.scalars(select(MessageTemplate))).all()
        assert {(r.name, r.status, r.source) for r in rows} == {
            ("order_shipped", "DRAFT", "apply"),
            ("welcome_named", "DRAFT", "apply"),
        }
        assert {r.category for r in rows} == {"UTILITY", "MARKETING"}

        lines = await submit_declared_templates(s.runtime.db, s.runtime.graph, box, "acme")
        assert lines == ["submitted 2 template(s) of 201234567890123 to Meta"]
        sim = (await s.sim_client.get("/_sim/templates")).json()["templates"]
        assert {(t["name"], t["parameter_format"]) for t in sim} == {
            ("order_shipped", "POSITIONAL"),
            ("welcome_named", "NAMED"),
        }
        assert await submit_declared_templates(s.runtime.db, s.runtime.graph, box, "acme") == []

        async def all_approved():
            async with s.runtime.db.read() as session:
                statuses = set((await session.scalars(select(MessageTemplate.status))).all())
            return statuses == {"APPROVED"}

        await eventually(all_approved)
        assert not (await apply_config(s.runtime.db, box, WITH_TEMPLATES, env=ENV)).changed
    finally:
        await s.client.aclose()
        await s.sim_client.aclose()
        await s.served.stop()
        await s.sim.stop()


def test_stop_words_are_whole_messages_in_any_width_or_case():
    settings = Settings(_env_file=None)
    stops, starts = settings.opt_out_keywords, settings.opt_in_keywords
    assert normalize_keyword("  Ｓｔｏｐ ！ ") == "stop"
    for text in ("STOP", "stop.", "Unsubscribe", "opt  out", "配信停止", "ストップ", "ｽﾄｯﾌﾟ"):
        assert keyword_intent([text], stops, starts) == "stop", text
    for text in ("start", "START!", "配信再開"):
        assert keyword_intent([text], stops, starts) == "start", text
    for text in ("please stop", "stopped", "don't stop", "", None):
        assert keyword_intent([text], stops, starts) is None, text
    assert keyword_intent([None, "Stop promotions", "STOP"], stops, starts) == "stop"
    assert keyword_intent(["やめて"], ["やめて"], starts) == "stop"  # configurable


async def test_older_news_never_overrides_a_newer_choice(db):
    await apply_config(db, SecretBox(SECRET_KEY), WORKSPACE_FILE, env=ENV)
    now = datetime.now(UTC)
    async with db.write() as session:
        workspace, _ = await get_or_create_workspace(session, "acme")
        contact = Contact(workspace_id=workspace.id, wa_id="819000000001")
        session.add(contact)
        await session.flush()
        assert not await set_preference(session, contact, opted_out=False, source="keyword")
        assert await set_preference(session, contact, opted_out=True, source="webhook", at=now)
        stale = now - timedelta(minutes=5)
        assert not await set_preference(session, contact, opted_out=False, source="kw", at=stale)
        assert await set_preference(
            session, contact, opted_out=False, source="keyword", at=now + timedelta(seconds=1)
        )
        row = await session.scalar(select(MarketingPreference))
        assert row.opted_out is False and row.source == "keyword" and row.opted_out_at == now
