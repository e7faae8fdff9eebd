"""``/webhooks/whatsapp``: Meta's (or the simulator's) door into Madoguchi.

Order matters: the signature is checked over the exact bytes before anything is parsed;
a body that is not a delivery at all is refused with the reason; a delivery with some
malformed updates is accepted (the bad updates are kept in ``rejected_updates`` with the
reason by the processor); and 200 is returned only after the bytes are committed to the
journal. What the delivery says is stored and published right after, by the journal's
processor (``services.channel.webhook_journal``), so neither the database work nor a
slow listener delays Meta's acknowledgement (Meta treats a slow answer as a failure and
redelivers).
"""

from __future__ import annotations

import json
import secrets

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from madoguchi.services.channel.journal_claim import customer_key
from madoguchi.web.deps import get_runtime
from madoguchi.web.limits import WEBHOOK_BYTES, body_too_large
from madoguchi.whatsapp.signature import SignatureInvalid, SignatureMissing, verify_signature
from madoguchi.whatsapp.updates import WebhookFormatError, parse_delivery

router = APIRouter(tags=["webhooks"])

PATH = "/webhooks/whatsapp"
_ACCEPTED = {"received", "delivery_id"}
MAX_BODY_BYTES = WEBHOOK_BYTES


@router.get("/webhooks/whatsapp", response_class=PlainTextResponse)
async def verify_subscription(
    request: Request,
    mode: str | None = Query(None, alias="hub.mode"),
    verify_token: str | None = Query(None, alias="hub.verify_token"),
    challenge: str | None = Query(None, alias="hub.challenge"),
):
    """Meta's subscription handshake: echo the challenge when the token matches."""
    expected = get_runtime(request).settings.verify_token.get_secret_value()
    if mode != "subscribe" or challenge is None:
        return PlainTextResponse("expected hub.mode=subscribe and a hub.challenge", 400)
    if verify_token is None or not secrets.compare_digest(verify_token.encode(), expected.encode()):
        return PlainTextResponse("hub.verify_token does not match MADOGUCHI_VERIFY_TOKEN", 403)
    return PlainTextResponse(challenge)


def _screen(runtime, body: bytes, signature: str | None):
    """Everything before the journal: (status, problem) when refused, else (updates,
    rejected updates). Order matters: size, signature over the exact bytes, then parse."""
    if len(body) > MAX_BODY_BYTES:
        return 413, f"delivery is {len(body)} bytes; the limit is {MAX_BODY_BYTES}"
    try:
        verify_signature(body, signature, runtime.settings.app_secret.get_secret_value())
    except SignatureMissing as exc:
        runtime.metrics.webhook_rejected.labels("signature_missing").inc()
        return 401, f"X-Hub-Signature-256 is required: {exc.reason}"
    except SignatureInvalid as exc:
        runtime.metrics.webhook_rejected.labels("signature_invalid").inc()
        return 403, f"X-Hub-Signature-256 does not match this body: {exc.reason}"
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        runtime.metrics.webhook_rejected.labels("malformed_json").inc()
        return 400, f"body is not valid JSON: {exc}"
    except RecursionError:
        runtime.metrics.webhook_rejected.labels("malformed_json").inc()
        return 400, "body is not a WhatsApp delivery: JSON nested too deeply"
    rejected: list = []
    try:
        updates = parse_delivery(payload, rejected)
    except (WebhookFormatError, RecursionError) as exc:
        runtime.metrics.webhook_rejected.labels("bad_envelope").inc()
        return 400, f"not a WhatsApp webhook delivery: {exc}"
    return updates, rejected


async def acknowledge(runtime, body: bytes, signature: str | None) -> tuple[int, dict]:
    """The answer to Meta's POST as (status, JSON object): 200 only once the delivery's
    bytes are committed to the journal."""
    first, second = _screen(runtime, body, signature)
    if isinstance(second, str):
        return first, {"detail": second}
    updates, rejected = first, second
    # Signed and a delivery: acknowledged, even when some updates in it do not parse
    # (they are kept in rejected_updates by the processor, the rest is stored).
    delivery_id = await runtime.journal.append(
        body, len(updates) + len(rejected), customer_key(updates)
    )
    runtime.metrics.webhook_accepted.inc()
    out = {"received": len(updates), "delivery_id": delivery_id}
    if rejected:
        out["rejected"] = [{"path": r.path, "reason": r.reason} for r in rejected]
    return 200, out


async def receive_delivery(request: Request) -> JSONResponse:
    """Meta's POST through the router (``WebhookFastPath`` answers it before the router
    in the served app; this route serves an app built without it)."""
    status, out = await acknowledge(
        get_runtime(request), await request.body(), request.headers.get("x-hub-signature-256")
    )
    return JSONResponse(out, status_code=status)


class WebhookFastPath:
    """Pure ASGI, the outermost of the app's own middleware: Meta's POST is answered here,
    without the router, the exception layers and the other middleware of the API (a
    webhook needs none of them), which cost more per request than the signature check.

    It keeps everything the general path gives this route: the body bounded while read
    (``limits``: 413 as soon as ``Content-Length`` or the bytes read pass 3 MiB, in the
    same form), the security headers of every response, and an error raised here (the
    journal's commit failed) reaches FastAPI's error middleware: a 500, so Meta retries.
    """

    def __init__(self, app, security_headers: list[tuple[bytes, bytes]]) -> None:
        self.app = app
        self.headers = security_headers

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            return await self.app(scope, receive, send)
        signature = None
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > WEBHOOK_BYTES):
                return await self._send(send, 413, body_too_large(WEBHOOK_BYTES))
            if name == b"x-hub-signature-256":
                signature = value.decode("latin-1")
        chunks = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the caller is gone: nothing to answer, nothing stored
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > WEBHOOK_BYTES:
                return await self._send(send, 413, body_too_large(WEBHOOK_BYTES))
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        status, out = await acknowledge(scope["app"].state.runtime, body, signature)
        await self._send(send, status, _json(out))

    async def _send(self, send, status: int, body: bytes) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *self.headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _json(value: dict) -> bytes:
    """As ``JSONResponse`` renders it (the usual answer, two integers, formatted directly:
    the same bytes for a fraction of ``json.dumps``'s cost)."""
    if value.keys() == _ACCEPTED:
        received, delivery_id = value["received"], value["delivery_id"]
        if type(received) is int and type(delivery_id) is int:
            return b'{"received":%d,"delivery_id":%d}' % (received, delivery_id)
    return json.dumps(
        value, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


router.add_route("/webhooks/whatsapp", receive_delivery, methods=["POST"], include_in_schema=False)
# First in the table: a request that matches a route's path but not its method (the GET
# handshake) makes the router scan every other route before settling.
router.routes.insert(0, router.routes.pop())
