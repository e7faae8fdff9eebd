"""A flow's HTTP Request cannot reach into the server's network, read without end, or be
steered by what a customer types. Every refusal here happens before any connection is
made, or is aimed at a server of the test's own on 127.0.0.1 (which records whether it
was reached)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from madoguchi.domain.flows import engine as fe
from madoguchi.domain.flows.definition import HttpRequestWidget
from madoguchi.services.flows.http_guard import AllowList, HttpGuardRefused, check_url, refusal
from madoguchi.services.flows.runner import FlowRunner
from madoguchi.store.models import FlowStep
from tests.conftest import ServedApp
from tests.flows.flow_kit import close_stack, flow_stack, new_customer, says, wait_replies
from tests.flows.test_flow_runner import doc, texts

REFUSED = {
    "127.0.0.1": "loopback",
    "127.8.9.10": "loopback",
    "::1": "loopback",
    "::ffff:127.0.0.1": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "169.254.169.254": "link-local",
    "fe80::1": "link-local",
    "fd12:3456::1": "unique-local",
    "224.0.0.1": "multicast",
    "ff02::1": "multicast",
    "0.0.0.0": "unspecified",
    "100.64.0.1": "non-public",
}


@pytest.mark.parametrize("address", REFUSED)
def test_every_non_public_address_class_is_refused_by_default(address):
    assert REFUSED[address] in refusal(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "8.8.8.8"])
def test_public_addresses_pass(address):
    assert refusal(address) is None


def test_the_allow_list_takes_hosts_and_cidrs():
    allow = AllowList.parse(["crm.internal", "10.20.0.0/16", " ", "::1"])
    assert allow.allows("crm.internal", "10.9.9.9")
    assert allow.allows("CRM.internal.", "10.9.9.9")
    assert allow.allows("other", "10.20.3.4")
    assert allow.allows("other", "::1")
    assert not allow.allows("other", "10.21.0.1")


@pytest.mark.parametrize(
    "url,why",
    [
        ("file:///etc/passwd", "only http and https"),
        ("gopher://127.0.0.1/", "only http and https"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::1]:8000/", "loopback"),
        ("http://10.0.0.1/admin", "private"),
    ],
)
def test_urls_refused_before_connecting(url, why):
    with pytest.raises(HttpGuardRefused, match=why):
        check_url(url, AllowList())


def test_customer_values_are_percent_encoded_into_urls():
    node = HttpRequestWidget(
        id="Lookup", type="http_request", url="https://api.example/orders/{{order}}?q={{q}}"
    )
    call = fe.http_call(node, {"order": "../../internal/secret?x=1#", "q": "a&b=c"}, 1)
    assert call.url == (
        "https://api.example/orders/..%2F..%2Finternal%2Fsecret%3Fx%3D1%23?q=a%26b%3Dc"
    )


def inner_api(hits: list[str]) -> FastAPI:
    api = FastAPI()

    @api.api_route("/internal/{rest:path}", methods=["GET", "POST"])
    async def internal(rest: str, request: Request):
        hits.append(rest)
        return {"secret": "internal data", "header": request.headers.get("x-note")}

    @api.get("/big")
    async def big(chunked: bool = False):
        hits.append("big")
        payload = b'{"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
        if chunked:

            async def stream():
                for i in range(0, len(payload), 65536):
                    yield payload[i : i + 65536]

            return StreamingResponse(stream(), media_type="application/json")
        return StreamingResponse(
            iter([payload]),
            media_type="application/json",
            headers={"content-length": str(len(payload))},
        )

    return api


async def fetch(url: str, allow=(), max_bytes: int = 1024 * 1024, **kw) -> fe.HttpResult:
    """One HTTP Request widget call through a runner's guarded client."""
    runner = FlowRunner(None, None, None, None, http_allow=allow, http_max_bytes=max_bytes)
    try:
        return await runner._call(
            fe.CallHttp(
                node="Lookup",
                seq=1,
                method="GET",
                url=url,
                headers=kw.pop("headers", {}),
                body=None,
                timeout_seconds=5,
            )
        )
    finally:
        await runner.aclose()


