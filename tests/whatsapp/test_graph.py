"""GraphClient against a real HTTP server on 127.0.0.1 that answers like Meta.

The little fake lives here, not in the package: it records every request so the tests can
assert paths, headers and bodies exactly as they crossed the wire.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from madoguchi.whatsapp.errors import (
    AccessTokenInvalid,
    GraphTransportError,
    InvalidParameter,
    PairRateLimitReached,
    ServiceWindowClosed,
    TemplateError,
    TransientError,
    UnknownMetaError,
)
from madoguchi.whatsapp.graph import GraphClient, MediaInfo, SentMessage
from madoguchi.whatsapp.media_limits import MediaLimitError
from madoguchi.whatsapp.outbound import Recipient, build_send_body, validate_outbound

VERSION = "v26.0"
TOKEN = "EAAG-secret-token-for-tests"
MEDIA_BYTES = bytes(range(256)) * 40  # 10,240 bytes


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any = None
    form: dict[str, Any] = field(default_factory=dict)


def meta_error(status: int, code: int, message: str, details: str = "") -> JSONResponse:
    return JSONResponse(
        {
            "error": {
                "message": f"(#{code}) {message}",
                "type": "OAuthException",
                "code": code,
                "error_data": {"messaging_product": "whatsapp", "details": details},
                "fbtrace_id": "Fake-trace",
            }
        },
        status_code=status,
    )


class FakeMeta:
    """Answers the Graph endpoints GraphClient calls, the way Meta does."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.base_url = ""
        self.app = Starlette(
            routes=[
                Route("/download/{name}", self.download, methods=["GET"]),
                Route(f"/{VERSION}/{{node}}/messages", self.messages, methods=["POST"]),
                Route(f"/{VERSION}/{{node}}/media", self.media_upload, methods=["POST"]),
                Route(
                    f"/{VERSION}/{{node}}/message_templates",
                    self.templates,
                    methods=["GET", "POST", "DELETE"],
                ),
                Route(f"/{VERSION}/{{node}}", self.node, methods=["GET"]),
            ]
        )

    async def record(self, request: Request) -> Seen:
        body = await request.body()
        seen = Seen(
            method=request.method,
            path=request.url.path,
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
        )
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            seen.json = await request.json()
        elif content_type.startswith("multipart/form-data"):
            async with request.form() as form:
                for key, value in form.multi_items():
                    if hasattr(value, "read"):
                        seen.form[key] = {
                            "filename": value.filename,
                            "content_type": value.content_type,
                            "data": await value.read(),
                        }
                    else:
                        seen.form[key] = value
        self.seen.append(seen)
        return seen

    async def messages(self, request: Request) -> Response:
        seen = await self.record(request)
        node = request.path_params["node"]
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return meta_error(401, 190, "Error validating access token: Session has expired")
        if node == "window-closed":
            return meta_error(
                400,
                131047,
                "Re-engagement message",
                "Message failed to send because more than 24 hours have passed",
            )
        if node == "pair-rate":
            return meta_error(400, 131056, "(Business Account, Consumer Account) pair rate limit")
        if node == "bad-gateway":
            return PlainTextResponse("<html>502 Bad Gateway</html>", status_code=502)
        if node == "slow":
            await asyncio.sleep(1.0)  # Meta got the send but answers too late
        if node == "no-wamid":
            return JSONResponse({"messaging_product": "whatsapp", "messages": []})
        payload = seen.json or {}
        if payload.get("status") == "read":
            return JSONResponse({"success": True})
        contact: dict[str, str] = {"input": payload.get("to") or payload.get("recipient", "")}
        if "to" in payload:
            contact["wa_id"] = payload["to"]
        else:
            contact["user_id"] = payload["recipient"]
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [contact],
                "messages": [
                    {"id": "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTND", "message_status": "accepted"}
                ],
            }
        )

    async def media_upload(self, request: Request) -> Response:
        await self.record(request)
        return JSONResponse({"id": "1037543291543636"})

    async def node(self, request: Request) -> Response:
        seen = await self.record(request)
        node = request.path_params["node"]
        if node.startswith("media-"):
            size = len(MEDIA_BYTES)
            name = node.removeprefix("media-")
            return JSONResponse(
                {
                    "messaging_product": "whatsapp",
                    "url": f"{self.base_url}/download/{name}?ext=1&hash=signed",
                    "mime_type": "image/jpeg",
                    "sha256": "e3b0c44298fc1c149afbf4c8996fb924",
                    "file_size": size,
                    "id": node,
                }
            )
        if node == "missing":
            return meta_error(400, 100, "Unsupported get request. Object with ID 'missing'")
        return JSONResponse(
            {
                "id": node,
                "display_phone_number": "+1 555-0100",
                "verified_name": "Madoguchi Demo",
                "quality_rating": "GREEN",
                "fields_asked": seen.query.get("fields"),
            }
        )

    async def download(self, request: Request) -> Response:
        await self.record(request)
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return PlainTextResponse("forbidden", status_code=403)
        name = request.path_params["name"]
        if name == "chunked":
            # No Content-Length: the cap must hold while streaming.

            async def chunks() -> AsyncIterator[bytes]:
                for _ in range(10):
                    yield MEDIA_BYTES

            return StreamingResponse(chunks(), media_type="image/jpeg")
        return Response(MEDIA_BYTES, media_type="image/jpeg")

    async def templates(self, request: Request) -> Response:
        seen = await self.record(request)
        if request.method == "POST":
            return JSONResponse(
                {"id": "594425479261596", "status": "PENDING", "category": "UTILITY"}
            )
        if request.method == "DELETE":
            if seen.query.get("name") == "nope":
                return meta_error(400, 132001, "Template name does not exist in the translation")
            return JSONResponse({"success": True})
        pages = {
            None: (["t1", "t2"], "CUR1"),
            "CUR1": (["t3", "t4"], "CUR2"),
            "CUR2": (["t5"], None),
        }
        names, after = pages[seen.query.get("after")]
        body: dict[str, Any] = {
            "data": [{"name": n, "status": "APPROVED", "language": "en"} for n in names],
            "paging": {"cursors": {"before": "B", "after": after or "END"}},
        }
        if after:
            body["paging"]["next"] = (
                f"https://graph.facebook.com/{VERSION}/{request.path_params['node']}"
                f"/message_templates?after={after}"
            )
        return JSONResponse(body)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def fake_meta() -> Iterator[FakeMeta]:
    fake = FakeMeta()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    fake.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        fake.app,
        log_level="warning",
        lifespan="off",
        loop="asyncio",
        http="h11",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "fake Meta did not start"
        time.sleep(0.01)
    yield fake
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
async def graph(fake_meta: FakeMeta) -> AsyncIterator[GraphClient]:
    fake_meta.seen.clear()
    async with GraphClient(fake_meta.base_url, VERSION, timeout=5.0) as client:
        yield client


