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


def documented_app(**kwargs: Any) -> FastAPI:
    """A FastAPI app whose ``/docs`` (Swagger UI) and ``/redoc`` need no network."""
    return FastAPIOffline(static_url=DOCS_ASSETS, **kwargs)
