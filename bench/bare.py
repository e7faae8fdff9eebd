"""The baseline webhook endpoints: signature check only, nothing parsed or stored.

Two stacks, both started with the same ``uvicorn.run`` options as ``madoguchi serve``:

- ``starlette`` (the default): Starlette alone (no FastAPI routing, no middleware), the
  ceiling for the acknowledgement path (``== ack``);
- ``fastapi``: the product's own stack (FastAPI on uvicorn), the ingest benchmark's
  no-op baseline (``== ingest``).

Each reads the body, refuses an oversized one, checks ``X-Hub-Signature-256`` with the
product's own ``verify_signature`` and answers 200 with a small JSON body. Whatever the
product does beyond this is the price of its acknowledgement path.

Run: ``python -m bench.bare --port 8123 --app-secret … [--stack fastapi]``
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
STACKS = ("starlette", "fastapi")


async def refusal(request: Request, app_secret: str) -> Response | None:
    """The refusal of a delivery the product would refuse (too large, bad signature)."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return JSONResponse({"detail": "too large"}, status_code=413)
    try:
        verify_signature(body, request.headers.get("x-hub-signature-256"), app_secret)
    except SignatureError as exc:
        return JSONResponse({"detail": exc.reason}, status_code=403)
    return None


def create_app(app_secret: str, stack: str = "starlette"):
    if stack == "fastapi":
        from fastapi import FastAPI

        app = FastAPI(title="bench no-op webhook")

        @app.post("/webhooks/whatsapp")
        async def receive_fastapi(request: Request):
            return await refusal(request, app_secret) or {"received": 1}

        @app.get("/healthz")
        async def healthz_fastapi():
            return {"status": "ok"}

        return app

    async def receive(request: Request) -> Response:
        refused = await refusal(request, app_secret)
        return refused or Response(b'{"received":1}', media_type="application/json")

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
    parser.add_argument("--stack", choices=STACKS, default="starlette")
    args = parser.parse_args()
    # The same start as `madoguchi serve` (madoguchi/cli.py): heap frozen, same options.
    application = create_app(args.app_secret, args.stack)
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
