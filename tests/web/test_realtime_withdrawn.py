"""A websocket lives only as long as its credentials: revoking the token, signing out,
disabling the user, changing the password or the role closes it with 4401 (the bus tells
the hub, which re-checks the credentials), while other people's sockets stay open."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from madoguchi.web.deps import SESSION_COOKIE
from tests.access import people
from tests.web.test_realtime import TIMEOUT, Live, ws_url

CSRF = {"X-Requested-With": "madoguchi"}


async def sign_in(stack, email: str) -> str:
    response = await stack.client.post(
        "/api/v1/auth/login", json={"email": email, "password": people.PASSWORD}, headers=CSRF
    )
    assert response.status_code == 200, response.text
    stack.client.cookies.clear()  # the cookie is handed to one socket, not kept here
    return response.cookies[SESSION_COOKIE]


async def socket_of(stack, *, token: str | None = None, cookie: str | None = None):
    headers = {"Origin": stack.url}
    if cookie:
        headers["Cookie"] = f"{SESSION_COOKIE}={cookie}"
    ws = await connect(ws_url(stack.url, token), additional_headers=headers)
    assert (await Live(ws).next())["event"] == "hello"
    return ws


async def closed_with(ws) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(TIMEOUT):
            while True:
                await ws.recv()
    return closed.value.rcvd.code


async def still_open(ws) -> None:
    await ws.send(json.dumps({"event": "ping"}))
    async with asyncio.timeout(TIMEOUT):
        while json.loads(await ws.recv())["event"] != "pong":
            pass
    await ws.close()


async def bystander(stack):
    user = await people.add_user(stack.runtime.db, "bystander@acme.test", "agent")
    _, token = await people.add_token(stack.runtime.db, "agent", user_id=user)
    return await socket_of(stack, token=token)


async def test_revoking_a_token_closes_its_sockets(stack):
    user = await people.add_user(stack.runtime.db, "ann@acme.test", "agent")
    token_id, token = await people.add_token(stack.runtime.db, "agent", user_id=user)
    ws, other = await socket_of(stack, token=token), await bystander(stack)
    response = await stack.api("DELETE", f"/api/v1/tokens/{token_id}")
    assert response.status_code == 204
    assert await closed_with(ws) == 4401
    await still_open(other)


async def test_signing_out_closes_that_sessions_socket_only(stack):
    await people.add_user(stack.runtime.db, "ann@acme.test", "agent")
    first, second = await sign_in(stack, "ann@acme.test"), await sign_in(stack, "ann@acme.test")
    ws_first = await socket_of(stack, cookie=first)
    ws_second = await socket_of(stack, cookie=second)
    response = await stack.client.post(
        "/api/v1/auth/logout", headers={**CSRF, "Cookie": f"{SESSION_COOKIE}={first}"}
    )
    assert response.status_code == 204
    assert await closed_with(ws_first) == 4401
    await still_open(ws_second)


async def test_disabling_a_user_closes_their_sockets(stack):
    user = await people.add_user(stack.runtime.db, "ann@acme.test", "agent")
    _, token = await people.add_token(stack.runtime.db, "agent", user_id=user)
    ws_session = await socket_of(stack, cookie=await sign_in(stack, "ann@acme.test"))
    ws_token, other = await socket_of(stack, token=token), await bystander(stack)
    assert (await stack.api("DELETE", f"/api/v1/users/{user}")).status_code == 204
    assert await closed_with(ws_session) == 4401
    assert await closed_with(ws_token) == 4401
    await still_open(other)


async def test_an_admin_resetting_the_password_closes_the_users_session_sockets(stack):
    user = await people.add_user(stack.runtime.db, "ann@acme.test", "agent")
    ws, other = await socket_of(stack, cookie=await sign_in(stack, "ann@acme.test")), None
    other = await bystander(stack)
    response = await stack.api(
        "PATCH", f"/api/v1/users/{user}", json={"password": "another long password"}
    )
    assert response.status_code == 200, response.text
    assert await closed_with(ws) == 4401
    await still_open(other)


async def test_changing_ones_own_password_closes_the_other_sessions_sockets(stack):
    await people.add_user(stack.runtime.db, "ann@acme.test", "agent")
    here, elsewhere = await sign_in(stack, "ann@acme.test"), await sign_in(stack, "ann@acme.test")
    ws_here = await socket_of(stack, cookie=here)
    ws_elsewhere = await socket_of(stack, cookie=elsewhere)
    response = await stack.client.patch(
        "/api/v1/users/me",
        headers={**CSRF, "Cookie": f"{SESSION_COOKIE}={here}"},
        json={"password": "another long password", "current_password": people.PASSWORD},
    )
    assert response.status_code == 200, response.text
    assert await closed_with(ws_elsewhere) == 4401
    await still_open(ws_here)


async def test_a_demotion_closes_the_socket_so_it_reconnects_with_the_new_role(stack):
    user = await people.add_user(stack.runtime.db, "sue@acme.test", "supervisor")
    cookie = await sign_in(stack, "sue@acme.test")
    ws = await socket_of(stack, cookie=cookie)
    response = await stack.api("PATCH", f"/api/v1/users/{user}", json={"role": "agent"})
    assert response.status_code == 200, response.text
    assert await closed_with(ws) == 4401
    again = await connect(
        ws_url(stack.url),
        additional_headers={"Origin": stack.url, "Cookie": f"{SESSION_COOKIE}={cookie}"},
    )
    hello = await Live(again).next()
    assert hello["role"] == "agent"
    await again.close()


async def test_a_rename_leaves_the_socket_open(stack):
    user = await people.add_user(stack.runtime.db, "ann@acme.test", "agent")
    ws = await socket_of(stack, cookie=await sign_in(stack, "ann@acme.test"))
    response = await stack.api("PATCH", f"/api/v1/users/{user}", json={"name": "Annie"})
    assert response.status_code == 200
    await still_open(ws)
