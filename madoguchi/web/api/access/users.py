"""``/api/v1/users``: the people of a workspace.

Admins manage the users of their own workspace; everyone may change their own
name, language and password at ``PATCH /api/v1/users/me``. Users are disabled, never
deleted (``DELETE`` disables), so history keeps pointing at them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field

from madoguchi.runtime import Runtime
from madoguchi.services.access import sessions, users
from madoguchi.services.access.sessions import LoginRateLimited
from madoguchi.services.access.tokens import Principal
from madoguchi.services.audit.record import Target, record
from madoguchi.store.models import User
from madoguchi.web.deps import (
    SESSION_COOKIE,
    admin_only,
    any_role,
    client_ip,
    credentials_changed,
    get_runtime,
)

router = APIRouter(prefix="/api/v1", tags=["users"])


Role = Literal["admin", "supervisor", "agent"]


Locale = Literal["en", "ja"]


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    role: Role
    locale: Locale
    disabled: bool
    has_password: bool = Field(description="False until a password is set: cannot sign in")
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, u: User) -> UserOut:
        return cls(
            id=u.id,
            email=u.email,
            name=u.name,
            role=u.role,
            locale=u.locale,
            disabled=u.disabled,
            has_password=u.password_hash is not None,
            created_at=u.created_at,
            last_login_at=u.last_login_at,
        )


class UserCreate(BaseModel):
    email: str = Field(max_length=254)
    name: str = Field(max_length=200)
    role: Role
    locale: Locale = "en"
    password: str | None = Field(
        None, max_length=users.MAX_PASSWORD_LENGTH, description="At least 10 characters"
    )


class UserUpdate(BaseModel):
    name: str | None = Field(None, max_length=200)
    role: Role | None = None
    locale: Locale | None = None
    disabled: bool | None = None
    password: str | None = Field(None, max_length=users.MAX_PASSWORD_LENGTH)


class MeUpdate(BaseModel):
    name: str | None = Field(None, max_length=200)
    locale: Locale | None = None
    password: str | None = Field(None, max_length=users.MAX_PASSWORD_LENGTH)
    current_password: str | None = Field(
        None, max_length=users.MAX_PASSWORD_LENGTH, description="Required to set `password`"
    )


def user_error(exc: users.UserError) -> HTTPException:
    status = 409 if exc.code in ("email_taken", "last_admin") else 422
    return HTTPException(status, {"code": exc.code, "field": exc.field, "message": exc.message})


def _not_found(user_id: int) -> HTTPException:
    return HTTPException(404, f"user {user_id} not found")


@router.get("/users", response_model=list[UserOut])
async def list_users(
    include_disabled: bool = True,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    async with runtime.db.read() as session:
        rows = await users.list_users(
            session, principal.workspace_id, include_disabled=include_disabled
        )
        return [UserOut.of(u) for u in rows]


@router.post("/users", response_model=UserOut, status_code=201)
async def create_user(
    body: UserCreate,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    try:
        password = await users.new_password(body.password) if body.password is not None else None
        async with runtime.db.write() as session:
            user = await users.create_user(
                session,
                principal.workspace_id,
                email=body.email,
                name=body.name,
                role=body.role,
                locale=body.locale,
                password=password,
            )
            out = UserOut.of(user)
            await record(session, principal, "user.create", _target(user), None, _audited(out))
            return out
    except users.UserError as exc:
        raise user_error(exc) from exc


def _target(user: User) -> Target:
    return Target("user", user.id, user.email)


def _audited(out: UserOut, password_changed: bool = False) -> dict:
    fields = out.model_dump(mode="json", exclude={"created_at", "last_login_at"})
    if password_changed:
        fields["password"] = "(changed)"  # shown as "(set)": the value is never logged
    return fields


@router.patch("/users/me", response_model=UserOut)
async def update_me(
    body: MeUpdate,
    request: Request,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """Change your own name, language or password (the password needs the current one)."""
    if principal.user_id is None:
        raise HTTPException(
            403, {"code": "not_a_user", "message": "this API token belongs to no user"}
        )
    if body.password is not None:
        if not body.current_password:
            raise HTTPException(
                422,
                {
                    "code": "current_password_required",
                    "field": "current_password",
                    "message": "give your current password to set a new one",
                },
            )
        try:
            users.check_password(body.password)
            ok = await sessions.check_password_limited(
                runtime.db, principal.user_id, body.current_password, client_ip(request)
            )
        except users.UserError as exc:
            raise user_error(exc) from exc
        except LoginRateLimited as exc:
            raise rate_limited(exc) from exc
        if not ok:
            raise HTTPException(
                422,
                {
                    "code": "current_password_wrong",
                    "field": "current_password",
                    "message": "the current password is not correct",
                },
            )
    cookie = request.cookies.get(SESSION_COOKIE) if principal.token_id is None else None
    try:
        password = await users.new_password(body.password) if body.password is not None else None
        async with runtime.db.write() as session:
            user = await users.get_user(session, principal.workspace_id, principal.user_id)
            if user is None:
                raise _not_found(principal.user_id)
            before = _audited(UserOut.of(user))
            await users.update_user(
                session, user, users.UserChanges(name=body.name, locale=body.locale)
            )
            if password is not None:
                await users.set_password(
                    session,
                    user,
                    password,
                    keep_session_hash=sessions.hash_session_token(cookie) if cookie else None,
                )
            out = UserOut.of(user)
            after = _audited(out, password_changed=password is not None)
            await record(session, principal, "user.update_own", _target(user), before, after)
    except users.UserError as exc:
        raise user_error(exc) from exc
    if password is not None:  # the user's other sessions ended: close their sockets
        await credentials_changed(runtime, principal.workspace_id, user_id=principal.user_id)
    return out


@router.get("/users/{user_id}", response_model=UserOut)
async def get_user(
    user_id: int,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    async with runtime.db.read() as session:
        user = await users.get_user(session, principal.workspace_id, user_id)
    if user is None:
        raise _not_found(user_id)
    return UserOut.of(user)


@router.patch("/users/{user_id}", response_model=UserOut)
async def update_user(
    user_id: int,
    body: UserUpdate,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    """Rename, change role or language, disable/enable, or reset the password (which
    signs the user out everywhere)."""
    changes = body.model_dump()
    try:
        if body.password is not None:
            changes["password"] = await users.new_password(body.password)
        async with runtime.db.write() as session:
            user = await users.get_user(session, principal.workspace_id, user_id)
            if user is None:
                raise _not_found(user_id)
            before = _audited(UserOut.of(user))
            await users.update_user(session, user, users.UserChanges(**changes))
            out = UserOut.of(user)
            after = _audited(out, password_changed=body.password is not None)
            await record(session, principal, "user.update", _target(user), before, after)
    except users.UserError as exc:
        raise user_error(exc) from exc
    await credentials_changed(runtime, principal.workspace_id, user_id=user_id)
    return out


@router.delete("/users/{user_id}", status_code=204)
async def disable_user(
    user_id: int,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    """Disable the user: they cannot sign in, their sessions and tokens stop working."""
    try:
        async with runtime.db.write() as session:
            user = await users.get_user(session, principal.workspace_id, user_id)
            if user is None:
                raise _not_found(user_id)
            before = _audited(UserOut.of(user))
            await users.update_user(session, user, users.UserChanges(disabled=True))
            after = _audited(UserOut.of(user))
            await record(session, principal, "user.disable", _target(user), before, after)
    except users.UserError as exc:
        raise user_error(exc) from exc
    await credentials_changed(runtime, principal.workspace_id, user_id=user_id)
    return Response(status_code=204)


def rate_limited(exc: LoginRateLimited) -> HTTPException:
    return HTTPException(
        429,
        {"code": "rate_limited", "message": exc.message, "retry_after": exc.retry_after},
        headers={"Retry-After": str(exc.retry_after)},
    )
