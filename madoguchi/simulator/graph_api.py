"""Meta's side: the Graph API endpoints a business calls, checked as Meta checks them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import SimNumber
from .core import Simulator
from .state import Media, Template
from .validation import (
    AuthError,
    GraphError,
    check_upload,
    missing,
    unknown_object,
    validate_send,
    validate_template_create,
)

VERSION_RE = re.compile(r"^v\d+\.\d+$")

router = APIRouter()


def graph_error_response(exc: GraphError) -> Response:
    """Meta's error JSON; a plain-text body for bare HTTP 5xx faults (code 500…599)."""
    if 500 <= exc.code <= 599:
        return PlainTextResponse("Internal Server Error", status_code=exc.code)
    return JSONResponse(exc.body(), status_code=exc.http_status)


def _sim(request: Request) -> Simulator:
    return request.app.state.sim


def _check_version(version: str) -> None:
    if not VERSION_RE.match(version):
        raise GraphError(2500, f"Unknown path components: /{version}")


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.query_params.get("access_token")


def _number(request: Request, version: str, phone_number_id: str) -> SimNumber:
    """The number in the path, when the bearer token is that number's access token."""
    _check_version(version)
    sim = _sim(request)
    token = bearer(request)
    if not sim.state.token_valid(token):
        raise AuthError()
    number = sim.state.numbers.get(phone_number_id)
    if number is None:
        raise unknown_object(phone_number_id, request.method.lower())
    if not sim.state.may_use_number(token, number):
        raise AuthError(
            "Invalid OAuth access token - the token does not grant access to "
            f"phone number {phone_number_id}."
        )
    return number


def _waba(request: Request, version: str, waba_id: str) -> str:
    _check_version(version)
    sim = _sim(request)
    token = bearer(request)
    if not sim.state.token_valid(token):
        raise AuthError()
    if waba_id not in sim.state.wabas():
        raise unknown_object(waba_id, request.method.lower())
    if token not in sim.state.waba_tokens(waba_id):
        raise AuthError(
            "Invalid OAuth access token - the token does not grant access to "
            f"WhatsApp Business Account {waba_id}."
        )
    return waba_id