def text_body(recipient: Recipient) -> dict:
    return build_send_body(validate_outbound({"type": "text", "text": {"body": "Hi"}}), recipient)


async def test_send_message_to_phone(graph: GraphClient, fake_meta: FakeMeta) -> None:
    body = text_body(Recipient(wa_id="16505551234", user_id=None))
    sent = await graph.send_message("106540352242922", TOKEN, body)
    assert sent == SentMessage(
        wamid="wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTND",
        message_status="accepted",
        wa_id="16505551234",
        user_id=None,
    )
    [seen] = fake_meta.seen
    assert (seen.method, seen.path) == ("POST", f"/{VERSION}/106540352242922/messages")
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"
    assert seen.headers["content-type"] == "application/json"
    assert seen.json == body


async def test_send_message_to_bsuid(graph: GraphClient, fake_meta: FakeMeta) -> None:
    body = text_body(Recipient(wa_id=None, user_id="JP.70211330012345"))
    sent = await graph.send_message("106540352242922", TOKEN, body)
    assert sent.user_id == "JP.70211330012345"
    assert sent.wa_id is None
    assert fake_meta.seen[0].json["recipient"] == "JP.70211330012345"


async def test_mark_read_with_typing(graph: GraphClient, fake_meta: FakeMeta) -> None:
    assert (
        await graph.mark_read("106540352242922", TOKEN, "wamid.IN", typing_indicator=True) is None
    )
    [seen] = fake_meta.seen
    assert seen.path == f"/{VERSION}/106540352242922/messages"
    assert seen.json == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.IN",
        "typing_indicator": {"type": "text"},
    }


async def test_meta_error_maps_to_family(graph: GraphClient) -> None:
    body = text_body(Recipient(wa_id="1", user_id=None))
    with pytest.raises(ServiceWindowClosed) as caught:
        await graph.send_message("window-closed", TOKEN, body)
    error = caught.value
    assert error.code == 131047
    assert error.http_status == 400
    assert error.fbtrace_id == "Fake-trace"
    assert error.details.startswith("Message failed to send")
    assert not error.retryable

    with pytest.raises(PairRateLimitReached) as caught_pair:
        await graph.send_message("pair-rate", TOKEN, body)
    assert caught_pair.value.retryable


