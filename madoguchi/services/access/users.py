"""Users: the people who sign in (admin, supervisor, agent), one workspace each.

Passwords are hashed with Argon2id (argon2-cffi's ``PasswordHasher``). Hashing is slow on
purpose, so it runs in a worker thread and never blocks the event loop. A stored hash made
with older parameters is replaced at the next successful sign-in.

E-mail addresses are unique across the installation (sign-in asks for an e-mail only) and
kept lower-case. Users are disabled, never deleted: conversations and reports keep pointing
at them.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.services.access.tokens import ROLES
from madoguchi.store.models import User, UserSession, utcnow

LOCALES = ("en", "ja")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # hashing megabytes of "password" is a denial of service
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

_hasher = PasswordHasher()
# Verified when the e-mail is unknown, so a failed sign-in takes as long either way.
_DUMMY_HASH = _hasher.hash("madoguchi-no-such-user")


def hash_is_current(stored: str) -> bool:
    """Whether a stored hash uses the hasher's current parameters."""
    return not _hasher.check_needs_rehash(stored)


def use_cheapest_hashing_for_tests() -> None:
    """Switch to argon2's cheapest parameters: for test suites only, never in production
    (each real hash costs about 0.1 s by design, which adds minutes to a suite)."""
    global _hasher, _DUMMY_HASH
    _hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    _DUMMY_HASH = _hasher.hash("madoguchi-no-such-user")


