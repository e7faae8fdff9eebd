"""Calling settings in the workspace file: checked with the file (the field named), sent to
Meta (the simulator) only where Meta has them otherwise, exported from Meta and applied
back unchanged — through the services and through the ``madoguchi`` command."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from madoguchi.security.secrets import SecretBox
from madoguchi.services.configuration.apply import ConfigError, apply_config, load_config
from madoguchi.services.configuration.calling import apply_calling_settings, export_workspace
from tests.conftest import PHONE_NUMBER_ID, SECRET_KEY, WA_TOKEN, WORKSPACE_FILE, start_sim_stack

BOX = SecretBox(SECRET_KEY)
ENV = {"WA_TOKEN": WA_TOKEN}
CALLING = """
          calling:
            status: ENABLED
            call_icon_visibility: DISABLE_ALL
            callback_permission_status: DISABLED
            call_hours:
              status: ENABLED
              timezone_id: Asia/Tokyo
              weekly_operating_hours:
                - {day_of_week: MONDAY, open_time: "0900", close_time: "1800"}
                - {day_of_week: SATURDAY, open_time: "1000", close_time: "1400"}
              holiday_schedule:
                - {date: "2026-12-31"}
"""
FILE = WORKSPACE_FILE.rstrip("\n") + CALLING


@pytest.fixture
async def stack(tmp_path, sqlite_template):
    shutil.copy(sqlite_template, tmp_path / "calling.db")
    s = await start_sim_stack(f"sqlite+aiosqlite:///{tmp_path / 'calling.db'}", tmp_path)
    yield s
    await s.client.aclose()
    await s.sim_client.aclose()
    await s.served.stop()
    await s.sim.stop()


async def at_meta(stack) -> dict:
    r = await stack.sim_client.get(
        f"/v26.0/{PHONE_NUMBER_ID}/settings", headers={"Authorization": f"Bearer {WA_TOKEN}"}
    )
    return r.json()["calling"]


async def apply_file(stack, text: str, *, dry_run: bool = False):
    await apply_config(stack.runtime.db, BOX, text, env=ENV, dry_run=dry_run)
    config = load_config(text, ENV)[0]
    return await apply_calling_settings(
        stack.runtime.db, stack.runtime.graph, BOX, config, dry_run=dry_run
    )


def test_bad_calling_settings_name_the_field():
    where = "whatsapp.accounts[0].phone_numbers[0].calling"
    for old, new, field, said in (
        ("status: ENABLED", "status: ON", "status", "'ENABLED' or 'DISABLED'"),
        ("timezone_id: Asia/Tokyo", "timezone_id: Asia/Tokio", "call_hours.timezone_id", "Tokio"),
        (
            'close_time: "1800"}',
            'close_time: "0800"}',
            "call_hours.weekly_operating_hours[0]",
            "close_time must be after open_time",
        ),
        ("call_icon_visibility:", "call_icon:", "call_icon", "Extra inputs are not permitted"),
    ):
        with pytest.raises(ConfigError) as caught:
            load_config(FILE.replace(old, new, 1), ENV)
        problems = dict(caught.value.problems)
        assert any(p.startswith(f"{where}.{field}") and said in m for p, m in problems.items()), (
            problems
        )


async def test_apply_sends_the_settings_once_then_changes_nothing(stack):
    before = await apply_file(stack, FILE, dry_run=True)
    assert before.changes == [
        f"updated calling settings of phone number {PHONE_NUMBER_ID} at Meta: "
        "call_icon_visibility, callback_permission_status, call_hours"
    ]
    assert "call_hours" not in await at_meta(stack)  # a dry run sends nothing

    first = await apply_file(stack, FILE)
    assert first.changes == before.changes and not first.problems
    meta = await at_meta(stack)
    assert meta["call_icon_visibility"] == "DISABLE_ALL"
    assert meta["callback_permission_status"] == "DISABLED"
    assert meta["call_hours"]["timezone_id"] == "Asia/Tokyo"
    assert len(meta["call_hours"]["weekly_operating_hours"]) == 2

    again = await apply_file(stack, FILE)
    assert again.changes == [] and again.problems == []

    # Only what changed in the file is sent; an admin's change elsewhere is corrected.
    await stack.sim_client.post(
        f"/v26.0/{PHONE_NUMBER_ID}/settings",
        headers={"Authorization": f"Bearer {WA_TOKEN}"},
        json={"calling": {"status": "DISABLED"}},
    )
    fixed = await apply_file(stack, FILE)
    assert fixed.changes == [
        f"updated calling settings of phone number {PHONE_NUMBER_ID} at Meta: status"
    ]
    assert (await at_meta(stack))["status"] == "ENABLED"


async def test_metas_refusal_is_named_by_field(stack):
    await stack.sim_client.post(
        "/_sim/faults",
        json={
            "phone_number_id": PHONE_NUMBER_ID,
            "endpoint": "settings",
            "code": 190,
            "details": "Session has expired.",
        },
    )
    result = await apply_file(stack, FILE)
    assert result.changes == []
    [(where, what)] = result.problems
    assert where == "whatsapp.accounts[0].phone_numbers[0].calling"
    assert "reconnect the number" in what and "#190: Session has expired." in what


async def test_export_then_apply_round_trip(stack):
    await apply_file(stack, FILE)
    text, warnings = await export_workspace(stack.runtime.db, stack.runtime.graph, BOX, "acme")
    assert warnings == []
    exported = yaml.safe_load(text)
    number = exported["whatsapp"]["accounts"][0]["phone_numbers"][0]
    assert number["phone_number_id"] == PHONE_NUMBER_ID
    assert number["access_token"] == "${WA_TOKEN_" + PHONE_NUMBER_ID + "}"
    assert number["calling"]["call_hours"]["holiday_schedule"] == [
        {"date": "2026-12-31", "start_time": "0000", "end_time": "2359"}
    ]
    assert WA_TOKEN not in text
    # The exported file is a valid workspace file that changes nothing.
    env = {"WA_TOKEN_" + PHONE_NUMBER_ID: WA_TOKEN}
    assert not (await apply_config(stack.runtime.db, BOX, text, env=env)).changed
    config = load_config(text, env)[0]
    again = await apply_calling_settings(stack.runtime.db, stack.runtime.graph, BOX, config)
    assert again.changes == [] and again.problems == []


async def test_the_command_exports_and_applies(stack, tmp_path):
    env = {
        **os.environ,
        "MADOGUCHI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'calling.db'}",
        "MADOGUCHI_SECRET_KEY": SECRET_KEY,
        "MADOGUCHI_GRAPH_API_URL": stack.sim.url,
        "WA_TOKEN": WA_TOKEN,
        "WA_TOKEN_" + PHONE_NUMBER_ID: WA_TOKEN,
    }

    async def run(*args: str) -> subprocess.CompletedProcess:
        # In a thread: the simulator answering the command runs on this event loop.
        return await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "madoguchi.cli", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    file = tmp_path / "workspace.yaml"
    file.write_text(FILE)
    applied = await run("apply", str(file))
    assert applied.returncode == 0, applied.stderr
    assert f"updated calling settings of phone number {PHONE_NUMBER_ID} at Meta" in applied.stdout
    assert "no changes" in (await run("apply", str(file))).stdout

    out = tmp_path / "exported.yaml"
    exported = await run("export", "--workspace", "acme", "-o", str(out))
    assert exported.returncode == 0, exported.stderr
    assert "DISABLE_ALL" in out.read_text()
    assert "no changes" in (await run("apply", str(out))).stdout

    file.write_text(FILE.replace("call_icon_visibility: DISABLE_ALL", "call_icon_visibility: HIDE"))
    bad = await run("apply", str(file))
    assert bad.returncode == 1 and "nothing was changed" in bad.stderr
    assert "phone_numbers[0].calling.call_icon_visibility" in bad.stderr
    assert (await run("export", "--workspace", "nope")).returncode == 1
