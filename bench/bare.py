"""The bare Starlette endpoint: the ceiling for the acknowledgement path (``== ack``).

Starlette alone (no FastAPI routing, no middleware), started with the same
``uvicorn.run`` options as ``madoguchi serve``: it reads the body, refuses an oversized
one, checks ``X-Hub-Signature-256`` with the product's own ``verify_signature`` and
answers 200 with a small JSON body. Nothing is parsed or stored: whatever the product
does beyond this is the price of its acknowledgement path.

Run: ``python -m bench.bare --port 8123 --app-secret …``
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from madoguchi.gc_tuning import freeze_startup_heap
from madoguchi.whatsapp.signature import SignatureError, verify_signature

MAX_BODY_BYTES = 3 * 1024 * 1024


def create_app(app_secret: str) -> Starlette:
    async def receive(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"detail": "too large"}, status_code=413)
        try:
            verify_signature(body, request.headers.get("x-hub-signature-256"), app_secret)
        except SignatureError as exc:
            return JSONResponse({"detail": exc.reason}, status_code=403)
        return Response(b'{"received":1}', media_type="application/json")

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(
        routes=[
            Route("/webhooks/whatsapp", receive, methods=["POST"]),
            Route("/healthz", healthz),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--app-secret", required=True)
    args = parser.parse_args()
    # The same start as `madoguchi serve` (madoguchi/cli.py): heap frozen, same options.
    application = create_app(args.app_secret)
    freeze_startup_heap()
    uvicorn.run(
        application,
        host=args.host,
        port=args.port,
        log_level="info",
        access_log=False,
        ws_per_message_deflate=False,
    )


if __name__ == "__main__":
    main()
