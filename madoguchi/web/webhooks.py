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
from madoguchi.whatsapp.signature import SignatureInvalid, SignatureMissing, verify_signature
from madoguchi.whatsapp.updates import WebhookFormatError, parse_delivery

router = APIRouter(tags=["webhooks"])

MAX_BODY_BYTES = 3 * 1024 * 1024


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


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


async def receive_delivery(request: Request) -> JSONResponse:
    """Meta's POST: a plain Starlette route, so per-request work is only what is needed
    (no dependency solving or response model for the busiest endpoint there is)."""
    runtime = get_runtime(request)
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return _problem(413, f"delivery is {len(body)} bytes; the limit is {MAX_BODY_BYTES}")
    try:
        verify_signature(
            body,
            request.headers.get("x-hub-signature-256"),
            runtime.settings.app_secret.get_secret_value(),
        )
    except SignatureMissing as exc:
        runtime.metrics.webhook_rejected.labels("signature_missing").inc()
        return _problem(401, f"X-Hub-Signature-256 is required: {exc.reason}")
    except SignatureInvalid as exc:
        runtime.metrics.webhook_rejected.labels("signature_invalid").inc()
        return _problem(403, f"X-Hub-Signature-256 does not match this body: {exc.reason}")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        runtime.metrics.webhook_rejected.labels("malformed_json").inc()
        return _problem(400, f"body is not valid JSON: {exc}")
    except RecursionError:
        runtime.metrics.webhook_rejected.labels("malformed_json").inc()
        return _problem(400, "body is not a WhatsApp delivery: JSON nested too deeply")
    rejected: list = []
    try:
        updates = parse_delivery(payload, rejected)
    except (WebhookFormatError, RecursionError) as exc:
        runtime.metrics.webhook_rejected.labels("bad_envelope").inc()
        return _problem(400, f"not a WhatsApp webhook delivery: {exc}")

    # Signed and a delivery: acknowledged, even when some updates in it do not parse
    # (they are kept in rejected_updates by the processor, the rest is stored).
    delivery_id = await runtime.journal.append(
        body, len(updates) + len(rejected), customer_key(updates)
    )
    runtime.metrics.webhook_accepted.inc()
    out = {"received": len(updates), "delivery_id": delivery_id}
    if rejected:
        out["rejected"] = [{"path": r.path, "reason": r.reason} for r in rejected]
    return JSONResponse(out)


router.add_route("/webhooks/whatsapp", receive_delivery, methods=["POST"], include_in_schema=False)
# First in the table: a request that matches a route's path but not its method (the GET
# handshake) makes the router scan every other route before settling.
router.routes.insert(0, router.routes.pop())
