"""Users and sessions as use cases on both databases: password rules and hashing, e-mail
normalisation, the last-admin guard, sliding session expiry, and the sign-in rate limit."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from madoguchi.services.access import sessions, users
from madoguchi.services.access.sessions import LoginFailed, LoginRateLimited
from madoguchi.services.access.tokens import authenticate, issue_token
from madoguchi.services.access.users import EmailTaken, UserChanges, UserError, hash_is_current
from madoguchi.services.access.workspaces import get_or_create_workspace
from madoguchi.store.db import Database
from madoguchi.store.models import LoginAttempt, User, UserSession, utcnow

PASSWORD = "correct horse battery"


@pytest.fixture
async def db(db_url):
    database = Database(db_url)
    yield database
    await database.dispose()


async def workspace(db: Database, slug: str = "acme") -> int:
    async with db.write() as session:
        ws, _ = await get_or_create_workspace(session, slug)
        return ws.id


async def make_user(db: Database, ws: int, email: str, role: str = "agent", **kw) -> User:
    async with db.write() as session:
        return await users.create_user(
            session, ws, email=email, name=email.split("@")[0], role=role, **kw
        )


# ----------------------------------------------------------------------------- passwords


async def test_short_password_is_refused_with_a_clear_message():
    with pytest.raises(UserError) as exc:
        await users.hash_password("123456789")
    assert exc.value.code == "password_too_short"
    assert exc.value.field == "password"
    assert "at least 10 characters" in exc.value.message


async def test_hash_is_argon2id_and_verifies_only_the_password():
    stored = await users.hash_password(PASSWORD)
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert (await users.password_matches(stored, PASSWORD))[0]
    assert not (await users.password_matches(stored, PASSWORD + "!"))[0]
    assert not (await users.password_matches(None, PASSWORD))[0]
    assert not (await users.password_matches("not a hash", PASSWORD))[0]


async def test_hash_with_old_parameters_is_upgraded_at_sign_in(db):
    ws = await workspace(db)
    user = await make_user(db, ws, "old@example.com")
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    async with db.write() as session:
        (await session.get(User, user.id)).password_hash = weak
    await sessions.login(db, "old@example.com", PASSWORD)
    async with db.read() as session:
        upgraded = (await session.get(User, user.id)).password_hash
    assert upgraded != weak
    assert hash_is_current(upgraded) and not hash_is_current(weak)
    await sessions.login(db, "old@example.com", PASSWORD)  # the new hash verifies


# ----------------------------------------------------------------------------- users


async def test_email_is_normalised_and_unique_across_workspaces(db):
    a, b = await workspace(db, "a"), await workspace(db, "b")
    user = await make_user(db, a, "  Alice@Example.COM ")
    assert user.email == "alice@example.com"
    for ws in (a, b):
        with pytest.raises(EmailTaken):
            await make_user(db, ws, "ALICE@example.com")


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("email", {"email": "not-an-email"}),
        ("role", {"role": "owner"}),
        ("locale", {"locale": "fr"}),
        ("name", {"name": "  "}),
        ("password", {"password": "short"}),
    ],
)
async def test_invalid_user_fields_are_named(db, field, kwargs):
    ws = await workspace(db)
    values = {"email": "x@example.com", "name": "X", "role": "agent", **kwargs}
    with pytest.raises(UserError) as exc:
        async with db.write() as session:
            await users.create_user(session, ws, **values)
    assert exc.value.field == field


async def test_list_users_is_scoped_to_the_workspace(db):
    a, b = await workspace(db, "a"), await workspace(db, "b")
    await make_user(db, a, "a1@example.com")
    await make_user(db, b, "b1@example.com")
    async with db.read() as session:
        assert [u.email for u in await users.list_users(session, a)] == ["a1@example.com"]
        assert await users.get_user(session, a, (await users.list_users(session, b))[0].id) is None


async def test_the_last_active_admin_can_be_neither_demoted_nor_disabled(db):
    ws = await workspace(db)
    first = await make_user(db, ws, "admin1@example.com", "admin")
    for changes in (UserChanges(role="agent"), UserChanges(disabled=True)):
        with pytest.raises(UserError) as exc:
            async with db.write() as session:
                user = await session.get(User, first.id)
                await users.update_user(session, user, changes)
        assert exc.value.code == "last_admin"
    await make_user(db, ws, "admin2@example.com", "admin")
    async with db.write() as session:
        user = await session.get(User, first.id)
        await users.update_user(session, user, UserChanges(role="supervisor"))
    assert user.role == "supervisor"


async def test_users_token_follows_the_user(db):
    ws = await workspace(db)
    user = await make_user(db, ws, "sup@example.com", "supervisor")
    async with db.write() as session:
        _, token = await issue_token(session, ws, "supervisor", "mine", user_id=user.id)
    async with db.read() as session:
        assert (await authenticate(session, token)).user_id == user.id
    async with db.write() as session:
        await users.update_user(
            session, await session.get(User, user.id), UserChanges(role="agent")
        )
    async with db.read() as session:
        assert (await authenticate(session, token)).role == "agent"  # demotion caps it
    async with db.write() as session:
        await users.update_user(
            session, await session.get(User, user.id), UserChanges(disabled=True)
        )
    async with db.read() as session:
        assert await authenticate(session, token) is None


# ----------------------------------------------------------------------------- sessions


async def test_session_slides_and_expires_after_12_hours_unused(db):
    ws = await workspace(db)
    user = await make_user(db, ws, "agent@example.com", password=PASSWORD)
    t0 = utcnow()
    result = await sessions.login(db, "agent@example.com", PASSWORD, now=t0)
    assert result.token.startswith("mds_")
    principal = await sessions.authenticate_session(db, result.token, now=t0 + timedelta(hours=11))
    assert (principal.workspace_id, principal.user_id, principal.role) == (ws, user.id, "agent")
    # Used at 11 h, so it lives until 23 h; unused since then it is over at 23 h.
    later = t0 + timedelta(hours=22, minutes=59)
    assert await sessions.authenticate_session(db, result.token, now=later) is not None
    gone = later + timedelta(hours=12, minutes=1)
    assert await sessions.authenticate_session(db, result.token, now=gone) is None


async def test_session_is_stored_as_a_digest_only(db):
    ws = await workspace(db)
    await make_user(db, ws, "agent@example.com", password=PASSWORD)
    result = await sessions.login(db, "agent@example.com", PASSWORD)
    async with db.read() as session:
        row = await session.scalar(select(UserSession))
    assert row.token_hash == sessions.hash_session_token(result.token)
    assert result.token not in row.token_hash


async def test_logout_disable_and_password_change_end_sessions(db):
    ws = await workspace(db)
    await make_user(db, ws, "admin@example.com", "admin", password=PASSWORD)
    user = await make_user(db, ws, "agent@example.com", password=PASSWORD)
    s1 = (await sessions.login(db, "agent@example.com", PASSWORD)).token
    async with db.write() as session:
        assert await sessions.logout(session, s1)
    assert await sessions.authenticate_session(db, s1) is None

    s2 = (await sessions.login(db, "agent@example.com", PASSWORD)).token
    s3 = (await sessions.login(db, "agent@example.com", PASSWORD)).token
    async with db.write() as session:
        await users.set_password(
            session,
            await session.get(User, user.id),
            PASSWORD + "2",
            keep_session_hash=sessions.hash_session_token(s3),
        )
    assert await sessions.authenticate_session(db, s2) is None
    assert await sessions.authenticate_session(db, s3) is not None

    async with db.write() as session:
        await users.update_user(
            session, await session.get(User, user.id), UserChanges(disabled=True)
        )
    assert await sessions.authenticate_session(db, s3) is None
    with pytest.raises(LoginFailed):
        await sessions.login(db, "agent@example.com", PASSWORD + "2")


async def test_wrong_password_and_unknown_email_fail_alike(db):
    ws = await workspace(db)
    await make_user(db, ws, "agent@example.com", password=PASSWORD)
    with pytest.raises(LoginFailed) as wrong:
        await sessions.login(db, "agent@example.com", "wrong password!")
    with pytest.raises(LoginFailed) as unknown:
        await sessions.login(db, "nobody@example.com", PASSWORD)
    assert str(wrong.value) == str(unknown.value)


# ----------------------------------------------------------------------------- rate limit


async def test_five_failures_per_email_then_refused_until_the_window_passes(db):
    ws = await workspace(db)
    await make_user(db, ws, "agent@example.com", password=PASSWORD)
    t0 = utcnow()
    for i in range(5):
        with pytest.raises(LoginFailed):
            await sessions.login(
                db, "agent@example.com", "bad", "10.0.0.1", now=t0 + timedelta(seconds=i)
            )
    with pytest.raises(LoginRateLimited) as limited:
        await sessions.login(
            db, "Agent@Example.com", PASSWORD, "10.0.0.1", now=t0 + timedelta(minutes=1)
        )
    # Frees when the first failure (t0) is 15 minutes old: 14 minutes from now.
    assert limited.value.retry_after == 14 * 60
    assert "try again in 14 minutes" in limited.value.message
    # The refused attempt was not counted: after the window, the right password works.
    ok = await sessions.login(
        db, "agent@example.com", PASSWORD, "10.0.0.1", now=t0 + timedelta(minutes=15, seconds=1)
    )
    assert ok.user.email == "agent@example.com"


async def test_someone_knowing_the_address_cannot_lock_the_owner_out(db):
    """Failures from other clients slow the e-mail down (growing delays, at most a
    minute); the owner signs in from their own client."""
    ws = await workspace(db)
    await make_user(db, ws, "agent@example.com", password=PASSWORD)
    t0 = utcnow()
    for i in range(5):
        with pytest.raises(LoginFailed):
            await sessions.login(
                db, "agent@example.com", "bad", "10.0.0.1", now=t0 + timedelta(seconds=i)
            )
    owner = await sessions.login(
        db, "agent@example.com", PASSWORD, "10.0.0.2", now=t0 + timedelta(seconds=10)
    )
    assert owner.token
    # A distributed guesser (a new address each time): after 10 failures, each attempt
    # waits 2, 4, 8… s after the last failure, never more than a minute.
    now = t0 + timedelta(seconds=20)
    for i in range(5, 10):
        with pytest.raises(LoginFailed):
            await sessions.login(db, "agent@example.com", "bad", f"10.1.0.{i}", now=now)
    with pytest.raises(LoginRateLimited) as slowed:
        await sessions.login(db, "agent@example.com", PASSWORD, "10.0.0.2", now=now)
    assert slowed.value.retry_after == 2
    later = now + timedelta(seconds=2)
    assert (await sessions.login(db, "agent@example.com", PASSWORD, "10.0.0.2", now=later)).token
    for i in range(30):  # many more failures: the delay stops growing at a minute
        later += timedelta(minutes=1, seconds=1)
        with pytest.raises(LoginFailed):
            await sessions.login(db, "agent@example.com", "bad", f"10.2.{i}.1", now=later)
    with pytest.raises(LoginRateLimited) as capped:
        await sessions.login(db, "agent@example.com", PASSWORD, "10.0.0.2", now=later)
    assert capped.value.retry_after == 60


async def test_a_success_does_not_count_and_old_rows_are_pruned(db):
    ws = await workspace(db)
    await make_user(db, ws, "agent@example.com", password=PASSWORD)
    t0 = utcnow() - timedelta(hours=1)
    for _ in range(4):
        with pytest.raises(LoginFailed):
            await sessions.login(db, "agent@example.com", "bad", now=t0)
    await sessions.login(db, "agent@example.com", PASSWORD, now=t0)
    with pytest.raises(LoginFailed):  # the 5th failure, not refused: the success did not count
        await sessions.login(db, "agent@example.com", "bad", now=t0)
    with pytest.raises(LoginRateLimited):
        await sessions.login(db, "agent@example.com", PASSWORD, now=t0)
    with pytest.raises(LoginFailed):  # an hour later: a new failure prunes the old rows
        await sessions.login(db, "agent@example.com", "bad")
    async with db.read() as session:
        # One failure left, counted under its two keys (e-mail from this client, anywhere).
        assert await session.scalar(select(func.count()).select_from(LoginAttempt)) == 2


async def test_per_address_limit_spans_e_mails(db, monkeypatch):
    monkeypatch.setattr(sessions, "MAX_FAILURES_PER_IP", 3)
    ws = await workspace(db)
    await make_user(db, ws, "agent@example.com", password=PASSWORD)
    for i in range(3):
        with pytest.raises(LoginFailed):
            await sessions.login(db, f"guess{i}@example.com", "bad", "192.0.2.7")
    with pytest.raises(LoginRateLimited):
        await sessions.login(db, "agent@example.com", PASSWORD, "192.0.2.7")
    assert (await sessions.login(db, "agent@example.com", PASSWORD, "192.0.2.8")).token


async def test_concurrent_guesses_never_exceed_the_limit(db):
    ws = await workspace(db)
    await make_user(db, ws, "agent@example.com", password=PASSWORD)

    async def guess(i: int):
        try:
            await sessions.login(db, "agent@example.com", f"guess number {i}")
        except (LoginFailed, LoginRateLimited) as exc:
            return type(exc)

    outcomes = await asyncio.gather(*(guess(i) for i in range(12)))
    assert outcomes.count(LoginFailed) <= 5
    assert outcomes.count(LoginRateLimited) >= 7
