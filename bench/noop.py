"""The no-op webhook endpoint: the ingest benchmark's baseline.

Same stack as ``madoguchi serve`` (FastAPI on uvicorn, started with the same
``uvicorn.run`` options: uvloop and httptools when installed, ``log_level="info"``,
``access_log=False``). It reads the body, refuses an oversized one, checks
``X-Hub-Signature-256`` with the product's own ``verify_signature`` and answers 200 with a
small JSON object, like the real endpoint but without parsing or storing anything.

Run: ``python -m bench.noop --port 8123 --app-secret …``
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from madoguchi.gc_tuning import freeze_startup_heap
from madoguchi.whatsapp.signature import SignatureError, verify_signature

MAX_BODY_BYTES = 3 * 1024 * 1024


def create_app(app_secret: str) -> FastAPI:
    app = FastAPI(title="bench no-op webhook")

    @app.post("/webhooks/whatsapp")
    async def receive(request: Request):
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"detail": "too large"}, status_code=413)
        try:
            verify_signature(body, request.headers.get("x-hub-signature-256"), app_secret)
        except SignatureError as exc:
            return JSONResponse({"detail": exc.reason}, status_code=403)
        return {"received": 1}

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.noop")
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
    )


if __name__ == "__main__":
    main()
