"""The ``madoguchi`` command as a user runs it: a real subprocess on a SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FILE = """
workspace: {slug: acme, name: ACME}
whatsapp:
  accounts:
    - waba_id: "200000000000001"
      name: ACME
      phone_numbers:
        - phone_number_id: "100000000000001"
          display_phone_number: "+1 555 0100"
          access_token: ${ACME_TOKEN}
"""


@pytest.fixture
def run(tmp_path):
    base = {
        **os.environ,
        "MADOGUCHI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "MADOGUCHI_SECRET_KEY": "cli-test-key",
        "ACME_TOKEN": "EAAG-cli",
    }

    def go(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "madoguchi.cli", *args],
            env={**base, **(env or {})},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return go


def test_migrate_apply_twice_and_token(run, tmp_path: Path):
    assert run("migrate").returncode == 0
    config = tmp_path / "workspace.yaml"
    config.write_text(FILE)
    first = run("apply", str(config))
    assert first.returncode == 0, first.stderr
    assert "created phone number 100000000000001" in first.stdout
    second = run("apply", str(config))
    assert second.returncode == 0
    assert "no changes" in second.stdout
    token = run("token", "create", "--role", "admin", "--workspace", "acme")
    assert token.returncode == 0
    assert token.stdout.strip().startswith("mdg_") and len(token.stdout.strip()) > 40


def test_apply_error_names_the_field_and_exits_nonzero(run, tmp_path: Path):
    assert run("migrate").returncode == 0
    config = tmp_path / "workspace.yaml"
    config.write_text(FILE.replace("${ACME_TOKEN}", "${NOT_SET_ANYWHERE}"))
    result = run("apply", str(config))
    assert result.returncode == 1
    assert "nothing was changed" in result.stderr
    assert "whatsapp.accounts[0].phone_numbers[0].access_token" in result.stderr


def test_token_refuses_unknown_role(run):
    assert run("migrate").returncode == 0
    result = run("token", "create", "--role", "root")
    assert result.returncode == 2


def test_serve_refuses_the_public_development_secrets(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MADOGUCHI_")}
    result = subprocess.run(
        [sys.executable, "-m", "madoguchi.cli", "serve"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "MADOGUCHI_APP_SECRET" in result.stderr and "MADOGUCHI_SECRET_KEY" in result.stderr


@pytest.mark.parametrize(
    "env_extra,needle",
    [
        ({"MADOGUCHI_VERIFY_TOKEN": ""}, "MADOGUCHI_VERIFY_TOKEN is empty"),
        ({"MADOGUCHI_SECRET_KEY": "short-key"}, "MADOGUCHI_SECRET_KEY is 9 characters"),
    ],
)
def test_serve_refuses_empty_and_weak_secrets_naming_them(tmp_path, env_extra, needle):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MADOGUCHI_")}
    env.update(
        {
            "MADOGUCHI_APP_SECRET": "an-app-secret-of-some-length",
            "MADOGUCHI_VERIFY_TOKEN": "a-verify-token",
            "MADOGUCHI_SECRET_KEY": "k" * 40,
            **env_extra,
        }
    )
    result = subprocess.run(
        [sys.executable, "-m", "madoguchi.cli", "serve"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert needle in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("token", "create", "--role", "admin"),
        ("user", "create", "--email", "a@b.test", "--name", "A", "--role", "agent"),
        ("deliveries", "list"),
    ],
    ids=["token", "user", "deliveries"],
)
def test_a_command_before_migrate_says_what_to_do(run, args):
    result = run(*args)
    assert result.returncode == 1, result.stderr
    assert "not migrated: run `madoguchi migrate`" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) <= 3


def test_reports_seed_and_rebuild(run, tmp_path: Path):
    """``madoguchi reports seed`` fills a workspace with conversations counted into the
    rollups; ``madoguchi reports rebuild`` recounts them from the raw log to the same
    sums."""
    import sqlite3

    assert run("migrate").returncode == 0
    seeded = run("reports", "seed", "--conversations", "300", "--days", "2", "--workspace", "demo")
    assert seeded.returncode == 0, seeded.stderr
    assert "workspace demo: 300 conversations" in seeded.stdout

    def sums() -> list:
        with sqlite3.connect(tmp_path / "cli.db") as conn:
            return [
                conn.execute(
                    f"SELECT count(*), sum(arrived), sum(answered), sum(handled), "
                    f"sum(messages_in), sum(first_responses) FROM {table}"
                ).fetchone()
                for table in ("report_hourly", "report_hourly_queue", "report_daily_agent")
            ]

    before = sums()
    assert before[0][1] > 200 and before[0][2] > 100 and before[0][4] > 200
    assert before[1][1:] == before[0][1:]  # the per-queue rollup holds the same counts
    rebuilt = run("reports", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rebuilt the report rollups from" in rebuilt.stdout
    assert sums() == before


async def test_apply_tells_running_processes_through_redis_which_queues_changed(run, tmp_path):
    """A server cannot see ``madoguchi apply``'s changes happen: with Redis configured the
    command publishes ``queue.settings`` for each queue it created or changed (its
    supervisors re-scope connected sockets at once), and nothing when nothing changed."""
    import asyncio
    import uuid

    from madoguchi.domain.events import QueueSettingsChanged
    from tests.bus.test_redis_fanout import REDIS_URL, started

    prefix = f"test-{uuid.uuid4().hex[:8]}"
    server, heard = await started(REDIS_URL, prefix)
    config = tmp_path / "workspace.yaml"
    config.write_text(
        FILE.replace(
            "whatsapp:",
            "users:\n  - {email: sam@acme.test, name: Sam, role: supervisor}\n"
            "queues:\n  - name: Sales\n    supervisors:\n      - {email: sam@acme.test}\n"
            "whatsapp:",
        )
    )
    extra = {"MADOGUCHI_REDIS_URL": REDIS_URL, "MADOGUCHI_REDIS_CHANNEL": prefix}
    try:
        assert (await asyncio.to_thread(run, "migrate")).returncode == 0
        first = await asyncio.to_thread(run, "apply", str(config), env=extra)
        assert first.returncode == 0, first.stderr
        await heard.wait_for(lambda: heard.events)
        [event] = heard.events
        assert isinstance(event, QueueSettingsChanged) and event.queue_id > 0
        again = await asyncio.to_thread(run, "apply", str(config), env=extra)
        assert "no changes" in again.stdout
        assert heard.events == [event]
    finally:
        await server.stop()
