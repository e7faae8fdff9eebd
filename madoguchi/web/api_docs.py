"""``/docs`` and ``/redoc`` that work with no internet.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so on a self-hosted server
without internet access (common for a contact center behind a firewall) ``/docs`` is a
blank page. fastapi-offline ships those assets inside the package and serves them from
this server at ``DOCS_ASSETS``; nothing else about the app changes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

DOCS_ASSETS = "/docs-assets"


# FastAPI's native OpenTelemetry hooks, off: Madoguchi exports Prometheus figures
# (``/metrics``), and with the hooks on, every request asks OpenTelemetry's global
# providers (three environment look-ups) whether anyone listens — ~8 % of the CPU of a
# webhook's acknowledgement (bench/ack_cpu.py under cProfile).
NO_TELEMETRY = {"tracing": False, "metrics": False, "logs": False}


def documented_app(**kwargs: Any) -> FastAPI:
    """A FastAPI app whose ``/docs`` (Swagger UI) and ``/redoc`` need no network."""
    kwargs.setdefault("telemetry", NO_TELEMETRY)
    return FastAPIOffline(static_url=DOCS_ASSETS, **kwargs)
