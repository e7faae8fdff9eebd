"""Every request body is bounded while it is read, before the application buffers it.

A body over its route's limit is answered ``413`` at once when ``Content-Length`` says
so, or as soon as the bytes read pass the limit (a chunked body); the rest is never
read into memory. Limits: Meta's webhook 3 MiB; the media upload WhatsApp's largest file
plus room for the form; a campaign's audience CSV 32 MiB; every other route
``MADOGUCHI_MAX_REQUEST_BYTES`` (1 MiB).

JSON nested deeper than Python's parser can follow is a ``400``, not a crash. A request
the database cannot hold (an id past 64 bits, a NUL character in a text on PostgreSQL) is
a ``422`` naming what it can, and a validation error about ``NaN`` or ``Infinity`` (which
Python's JSON parser reads) is answered like any other, not a crash while writing it.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError

from madoguchi.whatsapp.media_limits import MEDIA_KINDS, max_bytes

WEBHOOK_BYTES = 3 * 1024 * 1024
MULTIPART_SLACK = 64 * 1024
UPLOAD_BYTES = max(max_bytes(kind) for kind in MEDIA_KINDS) + MULTIPART_SLACK
# A campaign's audience CSV: 100,000 customers with their template values are a few MB.
AUDIENCE_CSV_BYTES = 32 * 1024 * 1024
AUDIENCE_PATH = re.compile(r"^/api/v1/campaigns/\d+/audience$")
# Routes that read larger bodies by design, each bounded by the route's own rule.
LARGER = {
    "/api/v1/rate-cards/import": 2_000_000 + MULTIPART_SLACK,  # MAX_SHEET_BYTES
    "/api/v1/knowledge/import": 500 * 200_000 + MULTIPART_SLACK,  # files × file size
}


def body_too_large(limit: int) -> bytes:
    """The 413 answer's JSON body."""
    return json.dumps(
        {
            "detail": {
                "code": "body_too_large",
                "message": f"the request body is larger than {limit} bytes, the limit here",
                "limit": limit,
            }
        }
    ).encode()


class BodyLimitMiddleware:
    """Pure ASGI: counts the body as it streams through ``receive``."""

    def __init__(self, app, max_request_bytes: int) -> None:
        self.app = app
        self.default = max_request_bytes

    def limit_for(self, path: str) -> int:
        if path == "/webhooks/whatsapp":
            return WEBHOOK_BYTES
        if path == "/api/v1/media":
            return UPLOAD_BYTES
        if AUDIENCE_PATH.match(path):
            return AUDIENCE_CSV_BYTES + MULTIPART_SLACK
        return LARGER.get(path, self.default)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit_for(scope.get("path", ""))
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and (not value.isdigit() or int(value) > limit):
                return await self._refuse(send, limit)
        seen = 0
        started = refused = False

        async def limited_receive():
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Answer now; the application sees the client gone and stops reading.
                    refused = True
                    if not started:
                        await self._refuse(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message):
            nonlocal started
            if refused:
                return  # the 413 is the answer
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, tracking_send)

    @staticmethod
    async def _refuse(send, limit: int) -> None:
        body = body_too_large(limit)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def out_of_range() -> JSONResponse:
    return JSONResponse(
        {
            "detail": {
                "code": "out_of_range",
                "message": "a number in the request is too large (ids and counts fit in 64 bits)",
            }
        },
        status_code=422,
    )


# How PostgreSQL refuses a NUL: in a text column, and in a JSON column's text.
_NUL_REFUSED = (
    'invalid byte sequence for encoding "UTF8": 0x00',
    "unsupported Unicode escape sequence",
)


def nul_character(request: Request) -> JSONResponse:
    """PostgreSQL's text cannot hold U+0000: the parameter that carries one is named (a
    body's field cannot be told apart here, so it is the body's)."""
    params = [*request.path_params.items(), *request.query_params.multi_items()]
    field = next((name for name, value in params if "\x00" in str(value)), None)
    where = f"`{field}`" if field else "a text in the request body"
    detail = {
        "code": "nul_character",
        "message": f"{where} contains a NUL character (\\u0000), which text cannot hold",
    }
    if field:
        detail["field"] = field
    return JSONResponse({"detail": detail}, status_code=422)


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinity as its name (strict JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def install(app: FastAPI, max_request_bytes: int) -> None:
    app.add_middleware(BodyLimitMiddleware, max_request_bytes=max_request_bytes)

    @app.exception_handler(OverflowError)
    async def too_large_number(request: Request, exc: OverflowError) -> JSONResponse:
        return out_of_range()

    @app.exception_handler(DBAPIError)
    async def database_refused(request: Request, exc: DBAPIError) -> JSONResponse:
        """A number the database cannot hold (an id of 2^70) is the caller's mistake;
        anything else is a real server error and is raised on."""
        message = str(exc.orig)
        if isinstance(exc.orig, OverflowError) or ("out of" in message and "range" in message):
            return out_of_range()
        if any(sign in message for sign in _NUL_REFUSED):
            return nul_character(request)
        raise exc

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        """FastAPI's own answer (each error's ``loc`` names the field), with a ``NaN`` the
        client sent echoed as a string: the default answer failed to encode it (a 500)."""
        return JSONResponse({"detail": _finite(jsonable_encoder(exc.errors()))}, status_code=422)

    @app.exception_handler(RecursionError)
    async def too_deep(request: Request, exc: RecursionError) -> JSONResponse:
        return JSONResponse(
            {"detail": {"code": "too_deep", "message": "the JSON body is nested too deeply"}},
            status_code=400,
        )
