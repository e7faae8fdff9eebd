"""Browser sign-in: e-mail and password in, a session token out; and the rate limit on it.

A session token is random (like an API token) and only its SHA-256 is stored in
``user_sessions``. It expires after ``SESSION_TTL`` without use (sliding: every use
pushes the expiry out again, written at most once per ``SLIDE_EVERY`` to spare the
database), when the user signs out, when the user is disabled, and when the password
changes.

Failed sign-ins are rows in ``login_attempts``, so every process of a scaled deployment
sees the same counts. Each attempt is written *before* the password is checked and counted
*after* that write is committed: among any number of concurrent attempts, at most the limit
get their password checked per window, whatever the interleaving. A successful or refused
attempt removes its rows again, so only failures count.

The limits count an e-mail *together with* the client address: five wrong passwords for
an address from one client hold that client back for the window, while the owner signing
in from elsewhere is at most slowed down (growing delays across all clients), never
locked out by someone who merely knows the address.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.services.access.tokens import Principal
from madoguchi.services.access.users import (
    burn_verification_time,
    find_user_by_email,
    normalize_email,
    password_matches,
)
from madoguchi.store.db import Database
from madoguchi.store.models import LoginAttempt, User, UserSession, utcnow

SESSION_PREFIX = "mds_"
SESSION_TTL = timedelta(hours=12)
SLIDE_EVERY = timedelta(minutes=1)

LOGIN_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL = 5  # …from one client address (e-mail and client together)
MAX_FAILURES_PER_IP = 30
# From every client together, an e-mail is slowed down, never locked: past this many
# failures each further attempt waits 2, 4, 8… seconds after the last failure, at most
# MAX_EMAIL_DELAY. Someone who only knows an address cannot keep its owner out.
FREE_FAILURES_PER_EMAIL_ANYWHERE = 10
MAX_EMAIL_DELAY = timedelta(minutes=1)


class LoginFailed(Exception):
    """Wrong e-mail, wrong password or disabled user: deliberately indistinguishable."""

    message = "the e-mail address or the password is not correct"

    def __init__(self) -> None:
        super().__init__(self.message)


class LoginRateLimited(Exception):
    """Too many failed sign-ins for this e-mail or from this address; retry later."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        minutes = max(1, math.ceil(retry_after / 60))
        self.message = (
            "too many failed sign-in attempts: try again in "
            f"{minutes} minute{'s' if minutes != 1 else ''}"
        )
        super().__init__(self.message)


@dataclass(frozen=True, slots=True)
class LoginResult:
    user: User
    token: str  # plaintext, for the cookie; never stored
    expires_at: datetime


def hash_session_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ----------------------------------------------------------------------------- rate limit


@dataclass(frozen=True, slots=True)
class _Rule:
    limit: int  # failures in the window before the key is held back
    growing: bool = False  # False: refused until the window frees one; True: 2^n s delays


def _limits(email: str, client_ip: str | None) -> dict[str, _Rule]:
    """The keys an attempt counts under: the e-mail from this client (locked after 5),
    the client (locked after 30, whatever e-mails), the e-mail from anywhere (slowed)."""
    try:
        key = normalize_email(email)
    except ValueError:
        key = (email or "").strip().lower()[:254]
    client = (client_ip or "-")[:280]
    limits = {
        f"email:{key}|{client}": _Rule(MAX_FAILURES_PER_EMAIL),
        f"email:{key}": _Rule(FREE_FAILURES_PER_EMAIL_ANYWHERE, growing=True),
    }
    if client_ip:
        limits[f"ip:{client}"] = _Rule(MAX_FAILURES_PER_IP)
    return limits


def _wait(rule: _Rule, times: list[datetime], now: datetime) -> int:
    """Seconds this attempt must wait under ``rule``, given the others' failure times."""
    if len(times) < rule.limit:
        return 0
    if rule.growing:
        delay = min(timedelta(seconds=2 ** (len(times) - rule.limit + 1)), MAX_EMAIL_DELAY)
        frees_at = times[-1] + delay
    else:
        # This attempt fits once len(times) - limit + 1 of the others have aged out.
        frees_at = times[len(times) - rule.limit] + LOGIN_WINDOW
    return max(math.ceil((frees_at - now).total_seconds()), 0)


async def _begin_attempt(db: Database, limits: dict[str, _Rule], now: datetime) -> list[int]:
    """Record the attempt, then count it with every other committed one; refuse when over."""
    async with db.write() as session:
        rows = [LoginAttempt(key=key, at=now) for key in limits]
        session.add_all(rows)
        await session.flush()
        ids = [row.id for row in rows]
    since = now - LOGIN_WINDOW
    retry_after = 0
    async with db.read() as session:
        for key, rule in limits.items():
            times = (
                await session.scalars(
                    select(LoginAttempt.at)
                    .where(
                        LoginAttempt.key == key,
                        LoginAttempt.at > since,
                        LoginAttempt.id.not_in(ids),
                    )
                    .order_by(LoginAttempt.at)
                )
            ).all()
            wait = _wait(rule, list(times), now)
            if wait:
                retry_after = max(retry_after, wait)
    if retry_after:
        await _forget(db, ids)
        raise LoginRateLimited(retry_after)
    return ids


