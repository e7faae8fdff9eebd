"""Routes whose errors all carry a code: ``{"detail": {"code", "message"}}``.

The calls and the supervisors' actions answer their refusals with a code a client can
branch on (``not_ringing``, ``ended``, ``not_monitoring``…). Their 404 came from the
shared lookups (``visible_conversation``, ``visible_call``) as a bare string
(``{"detail": "conversation 7 not found"}``), so a client of these routes had to read two
shapes. A router built with ``route_class=CodedErrors`` answers such a 404 as
``{"code": "not_found", "message": …}``; every other answer is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute


class CodedErrors(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def coded(request: Request) -> Response:
            try:
                return await handler(request)
            except HTTPException as exc:
                if exc.status_code != 404 or not isinstance(exc.detail, str):
                    raise
                detail = {"code": "not_found", "message": exc.detail}
                raise HTTPException(404, detail, headers=exc.headers) from exc

        return coded
