"""The web app is served at "/" without shadowing the API (madoguchi/web/spa.py)."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI

from madoguchi.web import spa


def app_with(build_dir) -> FastAPI:
    app = FastAPI()

    @app.get("/api/v1/things")
    async def things():
        return [1]

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    spa.install(app, build_dir)

    @app.get("/api/v1/later")  # a router included after the app still wins
    async def later():
        return {"later": True}

    return app


@pytest.fixture
def build(tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><div id=root></div>")
    (tmp_path / "assets" / "index-abc.js").write_text("console.log(1)")
    return tmp_path


async def get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path)


@pytest.mark.parametrize("path", ["/", "/desktop", "/admin/users", "/flows/3"])
async def test_client_routes_answer_the_app(build, path):
    response = await get(app_with(build), path)
    assert response.status_code == 200
    assert "id=root" in response.text
    assert response.headers["cache-control"] == "no-cache"


async def test_built_assets_are_served_and_cached_for_good(build):
    response = await get(app_with(build), "/assets/index-abc.js")
    assert response.status_code == 200 and response.text == "console.log(1)"
    assert "immutable" in response.headers["cache-control"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nope",
        "/api",
        "/webhooks/other",
        "/docs/x",
        "/metrics/x",
        "/assets/index-old.js",
        "/favicon.ico",
    ],
)
async def test_api_paths_and_missing_files_stay_404(build, path):
    response = await get(app_with(build), path)
    assert response.status_code == 404
    assert "id=root" not in response.text


async def test_no_file_outside_the_build_is_served(build):
    (build.parent / "secret.txt").write_text("top secret")
    for path in ("/..%2Fsecret.txt", "/assets/..%2F..%2Fsecret.txt", "/%2E%2E/secret.txt"):
        response = await get(app_with(build), path)
        assert "top secret" not in response.text


async def test_routes_win_whatever_their_order(build):
    app = app_with(build)
    assert (await get(app, "/api/v1/things")).json() == [1]
    assert (await get(app, "/api/v1/later")).json() == {"later": True}
    assert (await get(app, "/healthz")).json() == {"status": "ok"}


async def test_without_a_build_the_root_says_how_to_build_it(tmp_path):
    response = await get(app_with(tmp_path / "missing"), "/")
    assert response.status_code == 503
    assert "make frontend" in response.text and "npm ci" in response.text
    assert (await get(app_with(tmp_path / "missing"), "/api/v1/things")).json() == [1]


async def test_unsafe_methods_never_reach_the_app(build):
    transport = httpx.ASGITransport(app=app_with(build))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/admin/users", content=json.dumps({}))
    assert response.status_code == 404
