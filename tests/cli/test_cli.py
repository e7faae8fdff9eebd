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
    env = {
        **os.environ,
        "MADOGUCHI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "MADOGUCHI_SECRET_KEY": "cli-test-key",
        "ACME_TOKEN": "EAAG-cli",
    }

    def go(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "madoguchi.cli", *args],
            env=env,
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
