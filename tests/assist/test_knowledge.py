"""The knowledge base and suggested answers through the API, on SQLite and PostgreSQL:
articles kept and versioned, a folder imported, searched in English and Japanese, and
the desktop's suggestions for the customer's latest messages."""

from __future__ import annotations

import pytest

from tests.access.test_isolation import B_FILE
from tests.conftest import seed_workspace

RETURNS = {
    "title": "Returns and refunds",
    "body": "You can return an item within 30 days of delivery for a full refund.",
    "tags": ["Returns", "refund", "returns"],
}
HOURS = {
    "title": "Opening hours",
    "body": "Our support team answers from 9:00 to 18:00 on weekdays.",
    "tags": ["hours"],
}
JA_SHIPPING = {
    "title": "配送について",
    "body": "ご注文から3営業日以内に発送します。配送状況は追跡番号で確認できます。",
    "tags": ["配送"],
}


async def add(cc, spec: dict) -> dict:
    response = await cc.as_("admin", "POST", "/api/v1/knowledge", json=spec)
    assert response.status_code == 201, response.text
    return response.json()


async def test_articles_are_kept_versioned_and_deleted(cc):
    article = await add(cc, RETURNS)
    assert article["slug"] == "returns-and-refunds"
    assert article["language"] == "en" and article["version"] == 1
    assert article["tags"] == ["returns", "refund"]  # lower-cased, once each

    changed = {**RETURNS, "body": "Returns within 60 days."}
    path = f"/api/v1/knowledge/{article['id']}"
    saved = await cc.as_("admin", "PUT", path, json=changed)
    assert saved.status_code == 200 and saved.json()["version"] == 2
    same = await cc.as_("admin", "PUT", path, json=changed)
    assert same.json()["version"] == 2  # nothing changed: no new version
    versions = (await cc.as_("aiko", "GET", f"{path}/versions")).json()
    assert [(v["version"], v["body"][:10]) for v in versions] == [
        (2, "Returns wi"),
        (1, "You can re"),
    ]
    ja = await add(cc, JA_SHIPPING)
    assert ja["language"] == "ja" and ja["slug"] == "配送について"

    assert (await cc.as_("admin", "DELETE", path)).status_code == 204
    assert (await cc.as_("admin", "GET", path)).status_code == 404
    listed = (await cc.as_("ben", "GET", "/api/v1/knowledge")).json()
    assert [a["title"] for a in listed] == ["配送について"]


async def test_bad_articles_are_refused_with_the_field(cc):
    await add(cc, RETURNS)
    cases = [
        ({**RETURNS, "title": "   "}, 422, "title"),
        ({**RETURNS, "title": "x" * 201}, 422, "title"),
        ({**RETURNS, "body": ""}, 422, "body"),
        ({**RETURNS, "language": "fr"}, 422, "language"),
        ({**RETURNS, "tags": ["x" * 65]}, 422, "tags"),
        ({**RETURNS, "slug": "!!!"}, 422, "slug"),
        (RETURNS, 409, "slug"),  # the same title again
    ]
    for spec, status, field in cases:
        response = await cc.as_("admin", "POST", "/api/v1/knowledge", json=spec)
        assert response.status_code == status, (spec, response.text)
        detail = response.json()["detail"]
        if isinstance(detail, dict):
            fields = {detail["field"]}
        else:
            fields = {str(item["loc"][1]) for item in detail}
        assert field in fields, (spec, detail)


async def test_only_admins_write_and_other_workspaces_see_nothing(cc):
    article = await add(cc, RETURNS)
    for who in ("aiko", "sam"):
        assert (await cc.as_(who, "POST", "/api/v1/knowledge", json=HOURS)).status_code == 403
        put = await cc.as_(who, "PUT", f"/api/v1/knowledge/{article['id']}", json=HOURS)
        assert put.status_code == 403
        assert (await cc.as_(who, "GET", "/api/v1/knowledge")).status_code == 200
    other = await seed_workspace(cc.stack.runtime.db, B_FILE, slug="beta")
    headers = {"Authorization": f"Bearer {other}"}
    client = cc.stack.client
    assert (await client.get("/api/v1/knowledge", headers=headers)).json() == []
    assert (
        await client.get(f"/api/v1/knowledge/{article['id']}", headers=headers)
    ).status_code == 404
    assert (
        await client.get("/api/v1/knowledge", params={"q": "refund"}, headers=headers)
    ).json() == []