async def test_loopback_by_address_or_by_name_is_refused_and_never_reached():
    hits: list[str] = []
    server = await ServedApp(inner_api(hits)).start()
    try:
        for url in (
            f"{server.url}/internal/a",
            f"http://localhost:{server.port}/internal/b",  # a name resolving to 127.0.0.1
        ):
            result = await fetch(url)
            assert result.status is None and result.error.startswith("refused: "), url
            assert "loopback" in result.error and "MADOGUCHI_FLOW_HTTP_ALLOW" in result.error
        # 127.0.0.1 written as one number: refused too (as not a valid address).
        assert (await fetch(f"http://2130706433:{server.port}/internal/c")).status is None
        assert hits == []
        # The operator's allow list opens exactly what it names.
        by_address = await fetch(f"{server.url}/internal/d", ["127.0.0.1"])
        by_name = await fetch(f"http://localhost:{server.port}/internal/e", ["localhost"])
        assert (by_address.status, by_name.status) == (200, 200)
        assert hits == ["d", "e"]
    finally:
        await server.stop()


async def test_answers_are_capped_while_streaming():
    hits: list[str] = []
    server = await ServedApp(inner_api(hits)).start()
    try:
        for url in (f"{server.url}/big", f"{server.url}/big?chunked=true"):
            result = await fetch(url, ["127.0.0.1"], max_bytes=1024 * 1024)
            assert result.status is None
            assert "larger than 1048576 bytes" in result.error
        roomy = await fetch(f"{server.url}/big", ["127.0.0.1"], max_bytes=4 * 1024 * 1024)
        assert roomy.status == 200 and len(roomy.data["pad"]) == 2 * 1024 * 1024
    finally:
        await server.stop()


async def test_a_non_ascii_header_value_is_a_failure_not_a_crash():
    hits: list[str] = []
    server = await ServedApp(inner_api(hits)).start()
    try:
        result = await fetch(
            f"{server.url}/internal/x", ["127.0.0.1"], headers={"X-Note": "山田です"}
        )
        assert result.status is None and "not ASCII" in result.error
        assert hits == []
    finally:
        await server.stop()


async def test_a_refused_call_takes_the_failure_exit_with_the_reason(db_url, tmp_path):
    hits: list[str] = []
    server = await ServedApp(inner_api(hits)).start()
    definition = doc(
        {
            "id": "Lookup",
            "type": "http_request",
            "url": f"http://localhost:{server.port}/internal/{{{{message.text}}}}",
            "timeout_seconds": 5,
            "map": {"secret": "secret"},
        },
        {"id": "Leak", "type": "send_media", "text": "{{secret}}"},
        {"id": "Sorry", "type": "send_media", "text": "Sorry ({{http.error}})"},
        {"id": "Done", "type": "end"},
        edges=[
            ("Start", "next", "Lookup"),
            ("Lookup", "success", "Leak"),
            ("Lookup", "failure", "Sorry"),
            ("Leak", "next", "Done"),
            ("Sorry", "next", "Done"),
        ],
    )
    s = await flow_stack(db_url, tmp_path, flows=[{"name": "Probe", "definition": definition}])
    s.runtime.flows.http_allow = AllowList()  # the default: nothing private allowed
    try:
        cust = new_customer()
        await says(s, cust, "hi")
        _, sent = await wait_replies(s, cust, 1)
        assert texts(sent)[0].startswith("Sorry (refused: localhost (127.0.0.1) is a loopback")
        assert hits == []
        async with s.runtime.db.read() as session:
            step = await session.scalar(select(FlowStep).where(FlowStep.node_id == "Lookup"))
        assert step.result == "failure" and "loopback" in step.detail["error"]
    finally:
        await close_stack(s)
        await server.stop()


def test_step_logs_keep_an_excerpt_of_large_mapped_values():
    assert fe.excerpt("short") == "short"
    long = fe.excerpt("y" * 50_000)
    assert len(long) < 1100 and long.endswith("(50000 characters)")
    assert isinstance(fe.excerpt({"a": "z" * 5000}), str)