async def _json(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise GraphError(100, "The request body is not valid JSON.") from None


# -------------------------------------------------------------------- messages


@router.post("/{version}/{phone_number_id}/messages")
async def send_message(version: str, phone_number_id: str, request: Request) -> dict:
    number = _number(request, version, phone_number_id)
    sim = _sim(request)
    if not number.registered:
        raise GraphError(133010, "The phone number is not registered for Cloud API use.")
    if sim.state.rate_exceeded(number):
        raise GraphError(
            130429,
            "Message failed to send because there were too many messages "
            "sent from this phone number in a short period of time.",
        )
    req = validate_send(await _json(request))
    if req.kind == "read":
        return sim.mark_read(number, req)
    return sim.business_send(number, req)


@router.post("/{version}/{phone_number_id}/calls")
async def call_action(version: str, phone_number_id: str, request: Request) -> dict:
    """Calling API: connect, pre_accept, accept, reject, terminate."""
    number = _number(request, version, phone_number_id)
    return await _sim(request).calls.action(number, await _json(request))


@router.post("/{version}/{phone_number_id}/settings")
async def set_settings(version: str, phone_number_id: str, request: Request) -> dict:
    """Phone number settings: the `calling` object."""
    number = _number(request, version, phone_number_id)
    fault = _sim(request).state.take_fault(f"settings:{number.phone_number_id}")
    if fault is not None:
        raise GraphError(fault.code, fault.details or "Settings could not be changed.")
    return _sim(request).calls.set_settings(number, await _json(request))


@router.get("/{version}/{phone_number_id}/settings")
async def get_settings(version: str, phone_number_id: str, request: Request) -> dict:
    number = _number(request, version, phone_number_id)
    return {"calling": _sim(request).calls.settings_of(number)}


# ----------------------------------------------------------------------- media


def media_url(sim: Simulator, media: Media) -> str:
    expires = int(sim.clock.now()) + sim.config.media_url_ttl_seconds
    query = urlencode({"ext": expires, "hash": _media_hash(sim, media.id, expires)})
    return f"{sim.config.public_url}/_media/{media.id}?{query}"


def _media_hash(sim: Simulator, media_id: str, expires: int) -> str:
    mac = hmac.new(sim.config.app_secret.encode(), f"{media_id}:{expires}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:18]).decode()


def _media_info(sim: Simulator, media: Media) -> dict:
    return {
        "messaging_product": "whatsapp",
        "url": media_url(sim, media),
        "mime_type": media.mime_type,
        "sha256": media.sha256_hex,
        "file_size": len(media.data),
        "id": media.id,
    }


@router.post("/{version}/{phone_number_id}/media")
async def upload_media(version: str, phone_number_id: str, request: Request) -> dict:
    number = _number(request, version, phone_number_id)
    sim = _sim(request)
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise GraphError(
            100, "Upload media with multipart/form-data: file, type, messaging_product."
        )
    form = await request.form()
    try:
        product = form.get("messaging_product")
        if not product:
            raise missing("messaging_product")
        if product != "whatsapp":
            raise GraphError(
                100, f'Param messaging_product must be one of {{WHATSAPP}} - got "{product}".'
            )
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise missing("file")
        data = await upload.read()
        declared = form.get("type")
        mime = declared if isinstance(declared, str) and declared else (upload.content_type or "")
        check_upload(mime, data)
        media = sim.store_media(data, mime, number.phone_number_id, filename=upload.filename)
    finally:
        await form.close()
    return {"id": media.id}


@router.get("/_media/{media_id}")
async def download_media(media_id: str, request: Request) -> Response:
    """The short-lived URL `GET /{media_id}` hands out; needs the bearer token too."""
    sim = _sim(request)
    media = sim.state.media.get(media_id)
    token = bearer(request)
    owner = sim.state.numbers.get(media.owner) if media else None
    if not sim.state.token_valid(token) or (
        owner is not None and token not in sim.state.waba_tokens(owner.waba_id)
    ):
        raise AuthError()
    try:
        expires = int(request.query_params.get("ext", ""))
    except ValueError:
        expires = 0
    given = request.query_params.get("hash", "")
    if media is None or not hmac.compare_digest(given, _media_hash(sim, media_id, expires)):
        raise GraphError(100, "This media URL is not valid.", http_status=404)
    if expires < sim.clock.now():
        raise GraphError(
            100, "This media URL has expired; look the media id up again.", http_status=404
        )
    return Response(media.data, media_type=media.mime_type)


# ------------------------------------------------------------------- templates


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(str(index).encode()).decode()


def _uncursor(value: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(value.encode()).decode())
    except (ValueError, UnicodeDecodeError):
        raise GraphError(100, "Invalid cursor.") from None


@router.get("/{version}/{waba_id}/message_templates")
async def list_templates(version: str, waba_id: str, request: Request) -> dict:
    _waba(request, version, waba_id)
    sim = _sim(request)
    params = request.query_params
    items: list[Template] = sorted(
        sim.state.waba_templates(waba_id), key=lambda t: (t.created_at, t.id)
    )
    for key in ("name", "language", "status", "category"):
        wanted = params.get(key)
        if wanted:
            items = [
                t
                for t in items
                if (
                    wanted in t.name if key == "name" else getattr(t, key).upper() == wanted.upper()
                )
            ]
    try:
        limit = max(1, min(int(params.get("limit", 25)), 1000))
    except ValueError:
        raise GraphError(100, "Param limit must be an integer.") from None
    start = _uncursor(params["after"]) + 1 if params.get("after") else 0
    if params.get("before"):
        start = max(0, _uncursor(params["before"]) - limit)
    page = items[start : start + limit]
    result: dict[str, Any] = {"data": [t.public() for t in page]}
    if page:
        paging: dict[str, Any] = {
            "cursors": {"before": _cursor(start), "after": _cursor(start + len(page) - 1)}
        }
        if start + len(page) < len(items):
            query = dict(params)
            query.pop("before", None)
            query["after"] = paging["cursors"]["after"]
            query["limit"] = str(limit)
            paging["next"] = (
                f"{sim.config.public_url}/{version}/{waba_id}/message_templates?{urlencode(query)}"
            )
        if start > 0:
            query = dict(params)
            query.pop("after", None)
            query["before"] = paging["cursors"]["before"]
            paging["previous"] = (
                f"{sim.config.public_url}/{version}/{waba_id}/message_templates?{urlencode(query)}"
            )
        result["paging"] = paging
    return result


@router.post("/{version}/{waba_id}/message_templates")
async def create_template(version: str, waba_id: str, request: Request) -> dict:
    _waba(request, version, waba_id)
    sim = _sim(request)
    data = validate_template_create(await _json(request))
    for existing in sim.state.waba_templates(waba_id):
        if existing.name == data["name"] and existing.language == data["language"]:
            raise GraphError(
                100,
                f"Content in this language already exists: {data['name']} ({data['language']}).",
                error_subcode=2388024,
            )
    template = sim.state.add_template(waba_id, data)
    sim.schedule_review(template)
    return {"id": template.id, "status": template.status, "category": template.category}


@router.delete("/{version}/{waba_id}/message_templates")
async def delete_template(version: str, waba_id: str, request: Request) -> dict:
    _waba(request, version, waba_id)
    sim = _sim(request)
    name = request.query_params.get("name")
    hsm_id = request.query_params.get("hsm_id")
    if not name:
        raise missing("name")
    doomed = [
        t
        for t in sim.state.waba_templates(waba_id)
        if t.name == name and (not hsm_id or t.id == hsm_id)
    ]
    if not doomed:
        raise GraphError(100, f'Message template "{name}" not found.', error_subcode=2593002)
    for template in doomed:
        del sim.state.templates[template.id]
    return {"success": True}


# ------------------------------------------------------- numbers and accounts


def _phone_info(number: SimNumber) -> dict:
    return {
        "verified_name": number.verified_name,
        "code_verification_status": "VERIFIED",
        "display_phone_number": number.display_phone_number,
        "quality_rating": number.quality_rating,
        "platform_type": "CLOUD_API",
        "status": "CONNECTED" if number.registered else "PENDING",
        "name_status": number.name_status,
        "messaging_limit_tier": number.messaging_limit_tier,
        "throughput": {"level": number.throughput_level},
        "id": number.phone_number_id,
    }


@router.get("/{version}/{waba_id}/phone_numbers")
async def list_numbers(version: str, waba_id: str, request: Request) -> dict:
    _waba(request, version, waba_id)
    numbers = [n for n in _sim(request).state.numbers.values() if n.waba_id == waba_id]
    return {
        "data": [_phone_info(n) for n in numbers],
        "paging": {"cursors": {"before": _cursor(0), "after": _cursor(len(numbers) - 1)}},
    }


def _app_of(sim: Simulator, token: str | None) -> str:
    grant = sim.state.grants.get(token or "")
    return grant.app_id if grant is not None else sim.config.app_id


@router.post("/{version}/{waba_id}/subscribed_apps")
async def subscribe_app(version: str, waba_id: str, request: Request) -> dict:
    """The token's app receives the WABA's webhooks from now on."""
    _waba(request, version, waba_id)
    sim = _sim(request)
    fault = sim.state.take_fault("signup:subscribe")
    if fault is not None:
        raise GraphError(fault.code, fault.details)
    sim.state.subscriptions.setdefault(waba_id, set()).add(_app_of(sim, bearer(request)))
    return {"success": True}


@router.get("/{version}/{waba_id}/subscribed_apps")
async def subscribed_apps(version: str, waba_id: str, request: Request) -> dict:
    _waba(request, version, waba_id)
    apps = sorted(_sim(request).state.subscriptions.get(waba_id, set()))
    return {
        "data": [
            {"whatsapp_business_api_data": {"name": "Madoguchi", "id": app, "link": ""}}
            for app in apps
        ]
    }


@router.delete("/{version}/{waba_id}/subscribed_apps")
async def unsubscribe_app(version: str, waba_id: str, request: Request) -> dict:
    _waba(request, version, waba_id)
    sim = _sim(request)
    sim.state.subscriptions.get(waba_id, set()).discard(_app_of(sim, bearer(request)))
    return {"success": True}


@router.post("/{version}/{phone_number_id}/register")
async def register_number(version: str, phone_number_id: str, request: Request) -> dict:
    """Register for Cloud API use with the two-step PIN (set by the first registration)."""
    number = _number(request, version, phone_number_id)
    body = await _json(request)
    if body.get("messaging_product") != "whatsapp":
        raise missing("messaging_product")
    pin = str(body.get("pin", ""))
    if not re.fullmatch(r"\d{6}", pin):
        raise GraphError(100, "Param pin must be a 6-digit number.")
    fault = _sim(request).state.take_fault("signup:register")
    if fault is not None:
        raise GraphError(fault.code, fault.details)
    if number.pin is not None and pin != number.pin:
        raise GraphError(
            133005, "The PIN does not match the two-step verification PIN set on this number."
        )
    number.pin = pin
    number.registered = True
    return {"success": True}


@router.get("/{version}/{node_id}")
async def get_node(version: str, node_id: str, request: Request) -> dict:
    """One path for every object id: phone number, media, template or WABA."""
    _check_version(version)
    sim = _sim(request)
    state = sim.state
    token = bearer(request)
    if not state.token_valid(token):
        raise AuthError()
    if node_id in state.numbers:
        return _phone_info(_number(request, version, node_id))
    media = state.media.get(node_id)
    if media is not None and token in state.waba_tokens(state.numbers[media.owner].waba_id):
        wanted = request.query_params.get("phone_number_id")
        if wanted and wanted != media.owner:
            raise unknown_object(node_id)
        return _media_info(sim, media)
    template = state.templates.get(node_id)
    if template is not None and token in state.waba_tokens(template.waba_id):
        return template.public()
    if node_id in state.wabas() and token in state.waba_tokens(node_id):
        return {
            "id": node_id,
            "name": state.waba_names.get(node_id, "Madoguchi Simulator WABA"),
            "currency": "USD",
            "timezone_id": "1",
            "message_template_namespace": f"sim_{node_id}",
        }
    raise unknown_object(node_id)


@router.delete("/{version}/{node_id}")
async def delete_node(version: str, node_id: str, request: Request) -> dict:
    _check_version(version)
    state = _sim(request).state
    token = bearer(request)
    if not state.token_valid(token):
        raise AuthError()
    media = state.media.get(node_id)
    if media is None or token not in state.waba_tokens(state.numbers[media.owner].waba_id):
        raise unknown_object(node_id, "delete")
    del state.media[node_id]
    return {"success": True}


# ------------------------------------------------------------------ sent log

RECORD_BODY_LIMIT = 256 * 1024
RECORD_RESPONSE_LIMIT = 64 * 1024
NOT_RECORDED = ("/_sim", "/static", "/favicon.ico")


class RequestRecorder:
    """ASGI middleware: remembers every request the business makes to the Graph API
    (and media downloads), with its response, for `GET /_sim/sent`."""

    def __init__(self, app: ASGIApp, sim: Simulator) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path == "/" or path.startswith(NOT_RECORDED):
            await self.app(scope, receive, send)
            return
        arrived = self.sim.state.clock.now()  # Meta counts rates by arrival, so do we
        body = bytearray()
        size = 0
        response = bytearray()
        meta: dict[str, Any] = {"status": None, "content_type": ""}

        async def receive_wrapper() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                size += len(chunk)
                if len(body) < RECORD_BODY_LIMIT:
                    body.extend(chunk[: RECORD_BODY_LIMIT - len(body)])
            return message

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                meta["status"] = message["status"]
                for key, value in message.get("headers", []):
                    if key.lower() == b"content-type":
                        meta["content_type"] = value.decode("latin-1")
            elif message["type"] == "http.response.body" and len(response) < (
                RECORD_RESPONSE_LIMIT
            ):
                response.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        finally:
            self._record(scope, arrived, bytes(body), size, bytes(response), meta)

    def _record(
        self, scope: Scope, arrived: float, body: bytes, size: int, response: bytes, meta: dict
    ) -> None:
        state = self.sim.state
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        path = scope.get("path", "")
        parts = path.strip("/").split("/")
        node = parts[1] if len(parts) > 1 else None
        content_type = headers.get("content-type", "")
        auth = headers.get("authorization", "")
        state.sent_seq += 1
        state.sent.append(
            {
                "seq": state.sent_seq,
                "at": arrived,
                "method": scope.get("method"),
                "path": path,
                "query": scope.get("query_string", b"").decode("latin-1"),
                "phone_number_id": node if node in state.numbers else None,
                "node_id": node,
                "token": auth[7:].strip() if auth.lower().startswith("bearer ") else None,
                "content_type": content_type,
                "body_size": size,
                "body": _maybe_json(body) if "json" in content_type or not content_type else None,
                "status_code": meta["status"],
                "response": _maybe_json(response) if "json" in meta["content_type"] else None,
            }
        )


def _maybe_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None