async def test_a_folder_is_imported_and_importing_again_changes_nothing(cc):
    files = [
        ("files", ("returns.md", "---\ntitle: Returns\ntags: [returns]\n---\nReturn in 30 days.")),
        ("files", ("hours.md", "# Opening hours\n\nWe open at 9:00.")),
        ("files", ("配送.md", "---\nlanguage: ja\n---\n# 配送\n3営業日以内に発送します。")),
        ("files", ("bad.md", "---\ntitle: [unclosed\n---\nbody")),
        ("files", ("empty.md", "---\ntitle: Empty\n---\n")),
        ("files", ("binary.md", b"\xff\xfe\x00bad")),
    ]
    first = await cc.as_("admin", "POST", "/api/v1/knowledge/import", files=files)
    assert first.status_code == 200, first.text
    report = first.json()
    assert sorted(report["created"]) == ["hours", "returns", "配送"]
    assert sorted(e["file"] for e in report["errors"]) == ["bad.md", "binary.md", "empty.md"]
    again = (await cc.as_("admin", "POST", "/api/v1/knowledge/import", files=files)).json()
    assert again["created"] == [] and sorted(again["unchanged"]) == ["hours", "returns", "配送"]
    titles = {
        a["slug"]: a["title"] for a in (await cc.as_("admin", "GET", "/api/v1/knowledge")).json()
    }
    assert titles == {"returns": "Returns", "hours": "Opening hours", "配送": "配送"}


@pytest.mark.parametrize(
    ("question", "title"),
    [
        ("can I get my money back for a returned item?", "Returns and refunds"),
        ("when are you open on weekdays", "Opening hours"),
        ("注文した商品はいつ発送されますか", "配送について"),
    ],
)
async def test_search_finds_the_article_in_either_language(cc, question, title):
    for spec in (RETURNS, HOURS, JA_SHIPPING):
        await add(cc, spec)
    found = await cc.as_("aiko", "GET", "/api/v1/knowledge", params={"q": question})
    assert found.status_code == 200
    assert found.json()[0]["title"] == title
    assert found.json()[0]["score"] > 0


async def test_desktop_suggestions_follow_the_customers_latest_messages(cc):
    for spec in (RETURNS, HOURS, JA_SHIPPING):
        await add(cc, spec)
    canned = {"shortcut": "refund", "title": "Refund started", "body": "Your refund is on its way."}
    assert (
        await cc.as_("admin", "POST", "/api/v1/canned-responses", json=canned)
    ).status_code == 201
    await cc.presence("aiko", "available")
    phone = "819000888001"
    cid = await cc.customer_writes("Hello! The shoes do not fit, I want a refund.", phone)
    await cc.wait_status(cid, "offered", "aiko")
    response = await cc.as_("aiko", "GET", f"/api/v1/conversations/{cid}/suggestions")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["query"] == "Hello! The shoes do not fit, I want a refund."
    kinds = [(s["kind"], s["title"]) for s in body["suggestions"]]
    assert kinds[0] == ("article", "Returns and refunds")
    assert ("canned", "Refund started") in kinds
    assert body["suggestions"][0]["text"] == RETURNS["body"]  # the whole text to insert
    assert body["tags"][:2] == ["returns", "refund"]
    assert body["dispositions"] == [] or set(body["dispositions"]) <= {"solved", "follow_up"}

    # Chie (another queue) cannot see it; nothing to suggest without a customer message.
    assert (
        await cc.as_("chie", "GET", f"/api/v1/conversations/{cid}/suggestions")
    ).status_code == 404
    assert (
        await cc.as_("aiko", "GET", "/api/v1/conversations/999999/suggestions")
    ).status_code == 404