async def test_bad_token_is_access_token_invalid(graph: GraphClient) -> None:
    body = text_body(Recipient(wa_id="1", user_id=None))
    with pytest.raises(AccessTokenInvalid) as caught:
        await graph.send_message("106540352242922", "EAAG-wrong", body)
    assert "EAAG-wrong" not in str(caught.value)


async def test_non_json_5xx_is_transient(graph: GraphClient) -> None:
    with pytest.raises(TransientError) as caught:
        await graph.send_message("bad-gateway", TOKEN, text_body(Recipient(wa_id="1")))
    assert caught.value.http_status == 502
    assert caught.value.retryable


async def test_2xx_without_wamid_is_ambiguous(graph: GraphClient) -> None:
    with pytest.raises(GraphTransportError) as caught:
        await graph.send_message("no-wamid", TOKEN, text_body(Recipient(wa_id="1")))
    assert caught.value.ambiguous


async def test_upload_media_is_multipart(graph: GraphClient, fake_meta: FakeMeta) -> None:
    media_id = await graph.upload_media(
        "106540352242922", TOKEN, b"%PDF-1.7 fake", "application/pdf", "invoice.pdf"
    )
    assert media_id == "1037543291543636"
    [seen] = fake_meta.seen
    assert (seen.method, seen.path) == ("POST", f"/{VERSION}/106540352242922/media")
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"
    assert seen.form == {
        "messaging_product": "whatsapp",
        "type": "application/pdf",
        "file": {
            "filename": "invoice.pdf",
            "content_type": "application/pdf",
            "data": b"%PDF-1.7 fake",
        },
    }


async def test_get_and_download_media(graph: GraphClient, fake_meta: FakeMeta) -> None:
    info = await graph.get_media("media-photo", TOKEN)
    assert info == MediaInfo(
        url=f"{fake_meta.base_url}/download/photo?ext=1&hash=signed",
        mime_type="image/jpeg",
        sha256="e3b0c44298fc1c149afbf4c8996fb924",
        file_size=len(MEDIA_BYTES),
    )
    data = await graph.download_media(info.url, TOKEN, max_bytes=len(MEDIA_BYTES))
    assert data == MEDIA_BYTES
    get_seen, download_seen = fake_meta.seen
    assert get_seen.path == f"/{VERSION}/media-photo"
    assert download_seen.path == "/download/photo"
    assert download_seen.query == {"ext": "1", "hash": "signed"}
    assert download_seen.headers["authorization"] == f"Bearer {TOKEN}"
    assert download_seen.headers["user-agent"]


async def test_download_refuses_declared_oversize(graph: GraphClient, fake_meta: FakeMeta) -> None:
    url = f"{fake_meta.base_url}/download/photo"
    with pytest.raises(MediaLimitError) as caught:
        await graph.download_media(url, TOKEN, max_bytes=1000)
    assert caught.value.limit == 1000
    assert caught.value.size == len(MEDIA_BYTES)


async def test_download_cap_holds_while_streaming(graph: GraphClient, fake_meta: FakeMeta) -> None:
    url = f"{fake_meta.base_url}/download/chunked"
    with pytest.raises(MediaLimitError, match="larger than 15,000 bytes"):
        await graph.download_media(url, TOKEN, max_bytes=15_000)
    full = await graph.download_media(url, TOKEN, max_bytes=10 * len(MEDIA_BYTES))
    assert full == MEDIA_BYTES * 10


async def test_download_error_status(graph: GraphClient, fake_meta: FakeMeta) -> None:
    with pytest.raises(UnknownMetaError) as caught:
        await graph.download_media(f"{fake_meta.base_url}/download/photo", "wrong", 10**6)
    assert caught.value.http_status == 403


async def test_download_refuses_http_when_base_is_https() -> None:
    async with GraphClient("https://graph.facebook.com", VERSION) as client:
        with pytest.raises(ValueError, match="plain-http"):
            await client.download_media("http://evil.example/x", TOKEN, 100)


async def test_get_media_error(graph: GraphClient) -> None:
    with pytest.raises(InvalidParameter) as caught:
        await graph.get_media("missing", TOKEN)
    assert caught.value.code == 100


async def test_list_templates_follows_paging(graph: GraphClient, fake_meta: FakeMeta) -> None:
    templates = await graph.list_templates("102290129340398", TOKEN, fields="name,status")
    assert [t["name"] for t in templates] == ["t1", "t2", "t3", "t4", "t5"]
    assert len(fake_meta.seen) == 3
    for seen in fake_meta.seen:
        assert (seen.method, seen.path) == ("GET", f"/{VERSION}/102290129340398/message_templates")
        assert seen.headers["authorization"] == f"Bearer {TOKEN}"
        assert seen.query["fields"] == "name,status"
    assert [seen.query.get("after") for seen in fake_meta.seen] == [None, "CUR1", "CUR2"]