async def _forget(db: Database, ids: list[int]) -> None:
    async with db.write() as session:
        await session.execute(delete(LoginAttempt).where(LoginAttempt.id.in_(ids)))


async def _prune(db: Database, now: datetime) -> None:
    async with db.write() as session:
        await session.execute(delete(LoginAttempt).where(LoginAttempt.at <= now - LOGIN_WINDOW))


# ----------------------------------------------------------------------------- sign-in


async def login(
    db: Database,
    email: str,
    password: str,
    client_ip: str | None = None,
    *,
    now: datetime | None = None,
) -> LoginResult:
    """Check the password and open a session; raises ``LoginFailed`` or ``LoginRateLimited``."""
    now = now or utcnow()
    attempt = await _begin_attempt(db, _limits(email, client_ip), now)
    # The slow hash is checked outside any transaction (SQLite has one writer at a time).
    async with db.read() as session:
        user = await find_user_by_email(session, email)
    if user is None:
        await burn_verification_time(password)
        ok, upgraded = False, None
    else:
        verified = user.password_hash
        ok, upgraded = await password_matches(verified, password)
    if ok:
        token = SESSION_PREFIX + secrets.token_urlsafe(32)
        expires_at = now + SESSION_TTL
        async with db.write() as session:
            user = await session.get(User, user.id)
            # Still the same user, enabled, and the password not changed in the meantime.
            ok = user is not None and not user.disabled and user.password_hash == verified
            if ok:
                if upgraded is not None:
                    user.password_hash = upgraded
                user.last_login_at = now
                session.add(
                    UserSession(
                        workspace_id=user.workspace_id,
                        user_id=user.id,
                        token_hash=hash_session_token(token),
                        created_at=now,
                        expires_at=expires_at,
                        last_seen_at=now,
                    )
                )
    if not ok:
        await _prune(db, now)
        raise LoginFailed()
    await _forget(db, attempt)
    return LoginResult(user=user, token=token, expires_at=expires_at)


async def check_password_limited(
    db: Database,
    user_id: int,
    password: str,
    client_ip: str | None = None,
    *,
    now: datetime | None = None,
) -> bool:
    """Check a signed-in user's password (e.g. before changing it) under the sign-in rate
    limit, so a borrowed session cannot be used to guess it; a wrong one counts."""
    now = now or utcnow()
    async with db.read() as session:
        user = await session.get(User, user_id)
    if user is None:
        return False
    attempt = await _begin_attempt(db, _limits(user.email, client_ip), now)
    ok, _ = await password_matches(user.password_hash, password)
    if ok:
        await _forget(db, attempt)
    else:
        await _prune(db, now)
    return ok


async def logout(session: AsyncSession, token: str, *, now: datetime | None = None) -> int | None:
    """Revoke the session of ``token``: the id of its user, or None when there was no
    live one."""
    row = await session.scalar(
        select(UserSession).where(
            UserSession.token_hash == hash_session_token(token), UserSession.revoked_at.is_(None)
        )
    )
    if row is None:
        return None
    row.revoked_at = now or utcnow()
    await session.flush()
    return row.user_id


# ----------------------------------------------------------------------------- lookups


async def _live(
    session: AsyncSession, token: str, now: datetime
) -> tuple[UserSession, User] | None:
    if not token or not token.startswith(SESSION_PREFIX):
        return None
    found = (
        await session.execute(
            select(UserSession, User)
            .join(User, User.id == UserSession.user_id)
            .where(
                UserSession.token_hash == hash_session_token(token),
                UserSession.revoked_at.is_(None),
                UserSession.expires_at > now,
                User.disabled.is_(False),
                User.workspace_id == UserSession.workspace_id,
            )
        )
    ).first()
    return None if found is None else (found[0], found[1])


def _principal(row: UserSession, user: User) -> Principal:
    return Principal(workspace_id=row.workspace_id, role=user.role, user_id=user.id)


def _stale(row: UserSession, now: datetime) -> bool:
    return row.last_seen_at is None or now - row.last_seen_at >= SLIDE_EVERY


async def principal_for_session(
    session: AsyncSession, token: str, *, now: datetime | None = None
) -> Principal | None:
    """Who a live session token signs in (role read from the user, so changes apply at
    once), or None. Slides the expiry on ``session``: commit it to keep the new expiry."""
    now = now or utcnow()
    found = await _live(session, token, now)
    if found is None:
        return None
    row, user = found
    if _stale(row, now):
        row.last_seen_at = now
        row.expires_at = now + SESSION_TTL
        await session.flush()
    return _principal(row, user)


async def authenticate_session(
    db: Database, token: str, *, now: datetime | None = None
) -> Principal | None:
    """``principal_for_session`` for a request: one read, and a write only when sliding."""
    now = now or utcnow()
    async with db.read() as session:
        found = await _live(session, token, now)
        if found is None:
            return None
        row, user = found
        if not _stale(row, now):
            return _principal(row, user)
    async with db.write() as session:
        return await principal_for_session(session, token, now=now)