class UserError(ValueError):
    """A user cannot be created or changed as asked; ``field`` names the culprit."""

    def __init__(self, field: str, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.code = code


class EmailTaken(UserError):
    def __init__(self, email: str) -> None:
        super().__init__("email", f"{email} is already used by another user", "email_taken")


# ----------------------------------------------------------------------------- rules


def normalize_email(email: str) -> str:
    value = (email or "").strip().lower()
    if len(value) > 254 or not _EMAIL.match(value):
        raise UserError("email", f"{email!r} is not an e-mail address")
    return value


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(
            "password",
            f"the password must be at least {MIN_PASSWORD_LENGTH} characters long",
            "password_too_short",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(
            "password",
            f"the password must be at most {MAX_PASSWORD_LENGTH} characters long",
            "password_too_long",
        )


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise UserError("role", f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return role


def _check_locale(locale: str) -> str:
    if locale not in LOCALES:
        raise UserError("locale", f"locale must be one of {', '.join(LOCALES)}, not {locale!r}")
    return locale


def _check_name(name: str) -> str:
    value = (name or "").strip()
    if not value or len(value) > 200:
        raise UserError("name", "the name must be 1 to 200 characters long")
    return value


# ----------------------------------------------------------------------------- hashing


async def hash_password(password: str) -> str:
    """Check the password rules and return its Argon2id hash."""
    check_password(password)
    return await asyncio.to_thread(_hasher.hash, password)


@dataclass(frozen=True, slots=True)
class HashedPassword:
    """A password already checked and hashed. Hash before opening a write transaction:
    Argon2 takes a tenth of a second on purpose, and SQLite has one writer at a time."""

    hash: str


async def new_password(password: str) -> HashedPassword:
    return HashedPassword(await hash_password(password))


async def _hash_of(password: str | HashedPassword) -> str:
    if isinstance(password, HashedPassword):
        return password.hash
    return await hash_password(password)


def _verify(stored: str | None, password: str) -> bool:
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


async def password_matches(stored: str | None, password: str) -> tuple[bool, str | None]:
    """(matches, a fresh hash when the stored one used old parameters, else None)."""
    if not await asyncio.to_thread(_verify, stored, password):
        return False, None
    if _hasher.check_needs_rehash(stored):
        return True, await asyncio.to_thread(_hasher.hash, password)
    return True, None


async def verify_password(user: User, password: str) -> bool:
    """True when ``password`` is the user's; upgrades a hash made with old parameters.

    The caller commits the session to keep an upgraded hash.
    """
    ok, upgraded = await password_matches(user.password_hash, password)
    if upgraded is not None:
        user.password_hash = upgraded
    return ok


async def burn_verification_time(password: str) -> None:
    """Spend what a real verification costs (for unknown e-mails: no timing oracle)."""
    await asyncio.to_thread(_verify, None, password)


# ----------------------------------------------------------------------------- use cases


@dataclass(frozen=True, slots=True)
class UserChanges:
    name: str | None = None
    role: str | None = None
    locale: str | None = None
    disabled: bool | None = None
    password: str | HashedPassword | None = None


async def get_user(session: AsyncSession, workspace_id: int, user_id: int) -> User | None:
    return await session.scalar(
        select(User).where(User.id == user_id, User.workspace_id == workspace_id)
    )


async def find_user_by_email(session: AsyncSession, email: str) -> User | None:
    """Any workspace's user with that e-mail (sign-in), or None for a malformed e-mail."""
    try:
        normalized = normalize_email(email)
    except UserError:
        return None
    return await session.scalar(select(User).where(User.email == normalized))


async def list_users(
    session: AsyncSession, workspace_id: int, *, include_disabled: bool = True
) -> Sequence[User]:
    query = select(User).where(User.workspace_id == workspace_id).order_by(User.id)
    if not include_disabled:
        query = query.where(User.disabled.is_(False))
    return (await session.scalars(query)).all()


async def create_user(
    session: AsyncSession,
    workspace_id: int,
    *,
    email: str,
    name: str,
    role: str,
    password: str | HashedPassword | None = None,
    locale: str = "en",
) -> User:
    """A new user; without a password they cannot sign in until one is set."""
    user = User(
        workspace_id=workspace_id,
        email=normalize_email(email),
        name=_check_name(name),
        role=_check_role(role),
        locale=_check_locale(locale),
        disabled=False,
        password_hash=await _hash_of(password) if password is not None else None,
    )
    if await session.scalar(select(User.id).where(User.email == user.email)) is not None:
        raise EmailTaken(user.email)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:  # created concurrently since the check above
        raise EmailTaken(user.email) from exc
    return user


async def _active_admins(session: AsyncSession, workspace_id: int) -> int:
    return await session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.workspace_id == workspace_id, User.role == "admin", User.disabled.is_(False))
    )


async def update_user(session: AsyncSession, user: User, changes: UserChanges) -> User:
    """Apply ``changes``; disabling the user or changing the password ends their sessions.

    The last active admin of a workspace can be neither demoted nor disabled, so a
    workspace never locks itself out of its own settings.
    """
    new_role = _check_role(changes.role) if changes.role is not None else user.role
    new_disabled = changes.disabled if changes.disabled is not None else user.disabled
    losing_admin = user.role == "admin" and not user.disabled
    losing_admin = losing_admin and (new_role != "admin" or new_disabled)
    if losing_admin and await _active_admins(session, user.workspace_id) <= 1:
        raise UserError(
            "role" if new_role != "admin" else "disabled",
            "this is the workspace's last active admin: make another admin first",
            "last_admin",
        )
    end_sessions = new_disabled and not user.disabled
    if changes.name is not None:
        user.name = _check_name(changes.name)
    if changes.locale is not None:
        user.locale = _check_locale(changes.locale)
    if changes.password is not None:
        user.password_hash = await _hash_of(changes.password)
        end_sessions = True
    user.role = new_role
    user.disabled = new_disabled
    if end_sessions:
        await revoke_user_sessions(session, user.id)
    await session.flush()
    return user


async def revoke_user_sessions(
    session: AsyncSession, user_id: int, *, except_hash: str | None = None
) -> None:
    """End every browser session of a user (optionally all but the one in use)."""
    query = (
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    if except_hash is not None:
        query = query.where(UserSession.token_hash != except_hash)
    await session.execute(query)


async def set_password(
    session: AsyncSession,
    user: User,
    password: str | HashedPassword,
    *,
    keep_session_hash: str | None = None,
) -> None:
    """Set a new password and sign the user out everywhere (except ``keep_session_hash``)."""
    user.password_hash = await _hash_of(password)
    await revoke_user_sessions(session, user.id, except_hash=keep_session_hash)
    await session.flush()
