"""Where a customer's reply to a business-initiated conversation goes.

An agent (or an API client on an agent's or a queue's behalf) starts a conversation with a
template; when the customer answers within the configured time, the conversation goes
back to that agent, or to that queue, instead of through the number's flow. The outbound
service records the target on the conversation; the routing engine asks this function.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


def route_back_target(conversation: Any, now: datetime) -> tuple[int | None, int | None] | None:
    """``(agent_id, queue_id)`` a reply should go to at ``now``, or None to route normally.

    ``conversation`` is anything with ``route_back_agent_id``, ``route_back_queue_id`` and
    ``route_back_until`` (the ORM row or a plain object). The agent comes first; the queue
    is where to offer it when that agent cannot take it (or the only target when no agent
    was named). Past ``route_back_until`` (exclusive), the reply is routed like any other.
    """
    until = getattr(conversation, "route_back_until", None)
    agent_id = getattr(conversation, "route_back_agent_id", None)
    queue_id = getattr(conversation, "route_back_queue_id", None)
    if until is None or now >= until:
        return None
    if agent_id is None and queue_id is None:
        return None
    return agent_id, queue_id
