"""``madoguchi user create`` / ``set-password`` as an operator runs them (real subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from madoguchi.services.access import sessions
from madoguchi.services.access.sessions import LoginFailed
from madoguchi.store.db import Database
from madoguchi.store.models import User, Workspace

PASSWORD = "correct horse battery"


@pytest.fixture
def cli(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    env = {**os.environ, "MADOGUCHI_DATABASE_URL": url, "MADOGUCHI_SECRET_KEY": "cli-test-key"}

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "madoguchi.cli", *args],
            env=env,
            cwd=tmp_path,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert run("migrate").returncode == 0
    run.url = url
    return run


async def test_create_user_with_password_from_stdin_then_sign_in(cli):
    done = cli(
        "user",
        "create",
        "--email",
        "Root@Example.com",
        "--name",
        "Root",
        "--role",
        "admin",
        "--workspace",
        "acme",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert done.returncode == 0, done.stderr
    assert "created admin root@example.com" in done.stdout
    db = Database(cli.url)
    try:
        result = await sessions.login(db, "root@example.com", PASSWORD)
        async with db.read() as session:
            workspace = await session.get(Workspace, result.user.workspace_id)
        assert (result.user.role, workspace.slug) == ("admin", "acme")
    finally:
        await db.dispose()


def test_create_refuses_a_short_password_and_a_taken_email(cli):
    short = cli(
        "user",
        "create",
        "--email",
        "a@example.com",
        "--name",
        "A",
        "--role",
        "agent",
        "--password-stdin",
        stdin="short\n",
    )
    assert short.returncode == 1
    assert "at least 10 characters" in short.stderr
    ok = cli(
        "user",
        "create",
        "--email",
        "a@example.com",
        "--name",
        "A",
        "--role",
        "agent",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert ok.returncode == 0, ok.stderr
    taken = cli(
        "user",
        "create",
        "--email",
        "A@example.com",
        "--name",
        "A",
        "--role",
        "agent",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert taken.returncode == 1
    assert "already used" in taken.stderr
    bad_role = cli(
        "user",
        "create",
        "--email",
        "b@example.com",
        "--name",
        "B",
        "--role",
        "boss",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert bad_role.returncode == 1 and "role must be one of" in bad_role.stderr


async def test_without_a_terminal_the_user_is_created_without_password_then_set(cli):
    created = cli(
        "user", "create", "--email", "ken@example.com", "--name", "Ken", "--role", "agent"
    )
    assert created.returncode == 0, created.stderr
    assert "no password set" in created.stderr
    db = Database(cli.url)
    try:
        with pytest.raises(LoginFailed):
            await sessions.login(db, "ken@example.com", PASSWORD)
        assert cli("user", "set-password", "--email", "ken@example.com").returncode == 2
        done = cli(
            "user",
            "set-password",
            "--email",
            "KEN@example.com",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        assert done.returncode == 0, done.stderr
        assert (await sessions.login(db, "ken@example.com", PASSWORD)).user.name == "Ken"
        async with db.read() as session:
            assert (await session.scalar(select(User.workspace_id))) is not None
    finally:
        await db.dispose()
    missing = cli(
        "user",
        "set-password",
        "--email",
        "nobody@example.com",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert missing.returncode == 1 and "no user" in missing.stderr
