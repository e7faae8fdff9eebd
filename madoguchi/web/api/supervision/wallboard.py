"""``GET /api/v1/wallboard``: the live operation for supervisors and admins.

The same board the web app watches over the websocket (``wallboard.watch``: the whole
board, then deltas; see ``services/supervision/live_wallboard.py``), for API clients,
which may re-read it on each ``wallboard.changed`` nudge. A supervisor listed on some
queues sees those queues only; filters narrow the conversation list.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, HTTPException, Query, Response

from madoguchi.domain.lifecycle import OPEN_STATUSES
from madoguchi.runtime import Runtime
from madoguchi.services.access.tokens import Principal
from madoguchi.services.access.visibility import supervised_queue_ids
from madoguchi.services.reporting.filters import unknown_filter
from madoguchi.services.supervision.live_wallboard import page
from madoguchi.services.supervision.wallboard import for_viewer
from madoguchi.web.deps import get_runtime, supervisor_or_admin

router = APIRouter(prefix="/api/v1", tags=["supervision"])


@router.get("/wallboard")
async def get_wallboard(
    queue_id: int | None = Query(None, description="Only this queue's conversations"),
    agent_id: int | None = Query(None, description="Only conversations with this agent"),
    status: str | None = Query(None, description="Only conversations in this status"),
    limit: int | None = Query(
        None, ge=1, le=100_000, description="At most this many conversations, most urgent first"
    ),
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    """Queues, agents and open conversations now (the most urgent first;
    ``conversations_total`` counts them all), and today's figures per queue (definitions:
    docs/metrics.md)."""
    if status is not None and status not in OPEN_STATUSES:
        raise HTTPException(
            422,
            {
                "field": "status",
                "message": f"status must be one of {', '.join(OPEN_STATUSES)} (open ones)",
            },
        )
    async with runtime.db.read() as session:
        allowed = await supervised_queue_ids(session, principal)
        unknown = await unknown_filter(
            session, principal.workspace_id, queue_id=queue_id, agent_id=agent_id
        )
    if unknown is not None:
        field, message = unknown
        raise HTTPException(422, {"field": field, "message": message})
    if allowed is None and queue_id is None and agent_id is None and status is None:
        # The common read (admins, unlimited supervisors): one rendering for all of them.
        body = await runtime.wallboard.rendered(principal.workspace_id, limit)
        return Response(body, media_type="application/json")
    board = for_viewer(await runtime.wallboard.snapshot(principal.workspace_id), allowed)
    rows = board["conversations"]
    if queue_id is not None:
        rows = [c for c in rows if c["queue_id"] == queue_id]
    if agent_id is not None:
        rows = [c for c in rows if c["agent_id"] == agent_id]
    if status is not None:
        rows = [c for c in rows if c["status"] == status]
    body = page({**board, "conversations": rows}, limit, sorted(allowed) if allowed else "all")
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")
