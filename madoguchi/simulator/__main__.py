"""`python -m madoguchi.simulator`: serve the simulator (the CLI's `madoguchi simulator`
does the same with the project's settings)."""

from __future__ import annotations

import argparse
import json

from .app import run
from .config import SimulatorConfig


def main(argv: list[str] | None = None) -> None:
    defaults = SimulatorConfig()
    parser = argparse.ArgumentParser(
        prog="python -m madoguchi.simulator",
        description="A local WhatsApp Cloud API and customers' phones, for demos and tests.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument(
        "--webhook-url",
        default=defaults.webhook_url,
        help="the project's POST /webhooks/whatsapp ('' for none)",
    )
    parser.add_argument("--app-secret", default=defaults.app_secret)
    parser.add_argument("--verify-token", default=defaults.verify_token)
    parser.add_argument(
        "--public-url", default=None, help="this simulator's base URL (default http://HOST:PORT)"
    )
    parser.add_argument(
        "--config",
        default=None,
        help="a JSON file with SimulatorConfig fields (overrides the flags)",
    )
    args = parser.parse_args(argv)
    fields = {
        "webhook_url": args.webhook_url or None,
        "app_secret": args.app_secret,
        "verify_token": args.verify_token,
        "public_url": args.public_url or f"http://{args.host}:{args.port}",
    }
    if args.config:
        with open(args.config, encoding="utf-8") as handle:
            fields.update(json.load(handle))
    run(SimulatorConfig.model_validate(fields), args.host, args.port)


if __name__ == "__main__":
    main()
