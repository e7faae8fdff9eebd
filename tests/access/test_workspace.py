"""The workspace's settings (``/api/v1/workspace``): name and time zone, read by everyone,
changed by admins only, returned by ``/auth/me`` for the web app; on both databases."""

from __future__ import annotations

from sqlalchemy import select

from madoguchi.store.models import Workspace
from tests.access.people import CSRF, add_token, add_user, signed_in


async def headers_for(stack, role: str, workspace: str = "acme") -> dict[str, str]:
    _, token = await add_token(stack.runtime.db, role, workspace=workspace)
    return {"Authorization": f"Bearer {token}"}


async def stored(stack, slug: str) -> Workspace:
    async with stack.runtime.db.read() as session:
        return await session.scalar(select(Workspace).where(Workspace.slug == slug))


async def test_admin_changes_name_and_time_zone_and_me_returns_them(stack):
    got = await stack.api("GET", "/api/v1/workspace")
    assert got.status_code == 200, got.text
    assert {k: got.json()[k] for k in ("slug", "name", "timezone")} == {
        "slug": "acme",
        "name": "ACME",
        "timezone": "UTC",
    }
    changed = await stack.api(
        "PATCH", "/api/v1/workspace", json={"name": "  ACME Japan ", "timezone": "Asia/Tokyo"}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["timezone"]) == ("ACME Japan", "Asia/Tokyo")
    # Only what is sent changes.
    renamed = await stack.api("PATCH", "/api/v1/workspace", json={"name": "ACME"})
    assert renamed.json()["timezone"] == "Asia/Tokyo"
    row = await stored(stack, "acme")
    assert (row.name, row.timezone) == ("ACME", "Asia/Tokyo")

    await add_user(stack.runtime.db, "aiko@acme.test", "agent")
    async with signed_in(stack.url, "aiko@acme.test") as agent:
        me = await agent.get("/api/v1/auth/me")
        assert me.json()["workspace"]["timezone"] == "Asia/Tokyo"
        assert (await agent.get("/api/v1/workspace")).json()["timezone"] == "Asia/Tokyo"
        refused = await agent.patch("/api/v1/workspace", json={"timezone": "UTC"}, headers=CSRF)
        assert refused.status_code == 403, refused.text
    assert (await stored(stack, "acme")).timezone == "Asia/Tokyo"


async def test_bad_settings_name_their_field(stack):
    cases = [
        ({"timezone": "Mars/Olympus"}, "timezone", "'Mars/Olympus' is not an IANA time zone"),
        ({"timezone": "asia/tokyo"}, "timezone", "Asia/Tokyo"),
        ({"timezone": "localtime"}, "timezone", "not an IANA time zone"),
        ({"timezone": ""}, "timezone", "give an IANA time zone name"),
        ({"name": "   "}, "name", "needs a name"),
        ({"name": "x" * 201}, "name", "at most 200"),
        ({"name": "Fine", "timezone": "Nowhere"}, "timezone", "not an IANA time zone"),
    ]
    for body, field, words in cases:
        response = await stack.api("PATCH", "/api/v1/workspace", json=body)
        assert response.status_code == 422, (body, response.text)
        detail = response.json()["detail"]
        assert detail["field"] == field and words in detail["message"], (body, detail)
    row = await stored(stack, "acme")
    assert (row.name, row.timezone) == ("ACME", "UTC")  # all or nothing


async def test_roles_and_workspaces(stack):
    for role in ("agent", "supervisor"):
        headers = await headers_for(stack, role)
        assert (await stack.client.get("/api/v1/workspace", headers=headers)).status_code == 200
        response = await stack.client.patch(
            "/api/v1/workspace", json={"name": "Mine now"}, headers=headers
        )
        assert response.status_code == 403, (role, response.text)
    assert (await stack.client.patch("/api/v1/workspace", json={})).status_code == 401

    other = await headers_for(stack, "admin", workspace="other")
    mine = await stack.client.patch(
        "/api/v1/workspace", json={"timezone": "Europe/Paris"}, headers=other
    )
    assert mine.status_code == 200 and mine.json()["slug"] == "other"
    assert (await stored(stack, "other")).timezone == "Europe/Paris"
    assert (await stored(stack, "acme")).timezone == "UTC"
    assert (await stack.api("GET", "/api/v1/workspace")).json()["timezone"] == "UTC"
