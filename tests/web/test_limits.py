"""Request bodies are bounded while read (413 before buffering), deep JSON is a 400, and
an oversized upload is a 413 naming WhatsApp's limit."""

from __future__ import annotations

import json

from tests.conftest import signed_headers

CSRF = {"X-Requested-With": "madoguchi"}


async def test_a_declared_oversize_body_is_refused_before_it_is_read(stack):
    big = b"x" * (2 * 1024 * 1024)
    response = await stack.client.post(
        "/api/v1/auth/login", content=big, headers={**CSRF, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    detail = response.json()["detail"]
    assert detail["code"] == "body_too_large" and detail["limit"] == 1024 * 1024
    # The webhook allows 3 MiB, and refuses more before checking any signature.
    response = await stack.client.post(
        "/webhooks/whatsapp", content=b"x" * (4 * 1024 * 1024), headers=signed_headers(b"")
    )
    assert response.status_code == 413
    assert response.json()["detail"]["limit"] == 3 * 1024 * 1024


async def test_a_chunked_body_is_cut_off_at_the_limit(stack):
    async def chunks():
        for _ in range(64):
            yield b"y" * 65536  # 4 MiB in all, no Content-Length

    response = await stack.client.post(
        "/api/v1/auth/login", content=chunks(), headers={**CSRF, "Content-Type": "application/json"}
    )
    assert response.status_code == 413


async def test_bodies_within_the_limit_are_served(stack):
    response = await stack.client.post(
        "/api/v1/auth/login", json={"email": "nobody@acme.test", "password": "x" * 20}, headers=CSRF
    )
    assert response.status_code == 401


async def test_deeply_nested_json_is_a_400_not_a_500(stack):
    depth = 200_000
    body = b'{"name": ' + b"[" * depth + b"]" * depth + b"}"
    response = await stack.client.post(
        "/api/v1/queues", content=body, headers={**stack.auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert "error parsing the body" in response.text


async def test_malformed_json_and_wrong_values_get_clear_422s(stack):
    response = await stack.client.post(
        "/api/v1/queues",
        content=b"{not json",
        headers={**stack.auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert "JSON" in json.dumps(response.json())
    response = await stack.api(
        "POST", "/api/v1/users", json={"email": "a@acme.test", "name": "A", "role": "emperor"}
    )
    assert response.status_code == 422
    assert "role" in json.dumps(response.json())


async def test_an_upload_over_whatsapps_limit_is_a_413(stack):
    image = b"\x89PNG\r\n\x1a\n" + b"\x00" * (6 * 1024 * 1024)  # images: 5 MB at most
    response = await stack.client.post(
        "/api/v1/media",
        headers=stack.auth,
        data={"phone_number_id": "301234567890123"},
        files={"file": ("big.png", image, "image/png")},
    )
    assert response.status_code == 413, response.text
    assert response.json()["detail"]["code"] == "media_limit"


async def test_ids_too_large_for_the_database_are_a_422_not_a_500(stack):
    huge = 2**70
    for method, path, body in (
        ("GET", f"/api/v1/conversations/{huge}", None),
        ("GET", f"/api/v1/messages/{huge}", None),
        ("POST", f"/api/v1/conversations/{huge}/notes", {"body": "x"}),
        ("POST", "/api/v1/queues", {"name": "Q", "members": [{"user_id": huge}]}),
    ):
        response = await stack.api(method, path, json=body)
        assert response.status_code in (404, 422), (path, response.text)
        if response.status_code == 422 and isinstance(response.json()["detail"], dict):
            assert response.json()["detail"]["code"] == "out_of_range"


def test_routes_that_take_larger_bodies_keep_their_own_limits():
    from madoguchi.web.api.assist.knowledge import IMPORT_FILE_BYTES, IMPORT_FILES_MAX
    from madoguchi.web.api.billing.rate_cards import MAX_SHEET_BYTES
    from madoguchi.web.limits import LARGER, MULTIPART_SLACK

    assert LARGER["/api/v1/rate-cards/import"] == MAX_SHEET_BYTES + MULTIPART_SLACK
    assert LARGER["/api/v1/knowledge/import"] == (
        IMPORT_FILES_MAX * IMPORT_FILE_BYTES + MULTIPART_SLACK
    )