async def test_create_template(graph: GraphClient, fake_meta: FakeMeta) -> None:
    body = {
        "name": "order_update",
        "language": "en_US",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Your order {{1}} has shipped."}],
    }
    created = await graph.create_template("102290129340398", TOKEN, body)
    assert created == {"id": "594425479261596", "status": "PENDING", "category": "UTILITY"}
    [seen] = fake_meta.seen
    assert (seen.method, seen.path) == ("POST", f"/{VERSION}/102290129340398/message_templates")
    assert seen.json == body


async def test_delete_template(graph: GraphClient, fake_meta: FakeMeta) -> None:
    await graph.delete_template("102290129340398", TOKEN, "order_update")
    await graph.delete_template("102290129340398", TOKEN, "order_update", "594425479261596")
    first, second = fake_meta.seen
    assert (first.method, first.path) == ("DELETE", f"/{VERSION}/102290129340398/message_templates")
    assert first.query == {"name": "order_update"}
    assert second.query == {"name": "order_update", "hsm_id": "594425479261596"}
    with pytest.raises(TemplateError):
        await graph.delete_template("102290129340398", TOKEN, "nope")


async def test_get_phone_number(graph: GraphClient, fake_meta: FakeMeta) -> None:
    info = await graph.get_phone_number("106540352242922", TOKEN, fields="quality_rating")
    assert info["verified_name"] == "Madoguchi Demo"
    assert info["fields_asked"] == "quality_rating"
    assert fake_meta.seen[0].path == f"/{VERSION}/106540352242922"
    assert fake_meta.seen[0].headers["authorization"] == f"Bearer {TOKEN}"


async def test_connection_refused_is_not_ambiguous() -> None:
    port = free_port()  # bound then released: nothing listens there
    async with GraphClient(f"http://127.0.0.1:{port}", VERSION, timeout=2.0) as client:
        with pytest.raises(GraphTransportError) as caught:
            await client.send_message("1", TOKEN, text_body(Recipient(wa_id="1")))
    assert caught.value.ambiguous is False
    assert caught.value.retryable
    assert TOKEN not in str(caught.value)


async def test_read_timeout_is_ambiguous(fake_meta: FakeMeta) -> None:
    async with GraphClient(fake_meta.base_url, VERSION, timeout=0.2) as client:
        with pytest.raises(GraphTransportError) as caught:
            await client.send_message("slow", TOKEN, text_body(Recipient(wa_id="1")))
    assert caught.value.ambiguous is True
    assert not caught.value.retryable


async def test_http2_client_still_talks_http1(fake_meta: FakeMeta) -> None:
    async with GraphClient(fake_meta.base_url, VERSION, http2=True) as client:
        info = await client.get_phone_number("106540352242922", TOKEN)
    assert info["id"] == "106540352242922"


async def test_custom_transport_is_used(fake_meta: FakeMeta) -> None:
    transport = httpx.AsyncHTTPTransport(retries=0)
    async with GraphClient(fake_meta.base_url + "/", VERSION, transport=transport) as client:
        info = await client.get_phone_number("42", TOKEN)
    assert info["id"] == "42"


async def test_empty_token_is_refused(graph: GraphClient) -> None:
    with pytest.raises(ValueError):
        await graph.get_phone_number("1", "")


async def _one_shot_server(answer: bytes) -> tuple[asyncio.AbstractServer, int]:
    """A TCP server that reads a request, writes ``answer`` (maybe nothing) and hangs up."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize(
    "answer",
    [b"", b"NOT-HTTP garbage\r\n\r\n"],
    ids=["hang-up-after-request", "garbage-answer"],
)
async def test_a_request_that_reached_the_server_is_ambiguous(answer: bytes) -> None:
    """The server got the send and then hung up (or answered nonsense): Meta may have
    accepted it, so the error must say so and must not be retryable."""
    server, port = await _one_shot_server(answer)
    async with server, GraphClient(f"http://127.0.0.1:{port}", VERSION, timeout=2.0) as client:
        with pytest.raises(GraphTransportError) as caught:
            await client.send_message("1", TOKEN, text_body(Recipient(wa_id="1")))
    assert caught.value.ambiguous is True
    assert not caught.value.retryable
    assert TOKEN not in str(caught.value)
