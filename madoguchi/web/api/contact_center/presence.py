"""``/api/v1/agents``: presence (your own, or an agent's for supervisors), the agents'
load for supervisors, and the colleague directory anyone may read to transfer."""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from madoguchi.runtime import Runtime
from madoguchi.services.access.tokens import Principal
from madoguchi.services.audit.record import Target, record_apart
from madoguchi.services.contact_center import presence
from madoguchi.services.contact_center.assignment import RoutingError
from madoguchi.store.models import (
    AgentPresence,
    Conversation,
    User,
)
from madoguchi.web.api.contact_center.common import (
    http_error,
    run_outcome,
    supervisor,
    user_id_of,
)
from madoguchi.web.deps import any_role, get_runtime

router = APIRouter(prefix="/api/v1", tags=["contact center"])


class PresenceIn(BaseModel):
    """A presence to set (yours, or an agent's by a supervisor: both routes take this)."""

    status: Literal["offline", "available", "away"]  # presence.PRESENCE
    away_reason: str | None = Field(None, max_length=100)


@router.get("/agents")
async def list_agents(
    principal: Principal = Depends(supervisor), runtime: Runtime = Depends(get_runtime)
):
    """Agents with presence and the work they hold (for supervisors)."""
    async with runtime.db.read() as session:
        users = (
            await session.scalars(
                select(User)
                .where(User.workspace_id == principal.workspace_id, User.disabled.is_(False))
                .order_by(User.name)
            )
        ).all()
        presence = {
            p.user_id: p
            for p in await session.scalars(
                select(AgentPresence).where(AgentPresence.workspace_id == principal.workspace_id)
            )
        }
        loads = dict(
            (
                await session.execute(
                    select(Conversation.assigned_agent_id, func.count())
                    .where(
                        Conversation.workspace_id == principal.workspace_id,
                        Conversation.status.in_(("active", "wrap_up")),
                    )
                    .group_by(Conversation.assigned_agent_id)
                )
            ).all()
        )
        return [
            {
                "user_id": u.id,
                "name": u.name,
                "email": u.email,
                "role": u.role,
                "presence": presence[u.id].status if u.id in presence else "offline",
                "away_reason": presence[u.id].away_reason if u.id in presence else None,
                "open_conversations": loads.get(u.id, 0),
            }
            for u in users
        ]


class DirectoryOut(BaseModel):
    user_id: int
    name: str
    role: str
    presence: str = Field(description="offline | available | away")
    open_conversations: int = Field(description="Offered, active or in wrap-up with them")
    capacity: int = Field(description="How many they may hold at once")
    has_capacity: bool = Field(description="open_conversations < capacity, and not on a call")
    on_call: bool = Field(False, description="On a WhatsApp call now (busy)")


@router.get("/agents/directory", response_model=list[DirectoryOut])
async def agents_directory(
    queue_id: int | None = None,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """Colleagues anyone signed in may see, to transfer to a named person: name, role,
    presence, load and whether they have room (against ``queue_id``'s capacity when given;
    pass the conversation's queue). No e-mail addresses."""
    try:
        async with runtime.db.read() as session:
            entries = await presence.directory(session, principal.workspace_id, queue_id=queue_id)
    except RoutingError as exc:
        raise http_error(exc) from exc
    return [DirectoryOut(**asdict(entry)) for entry in entries]


class PresenceOut(BaseModel):
    user_id: int
    status: str = Field(description="offline | available | away")
    away_reason: str | None = None


@router.get("/agents/me/presence", response_model=PresenceOut)
async def get_my_presence(
    principal: Principal = Depends(any_role), runtime: Runtime = Depends(get_runtime)
):
    """Your presence as the server holds it (routing offers work by this), so a reloaded
    or second tab shows the truth; someone never set is ``offline``."""
    user_id = user_id_of(principal)
    row = await presence.get_presence(runtime.db, principal.workspace_id, user_id)
    if row is None:
        return PresenceOut(user_id=user_id, status="offline")
    return PresenceOut(user_id=user_id, status=row.status, away_reason=row.away_reason)


@router.put("/agents/me/presence")
async def set_my_presence(
    body: PresenceIn,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    await run_outcome(
        runtime,
        presence.set_presence(
            runtime.db, principal.workspace_id, user_id_of(principal), body.status, body.away_reason
        ),
    )
    return {"user_id": principal.user_id, "status": body.status, "away_reason": body.away_reason}


@router.put("/agents/{user_id}/presence")
async def set_agent_presence(
    user_id: int,
    body: PresenceIn,
    principal: Principal = Depends(supervisor),
    runtime: Runtime = Depends(get_runtime),
):
    await run_outcome(
        runtime,
        presence.set_presence(
            runtime.db, principal.workspace_id, user_id, body.status, body.away_reason
        ),
    )
    await record_apart(
        runtime.db,
        principal,
        "supervision.set_presence",
        Target("user", user_id),
        None,
        {"presence": body.status, "away_reason": body.away_reason},
    )
    return {"user_id": user_id, "status": body.status, "away_reason": body.away_reason}
