"""Sign-in, sessions and access through the real HTTP server, on SQLite and PostgreSQL:
cookie flags, the CSRF header, expiry, revocation, disabled users, the rate limit, user
and token management, and who may do what."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select, update

from madoguchi.store.models import LoginAttempt, UserSession, utcnow
from tests.access.people import CSRF, PASSWORD, add_token, add_user, signed_in

LOGIN = "/api/v1/auth/login"


async def login(stack, email: str, password: str = PASSWORD, **headers) -> httpx.Response:
    return await stack.client.post(
        LOGIN, json={"email": email, "password": password}, headers={**CSRF, **headers}
    )


# ----------------------------------------------------------------------------- sign-in


async def test_login_sets_a_strict_httponly_cookie_and_returns_the_user(stack):
    user_id = await add_user(stack.runtime.db, "Aiko@ACME.test", "agent")
    response = await login(stack, "aiko@acme.test")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["id"] == user_id
    assert body["user"]["email"] == "aiko@acme.test"
    assert body["role"] == "agent" and body["via"] == "session"
    assert body["workspace"]["slug"] == "acme"
    assert "argon2" not in response.text and PASSWORD not in response.text
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("madoguchi_session=mds_")
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags
    assert "samesite=strict" in flags
    assert "path=/" in flags
    assert "secure" not in flags  # plain http here
    assert not any(f.startswith(("max-age", "expires")) for f in flags)


async def test_cookie_is_secure_behind_https(stack):
    await add_user(stack.runtime.db, "aiko@acme.test", "agent")
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1, as from a local TLS proxy.
    response = await login(stack, "aiko@acme.test", **{"X-Forwarded-Proto": "https"})
    assert response.status_code == 200
    assert "secure" in [p.strip().lower() for p in response.headers["set-cookie"].split(";")]


async def test_me_logout_and_the_cookie_no_longer_works(stack):
    await add_user(stack.runtime.db, "aiko@acme.test", "agent")
    async with signed_in(stack.url, "aiko@acme.test") as client:
        me = await client.get("/api/v1/auth/me")
        assert me.status_code == 200 and me.json()["user"]["email"] == "aiko@acme.test"
        stolen = client.cookies["madoguchi_session"]
        assert (await client.post("/api/v1/auth/logout")).status_code == 403  # CSRF header
        out = await client.post("/api/v1/auth/logout", headers=CSRF)
        assert out.status_code == 204
        assert 'madoguchi_session=""' in out.headers["set-cookie"]
        assert (await client.get("/api/v1/auth/me")).status_code == 401
    replay = await stack.client.get(
        "/api/v1/auth/me", headers={"Cookie": f"madoguchi_session={stolen}"}
    )
    assert replay.status_code == 401
    assert "sign in again" in replay.text


async def test_me_with_a_workspace_token(stack):
    me = await stack.api("GET", "/api/v1/auth/me")
    assert me.status_code == 200
    assert me.json()["user"] is None
    assert me.json()["role"] == "admin" and me.json()["via"] == "token"


async def test_no_credentials_and_bad_credentials_are_401(stack):
    assert (await stack.client.get("/api/v1/auth/me")).status_code == 401
    bad = await stack.client.get("/api/v1/auth/me", headers={"Authorization": "Bearer mdg_nope"})
    assert bad.status_code == 401
    forged = await stack.client.get(
        "/api/v1/auth/me", headers={"Cookie": "madoguchi_session=mds_x"}
    )
    assert forged.status_code == 401


async def test_login_needs_the_csrf_header(stack):
    await add_user(stack.runtime.db, "aiko@acme.test", "agent")
    response = await stack.client.post(
        LOGIN, json={"email": "aiko@acme.test", "password": PASSWORD}
    )
    assert response.status_code == 403
    assert response.json()["detail"]["code"] == "csrf_header_missing"
    assert "set-cookie" not in response.headers


async def test_wrong_password_and_unknown_email_look_the_same(stack):
    await add_user(stack.runtime.db, "aiko@acme.test", "agent")
    wrong = await login(stack, "aiko@acme.test", "not the password")
    unknown = await login(stack, "nobody@acme.test")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["detail"]["code"] == "invalid_credentials"


# ----------------------------------------------------------------------------- CSRF


async def test_cookie_requests_with_unsafe_methods_need_the_csrf_header(stack):
    await add_user(stack.runtime.db, "root@acme.test", "admin")
    async with signed_in(stack.url, "root@acme.test") as client:
        body = {"name": "ci", "role": "agent"}
        refused = await client.post("/api/v1/tokens", json=body)
        assert refused.status_code == 403
        assert "X-Requested-With: madoguchi" in refused.text
        assert (await client.patch("/api/v1/users/me", json={"name": "R"})).status_code == 403
        assert (await client.get("/api/v1/tokens")).status_code == 200  # safe methods pass
        assert (await client.post("/api/v1/tokens", json=body, headers=CSRF)).status_code == 201
    # A bearer token is never sent by a browser on its own: no header needed.
    assert (await stack.api("POST", "/api/v1/tokens", json=body)).status_code == 201


# ----------------------------------------------------------------------------- expiry


async def test_expired_session_is_refused_and_use_slides_the_expiry(stack):
    await add_user(stack.runtime.db, "aiko@acme.test", "agent")
    async with signed_in(stack.url, "aiko@acme.test") as client:
        now = utcnow()
        async with stack.runtime.db.write() as session:
            await session.execute(
                update(UserSession).values(
                    last_seen_at=now - timedelta(hours=11), expires_at=now + timedelta(hours=1)
                )
            )
        assert (await client.get("/api/v1/auth/me")).status_code == 200
        async with stack.runtime.db.read() as session:
            row = await session.scalar(select(UserSession))
        assert row.expires_at - utcnow() > timedelta(hours=11, minutes=58)

        async with stack.runtime.db.write() as session:
            await session.execute(update(UserSession).values(expires_at=utcnow()))
        assert (await client.get("/api/v1/auth/me")).status_code == 401


async def test_revoked_session_is_refused(stack):
    await add_user(stack.runtime.db, "aiko@acme.test", "agent")
    async with signed_in(stack.url, "aiko@acme.test") as client:
        async with stack.runtime.db.write() as session:
            await session.execute(update(UserSession).values(revoked_at=utcnow()))
        assert (await client.get("/api/v1/auth/me")).status_code == 401


async def test_disabled_user_is_signed_out_and_cannot_sign_in(stack):
    user_id = await add_user(stack.runtime.db, "aiko@acme.test", "agent")
    _, personal = await add_token(stack.runtime.db, "agent", user_id=user_id)
    async with signed_in(stack.url, "aiko@acme.test") as client:
        assert (await stack.api("DELETE", f"/api/v1/users/{user_id}")).status_code == 204
        assert (await client.get("/api/v1/auth/me")).status_code == 401
    again = await login(stack, "aiko@acme.test")
    assert again.status_code == 401
    assert again.json() == (await login(stack, "nobody@acme.test")).json()
    as_token = await stack.client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {personal}"}
    )
    assert as_token.status_code == 401
    listed = await stack.api("GET", f"/api/v1/users/{user_id}")
    assert listed.json()["disabled"] is True


# ----------------------------------------------------------------------------- rate limit


async def test_five_failures_then_429_other_email_unaffected_success_after_window(stack):
    db = stack.runtime.db
    await add_user(db, "aiko@acme.test", "agent")
    await add_user(db, "ben@acme.test", "agent")
    for _ in range(5):
        assert (await login(stack, "aiko@acme.test", "wrong password")).status_code == 401
    limited = await login(stack, "aiko@acme.test")  # even the right password waits
    assert limited.status_code == 429
    retry_after = int(limited.headers["Retry-After"])
    assert 14 * 60 < retry_after <= 15 * 60
    assert "too many failed sign-in attempts" in limited.json()["detail"]["message"]
    assert "set-cookie" not in limited.headers
    # The same client address, another e-mail: not affected (5 < 30 per address).
    assert (await login(stack, "ben@acme.test", "wrong password")).status_code == 401
    assert (await login(stack, "ben@acme.test")).status_code == 200
    # Fifteen minutes later the window has passed.
    async with db.write() as session:
        for attempt in await session.scalars(select(LoginAttempt)):
            attempt.at -= timedelta(minutes=15, seconds=1)
    assert (await login(stack, "aiko@acme.test")).status_code == 200


# ----------------------------------------------------------------------------- roles


async def test_roles_on_user_and_token_management(stack):
    db = stack.runtime.db
    await add_user(db, "root@acme.test", "admin")
    await add_user(db, "sam@acme.test", "supervisor")
    await add_user(db, "aiko@acme.test", "agent")
    for email, expected in [
        ("root@acme.test", 200),
        ("sam@acme.test", 403),
        ("aiko@acme.test", 403),
    ]:
        async with signed_in(stack.url, email) as client:
            assert (await client.get("/api/v1/users")).status_code == expected, email
            assert (await client.get("/api/v1/tokens")).status_code == expected, email
            created = await client.post(
                "/api/v1/users",
                json={"email": f"new-{email}", "name": "N", "role": "agent"},
                headers=CSRF,
            )
            assert created.status_code == (201 if expected == 200 else 403), email


# ----------------------------------------------------------------------------- users


async def test_admin_manages_users(stack):
    create = await stack.api(
        "POST",
        "/api/v1/users",
        json={"email": " Ken@ACME.test", "name": "Ken", "role": "agent", "password": PASSWORD},
    )
    assert create.status_code == 201, create.text
    ken = create.json()
    assert ken["email"] == "ken@acme.test" and ken["has_password"] is True
    duplicate = await stack.api(
        "POST", "/api/v1/users", json={"email": "KEN@acme.test", "name": "K", "role": "agent"}
    )
    assert duplicate.status_code == 409
    short = await stack.api(
        "POST",
        "/api/v1/users",
        json={"email": "x@acme.test", "name": "X", "role": "agent", "password": "short"},
    )
    assert short.status_code == 422
    assert short.json()["detail"]["field"] == "password"
    assert "at least 10 characters" in short.json()["detail"]["message"]
    bad_role = await stack.api(
        "POST", "/api/v1/users", json={"email": "y@acme.test", "name": "Y", "role": "owner"}
    )
    assert bad_role.status_code == 422

    patched = await stack.api(
        "PATCH", f"/api/v1/users/{ken['id']}", json={"role": "supervisor", "locale": "ja"}
    )
    assert patched.status_code == 200
    assert (patched.json()["role"], patched.json()["locale"]) == ("supervisor", "ja")
    listed = await stack.api("GET", "/api/v1/users")
    assert [u["email"] for u in listed.json()] == ["ken@acme.test"]
    assert (await stack.api("GET", "/api/v1/users/999999")).status_code == 404


async def test_admin_cannot_remove_the_last_admin(stack):
    root = await add_user(stack.runtime.db, "root@acme.test", "admin")
    demote = await stack.api("PATCH", f"/api/v1/users/{root}", json={"role": "agent"})
    assert demote.status_code == 409
    assert demote.json()["detail"]["code"] == "last_admin"
    assert (await stack.api("DELETE", f"/api/v1/users/{root}")).status_code == 409


async def test_password_reset_by_admin_ends_the_users_sessions(stack):
    user_id = await add_user(stack.runtime.db, "aiko@acme.test", "agent")
    async with signed_in(stack.url, "aiko@acme.test") as client:
        reset = await stack.api(
            "PATCH", f"/api/v1/users/{user_id}", json={"password": "a brand new password"}
        )
        assert reset.status_code == 200
        assert (await client.get("/api/v1/auth/me")).status_code == 401
    assert (await login(stack, "aiko@acme.test", "a brand new password")).status_code == 200


async def test_users_change_their_own_profile_and_password(stack):
    await add_user(stack.runtime.db, "aiko@acme.test", "agent")
    async with (
        signed_in(stack.url, "aiko@acme.test") as here,
        signed_in(stack.url, "aiko@acme.test") as elsewhere,
    ):
        renamed = await here.patch(
            "/api/v1/users/me", json={"name": "Aiko S.", "locale": "ja"}, headers=CSRF
        )
        assert renamed.status_code == 200
        assert (renamed.json()["name"], renamed.json()["locale"]) == ("Aiko S.", "ja")
        no_current = await here.patch(
            "/api/v1/users/me", json={"password": "a new password!"}, headers=CSRF
        )
        assert no_current.json()["detail"]["code"] == "current_password_required"
        wrong = await here.patch(
            "/api/v1/users/me",
            json={"password": "a new password!", "current_password": "not mine at all"},
            headers=CSRF,
        )
        assert wrong.status_code == 422
        assert wrong.json()["detail"]["code"] == "current_password_wrong"
        short = await here.patch(
            "/api/v1/users/me",
            json={"password": "short", "current_password": PASSWORD},
            headers=CSRF,
        )
        assert short.status_code == 422 and short.json()["detail"]["field"] == "password"
        changed = await here.patch(
            "/api/v1/users/me",
            json={"password": "a new password!", "current_password": PASSWORD},
            headers=CSRF,
        )
        assert changed.status_code == 200
        assert (await here.get("/api/v1/auth/me")).status_code == 200  # this session stays
        assert (await elsewhere.get("/api/v1/auth/me")).status_code == 401  # others end
    assert (await login(stack, "aiko@acme.test")).status_code == 401
    assert (await login(stack, "aiko@acme.test", "a new password!")).status_code == 200


async def test_wrong_current_passwords_are_rate_limited(stack):
    await add_user(stack.runtime.db, "aiko@acme.test", "agent")
    async with signed_in(stack.url, "aiko@acme.test") as client:
        body = {"password": "a new password!", "current_password": "guess guess"}
        for _ in range(5):
            r = await client.patch("/api/v1/users/me", json=body, headers=CSRF)
            assert r.status_code == 422
        r = await client.patch("/api/v1/users/me", json=body, headers=CSRF)
        assert r.status_code == 429 and "Retry-After" in r.headers


async def test_workspace_token_has_no_me_to_change(stack):
    r = await stack.api("PATCH", "/api/v1/users/me", json={"name": "X"})
    assert r.status_code == 403 and r.json()["detail"]["code"] == "not_a_user"


# ----------------------------------------------------------------------------- tokens


async def test_tokens_are_shown_once_listed_and_revoked(stack):
    created = await stack.api("POST", "/api/v1/tokens", json={"name": "crm", "role": "agent"})
    assert created.status_code == 201
    token = created.json()["token"]
    token_id = created.json()["id"]
    assert token.startswith("mdg_")
    listed = await stack.api("GET", "/api/v1/tokens")
    assert token not in listed.text
    assert {"crm", "tests"} <= {t["name"] for t in listed.json()}
    headers = {"Authorization": f"Bearer {token}"}
    me = await stack.client.get("/api/v1/auth/me", headers=headers)
    assert me.json()["role"] == "agent"
    assert (await stack.api("DELETE", f"/api/v1/tokens/{token_id}")).status_code == 204
    assert (await stack.client.get("/api/v1/auth/me", headers=headers)).status_code == 401
    revoked = [t for t in (await stack.api("GET", "/api/v1/tokens")).json() if t["id"] == token_id]
    assert revoked[0]["revoked_at"] is not None
    assert (await stack.api("DELETE", "/api/v1/tokens/999999")).status_code == 404


async def test_a_users_token_cannot_outrank_the_user(stack):
    agent = await add_user(stack.runtime.db, "aiko@acme.test", "agent")
    above = await stack.api(
        "POST", "/api/v1/tokens", json={"name": "x", "role": "admin", "user_id": agent}
    )
    assert above.status_code == 422 and above.json()["detail"]["code"] == "role_above_user"
    mine = await stack.api(
        "POST", "/api/v1/tokens", json={"name": "x", "role": "agent", "user_id": agent}
    )
    assert mine.status_code == 201
    me = await stack.client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {mine.json()['token']}"}
    )
    assert me.json()["user"]["id"] == agent
