"""Security headers on every response, /metrics only to a token or to this machine, and
credentials masked in logged URLs."""

from __future__ import annotations

from pydantic import SecretStr
from starlette.requests import Request

from madoguchi.security.redact import redact_url
from madoguchi.web.app import metrics_refusal
from madoguchi.web.headers import connect_src


async def test_every_response_carries_the_security_headers(stack):
    for path in ("/", "/api/v1/conversations", "/healthz", "/nope/deep/link"):
        response = await stack.client.get(path, headers=stack.auth)
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, path
        assert "unsafe-inline" not in csp.split("style-src")[0], path
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
    # The tests' settings set up Connect with Meta: the SDK's origin (the simulator's,
    # here the Graph API URL's) may serve scripts, and the popups keep their opener.
    assert "script-src 'self' http://127.0.0.1:9;" in csp
    assert response.headers["cross-origin-opener-policy"] == "same-origin-allow-popups"
    docs = await stack.client.get("/docs")
    assert "script-src 'self' 'unsafe-inline'" in docs.headers["content-security-policy"]
    # Connections (fetch, websockets): this origin, and the signup SDK's once set up.
    host = stack.url.removeprefix("http://")
    connect = csp.split("connect-src ")[1].split(";")[0]
    assert connect == f"'self' ws://{host} wss://{host} http://127.0.0.1:9"
    assert "connect-src 'self' " in docs.headers["content-security-policy"]


def test_connect_src_takes_only_a_plain_host():
    assert connect_src(b"desk.example:8443") == (
        "connect-src 'self' ws://desk.example:8443 wss://desk.example:8443"
    )
    assert connect_src(b"[::1]:8000").endswith("wss://[::1]:8000")
    for forged in (b"x; script-src *", b"a b", b"evil.example/path", b"", None):
        assert connect_src(forged) == "connect-src 'self'", forged


async def test_metrics_from_this_machine_without_a_token(stack):
    response = await stack.client.get("/metrics")
    assert response.status_code == 200
    assert "madoguchi_" in response.text


def request_from(host: str, authorization: str | None = None) -> Request:
    headers = [(b"authorization", authorization.encode())] if authorization else []
    return Request({"type": "http", "client": (host, 40000), "headers": headers})


def test_metrics_need_the_token_once_it_is_set_and_elsewhere_always():
    token = SecretStr("scrape-me")
    assert metrics_refusal(request_from("10.0.0.5"), None).status_code == 403
    assert metrics_refusal(request_from("127.0.0.1"), token).status_code == 401
    assert metrics_refusal(request_from("10.0.0.5", "Bearer wrong"), token).status_code == 401
    assert metrics_refusal(request_from("10.0.0.5", "Bearer scrape-me"), token) is None


def test_credentials_are_masked_in_logged_urls():
    assert redact_url("redis://:s3cret@cache:6379/0") == "redis://:***@cache:6379/0"
    assert redact_url("redis://user:pw@[::1]:6380") == "redis://user:***@[::1]:6380"
    assert redact_url("redis://cache:6379/0") == "redis://cache:6379/0"
    assert redact_url(None) == ""
