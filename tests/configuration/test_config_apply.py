"""``apply``: validated first, exact field names in errors, all or nothing, idempotent,
tokens encrypted at rest — on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from madoguchi.security.secrets import SecretBox
from madoguchi.services.configuration.apply import ConfigError, apply_config
from madoguchi.store.db import Database
from madoguchi.store.models import PhoneNumber, WhatsAppAccount, Workspace

BOX = SecretBox("test-secret-key")
ENV = {"TOKEN_A": "EAAG-token-a", "TOKEN_B": "EAAG-token-b"}

FILE = """
workspace: {slug: acme, name: ACME Support}
whatsapp:
  accounts:
    - waba_id: "200000000000001"
      name: ACME
      phone_numbers:
        - phone_number_id: "100000000000001"
          display_phone_number: "+1 555 0100"
          access_token: ${TOKEN_A}
        - phone_number_id: "100000000000002"
          display_phone_number: "+1 555 0101"
          access_token: ${TOKEN_B}
          rate_limit_per_second: 1000
"""


@pytest.fixture
async def db(db_url):
    database = Database(db_url)
    yield database
    await database.dispose()


async def counts(db):
    async with db.read() as s:
        return tuple(
            [
                await s.scalar(select(func.count()).select_from(m))
                for m in (Workspace, WhatsAppAccount, PhoneNumber)
            ]
        )


async def test_apply_creates_then_reports_no_changes(db):
    first = await apply_config(db, BOX, FILE, env=ENV)
    assert first.changes == [
        "created workspace acme",
        "created WhatsApp account 200000000000001",
        "created phone number 100000000000001",
        "created phone number 100000000000002",
    ]
    second = await apply_config(db, BOX, FILE, env=ENV)
    assert not second.changed
    assert await counts(db) == (1, 1, 2)


async def test_tokens_are_encrypted_at_rest(db):
    await apply_config(db, BOX, FILE, env=ENV)
    async with db.read() as s:
        number = await s.scalar(
            select(PhoneNumber).where(PhoneNumber.phone_number_id == "100000000000001")
        )
    assert "EAAG" not in number.access_token_encrypted
    assert BOX.decrypt(number.access_token_encrypted) == "EAAG-token-a"


async def test_changes_are_applied_and_named(db):
    await apply_config(db, BOX, FILE, env=ENV)
    changed = FILE.replace("+1 555 0101", "+1 555 0199")
    result = await apply_config(db, BOX, changed, env={**ENV, "TOKEN_A": "EAAG-rotated"})
    assert result.changes == [
        "updated phone number 100000000000001: access_token",
        "updated phone number 100000000000002: display_phone_number",
    ]


async def test_dry_run_changes_nothing(db):
    result = await apply_config(db, BOX, FILE, env=ENV, dry_run=True)
    assert result.changed
    assert await counts(db) == (0, 0, 0)


@pytest.mark.parametrize(
    ("edit", "where", "what"),
    [
        (
            lambda f: f.replace('"100000000000002"', '"abc"'),
            "whatsapp.accounts[0].phone_numbers[1].phone_number_id",
            "digits",
        ),
        (
            lambda f: f.replace("${TOKEN_B}", "EAAG-literal"),
            "whatsapp.accounts[0].phone_numbers[1].access_token",
            "environment variable reference",
        ),
        (
            lambda f: f.replace("${TOKEN_B}", "${MISSING_VAR}"),
            "whatsapp.accounts[0].phone_numbers[1].access_token",
            "MISSING_VAR is not set",
        ),
        (
            lambda f: f.replace("rate_limit_per_second: 1000", "rate_limit_per_second: 5000"),
            "whatsapp.accounts[0].phone_numbers[1].rate_limit_per_second",
            "1000",
        ),
        (
            lambda f: f.replace('"100000000000002"', '"100000000000001"'),
            "whatsapp.accounts[0].phone_numbers[1].phone_number_id",
            "duplicates",
        ),
        (
            lambda f: f.replace("name: ACME\n", "name: ACME\n      colour: red\n"),
            "whatsapp.accounts[0].colour",
            "Extra inputs",
        ),
        (lambda f: f.replace("slug: acme", "slug: ACME!"), "workspace.slug", "pattern"),
        (
            lambda f: f.replace("name: ACME Support}", "name: ACME Support, timezone: Mars/Base}"),
            "workspace.timezone",
            "'Mars/Base' is not an IANA time zone name",
        ),
        (
            lambda f: f.replace("name: ACME Support}", "name: ACME Support, timezone: ''}"),
            "workspace.timezone",
            "give an IANA time zone name",
        ),
        (lambda f: "workspace: [", "file", "YAML"),
        (lambda f: "- just a list", "file", "mapping"),
    ],
)
async def test_errors_name_the_field_and_change_nothing(db, edit, where, what):
    with pytest.raises(ConfigError) as info:
        await apply_config(db, BOX, edit(FILE), env=ENV)
    assert any(w == where and what in msg for w, msg in info.value.problems), info.value.problems
    assert await counts(db) == (0, 0, 0)


async def test_number_of_another_workspace_is_refused_atomically(db):
    await apply_config(db, BOX, FILE, env=ENV)
    other = FILE.replace("slug: acme", "slug: other").replace(
        '"200000000000001"', '"200000000000009"'
    )
    with pytest.raises(ConfigError) as info:
        await apply_config(db, BOX, other, env=ENV)
    assert (
        "whatsapp.accounts[0].phone_numbers[0].phone_number_id",
        "belongs to another workspace",
    ) in info.value.problems
    assert await counts(db) == (1, 1, 2)  # the other workspace was not created either


async def workspace_timezone(db) -> str:
    async with db.read() as s:
        return await s.scalar(select(Workspace.timezone).where(Workspace.slug == "acme"))


async def test_workspace_time_zone_is_set_changed_and_kept_when_omitted(db):
    await apply_config(db, BOX, FILE, env=ENV)
    assert await workspace_timezone(db) == "UTC"  # a new workspace starts in UTC

    tokyo = FILE.replace("name: ACME Support}", "name: ACME Support, timezone: Asia/Tokyo}")
    result = await apply_config(db, BOX, tokyo, env=ENV)
    assert result.changes == ["updated workspace acme: timezone"]
    assert await workspace_timezone(db) == "Asia/Tokyo"
    assert not (await apply_config(db, BOX, tokyo, env=ENV)).changed

    # A file that does not mention the zone leaves the one chosen (e.g. in the web app).
    assert not (await apply_config(db, BOX, FILE, env=ENV)).changed
    assert await workspace_timezone(db) == "Asia/Tokyo"


async def test_new_workspace_takes_the_declared_time_zone(db):
    paris = FILE.replace("name: ACME Support}", "name: ACME Support, timezone: Europe/Paris}")
    result = await apply_config(db, BOX, paris, env=ENV)
    assert result.changes[0] == "created workspace acme"
    assert await workspace_timezone(db) == "Europe/Paris"
