"""Customer satisfaction in reports: score (mean of 1–5), % satisfied (4–5), response
rate (answered ÷ asked), by queue, agent and period.

The answers are stored by the CSAT capability (the ``reportsui`` helper's part:
``csat_responses(conversation_id, workspace_id, queue_id, agent_id, score, asked_at,
answered_at)``); until that table exists this report answers empty figures.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


async def report(session: AsyncSession, q) -> dict[str, Any]:
    return {
        "totals": {
            "asked": 0,
            "answered": 0,
            "response_rate_percent": None,
            "score": None,
            "satisfied_percent": None,
        },
        "series": [],
        "rows": [],
        "distributions": {"score": [{"bucket": str(s), "count": 0} for s in range(1, 6)]},
    }
