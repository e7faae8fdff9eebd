"""``/api/v1/calls/…`` and ``/api/v1/conversations/{id}/calls|call-permission``.

The browser is the WebRTC endpoint: it reads a ringing call's SDP offer here, answers
with its SDP answer, or calls out with its SDP offer and reads the customer's answer
from the call. The router translates HTTP to ``services.calling`` and back; who may see
a call is decided by ``visible_call`` (the agents it rings, the agent on it, whoever may
see its conversation).
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import select

from madoguchi.domain.calling import LIVE_STATUSES
from madoguchi.runtime import Runtime
from madoguchi.services.access.tokens import Principal
from madoguchi.services.calling import number_settings, permissions, video
from madoguchi.services.calling.errors import CallRefused
from madoguchi.store.models import Call, Contact, Conversation
from madoguchi.web.api.contact_center.common import user_id_of, visible_conversation
from madoguchi.web.coded_errors import CodedErrors
from madoguchi.web.deps import admin_only, any_role, get_runtime
from madoguchi.web.scope import visible_conversation_row

router = APIRouter(prefix="/api/v1", tags=["calling"], route_class=CodedErrors)

# An SDP of a WebRTC audio session is a few kilobytes; anything far larger is not one.
MAX_SDP = 64_000


class SdpIn(BaseModel):
    sdp: str = Field(min_length=10, max_length=MAX_SDP, description="The browser's SDP")


class PermissionRequestIn(BaseModel):
    body: str | None = Field(None, min_length=1, max_length=1024)


class CallOut(BaseModel):
    id: int
    conversation_id: int
    contact_id: int
    contact_name: str | None = Field(None, description="The customer's profile name or number")
    direction: str
    status: str = Field(
        description="ringing | connecting | active | ended | missed | rejected | failed"
    )
    agent_id: int | None
    ringing_agent_ids: list[int]
    offer_sdp: str | None
    answer_sdp: str | None
    end_reason: str | None
    duration_seconds: int | None
    created_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None

    @classmethod
    def of(cls, call: Call, contact: Contact | None = None) -> CallOut:
        name = None
        if contact is not None:
            name = contact.profile_name or contact.username or contact.wa_id
        return cls(
            id=call.id,
            conversation_id=call.conversation_id,
            contact_id=call.contact_id,
            contact_name=name,
            direction=call.direction,
            status=call.status,
            agent_id=call.agent_id,
            ringing_agent_ids=list(call.ringing_agent_ids or []),
            offer_sdp=call.offer_sdp,
            answer_sdp=call.answer_sdp,
            end_reason=call.end_reason,
            duration_seconds=call.duration_seconds,
            created_at=call.created_at,
            answered_at=call.answered_at,
            ended_at=call.ended_at,
        )


class PermissionOut(BaseModel):
    status: str = Field(description="none | requested | accepted | rejected | expired")
    can_call: bool
    expires_at: datetime | None
    permanent: bool
    source: str | None = Field(description="request | callback (the customer called)")
    next_request_at: datetime | None = Field(
        description="When Meta's limits allow the next request (null: now)"
    )


class CallingConfigOut(BaseModel):
    ice_servers: list[dict]
    ring_seconds: float


async def call_out(runtime: Runtime, call: Call) -> CallOut:
    async with runtime.db.read() as session:
        return CallOut.of(call, await session.get(Contact, call.contact_id))


def _refused(exc: CallRefused) -> HTTPException:
    return HTTPException(exc.status, {**exc.extra, "code": exc.code, "message": exc.message})


async def visible_call(runtime: Runtime, principal: Principal, call_id: int) -> Call:
    async with runtime.db.read() as session:
        call = await session.scalar(
            select(Call).where(Call.id == call_id, Call.workspace_id == principal.workspace_id)
        )
        if call is None:
            raise HTTPException(404, f"call {call_id} not found")
        if principal.role == "agent":
            mine = principal.user_id is not None and (
                principal.user_id == call.agent_id
                or principal.user_id in (call.ringing_agent_ids or [])
            )
            if not mine:
                conversation = await session.get(Conversation, call.conversation_id)
                if not await visible_conversation_row(session, principal, conversation):
                    raise HTTPException(404, f"call {call_id} not found")
        return call


@router.get("/calling/config", response_model=CallingConfigOut)
async def calling_config(
    principal: Principal = Depends(any_role), runtime: Runtime = Depends(get_runtime)
):
    """What the browser needs for WebRTC: the ICE (STUN/TURN) servers, the ring time."""
    return CallingConfigOut(
        ice_servers=runtime.settings.ice_servers,
        ring_seconds=runtime.settings.call_ring_seconds,
    )


@router.get("/calls", response_model=list[CallOut])
async def live_calls(
    principal: Principal = Depends(any_role), runtime: Runtime = Depends(get_runtime)
):
    """The calls ringing for the caller or that the caller is on (staff: every live call)."""
    async with runtime.db.read() as session:
        rows = list(
            await session.scalars(
                select(Call)
                .where(
                    Call.workspace_id == principal.workspace_id,
                    Call.status.in_(LIVE_STATUSES),
                )
                .order_by(Call.id)
            )
        )
        if principal.role == "agent":
            me = principal.user_id
            rows = [c for c in rows if me == c.agent_id or me in (c.ringing_agent_ids or [])]
        return [CallOut.of(c, await session.get(Contact, c.contact_id)) for c in rows]


@router.get("/calls/{call_id}", response_model=CallOut)
async def get_call(
    call_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    return await call_out(runtime, await visible_call(runtime, principal, call_id))


@router.post("/calls/{call_id}/accept", response_model=CallOut)
async def accept_call(
    call_id: int,
    body: SdpIn,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """Answer a ringing call with the browser's SDP answer (to the call's SDP offer)."""
    await visible_call(runtime, principal, call_id)
    try:
        call = await runtime.calls.accept(
            principal.workspace_id, call_id, user_id_of(principal), body.sdp
        )
    except CallRefused as exc:
        raise _refused(exc) from exc
    return await call_out(runtime, call)


@router.post("/calls/{call_id}/decline", response_model=CallOut)
async def decline_call(
    call_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    await visible_call(runtime, principal, call_id)
    try:
        call = await runtime.calls.decline(principal.workspace_id, call_id, user_id_of(principal))
    except CallRefused as exc:
        raise _refused(exc) from exc
    return await call_out(runtime, call)


@router.post("/calls/{call_id}/hangup", response_model=CallOut)
async def hang_up_call(
    call_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """End a call (the agent on it, or a supervisor)."""
    call = await visible_call(runtime, principal, call_id)
    if principal.role == "agent" and call.agent_id != principal.user_id:
        raise HTTPException(403, "only the agent on this call (or a supervisor) can end it")
    try:
        call = await runtime.calls.hang_up(principal.workspace_id, call_id, principal.user_id)
    except CallRefused as exc:
        raise _refused(exc) from exc
    return await call_out(runtime, call)


@router.get("/conversations/{conversation_id}/calls", response_model=list[CallOut])
async def conversation_calls(
    conversation_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    conversation = await visible_conversation(runtime, principal, conversation_id)
    async with runtime.db.read() as session:
        rows = await session.scalars(
            select(Call).where(Call.conversation_id == conversation.id).order_by(Call.id)
        )
        contact = await session.get(Contact, conversation.contact_id)
        return [CallOut.of(c, contact) for c in rows]


@router.post("/conversations/{conversation_id}/calls", response_model=CallOut, status_code=201)
async def place_call(
    conversation_id: int,
    body: SdpIn,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """Call the conversation's customer with the browser's SDP offer (needs permission)."""
    conversation = await visible_conversation(runtime, principal, conversation_id)
    try:
        call = await runtime.calls.place(
            principal.workspace_id, conversation.id, user_id_of(principal), body.sdp
        )
    except CallRefused as exc:
        raise _refused(exc) from exc
    return await call_out(runtime, call)


@router.get("/conversations/{conversation_id}/call-permission", response_model=PermissionOut)
async def call_permission(
    conversation_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    conversation = await visible_conversation(runtime, principal, conversation_id)
    async with runtime.db.read() as session:
        state = await permissions.state(session, conversation, datetime.now(UTC))
    return PermissionOut(**{f: getattr(state, f) for f in PermissionOut.model_fields})


@router.post(
    "/conversations/{conversation_id}/call-permission",
    response_model=PermissionOut,
    status_code=202,
)
async def request_call_permission(
    conversation_id: int,
    body: PermissionRequestIn,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """Ask the customer for permission to call them (interactive inside the window, the
    configured template outside it); refused past Meta's limits, with when to retry."""
    conversation = await visible_conversation(runtime, principal, conversation_id)
    settings = runtime.settings
    now = datetime.now(UTC)
    try:
        _, queued = await permissions.request(
            runtime.db,
            principal.workspace_id,
            conversation.id,
            principal.user_id,
            now=now,
            template=settings.call_permission_template,
            template_language=settings.call_permission_template_language,
            body=body.body,
        )
    except CallRefused as exc:
        raise _refused(exc) from exc
    await runtime.bus.publish([queued])
    async with runtime.db.read() as session:
        state = await permissions.state(session, conversation, now)
    return PermissionOut(**{f: getattr(state, f) for f in PermissionOut.model_fields})


class VideoLinkOut(BaseModel):
    room_id: int
    url: str = Field(description="The customer's link (also sent to them in the chat)")
    token: str = Field(description="The room's token: the agent joins /ws/video/{token}?as=agent")
    expires_at: datetime
    message_id: int | None = Field(description="The room's entry in the timeline")


@router.post(
    "/conversations/{conversation_id}/video-links", response_model=VideoLinkOut, status_code=201
)
async def send_video_link(
    conversation_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """Send the customer a one-time link to a video room with the caller (inside the
    24-hour window: the link is a text message)."""
    conversation = await visible_conversation(runtime, principal, conversation_id)
    settings = runtime.settings
    try:
        room, token, url, queued = await video.create_room(
            runtime.db,
            principal.workspace_id,
            conversation.id,
            user_id_of(principal),
            base_url=settings.public_url,
            minutes=settings.video_link_minutes,
            now=datetime.now(UTC),
        )
    except CallRefused as exc:
        raise _refused(exc) from exc
    await runtime.bus.publish([queued])
    return VideoLinkOut(
        room_id=room.id,
        url=url,
        token=token,
        expires_at=room.expires_at,
        message_id=room.message_id,
    )


class CallingSettingsOut(BaseModel):
    calling: dict | None = Field(
        description="Meta's `calling` settings (status, call_icon_visibility, call_hours, "
        "callback_permission_status); null when Meta could not be asked"
    )
    problem: str | None = Field(None, description="Why Meta could not be asked")


@router.get("/numbers/{number_id}/calling", response_model=CallingSettingsOut)
async def number_calling_settings(
    number_id: int,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    """The number's calling settings as Meta has them now (status, call icon, call hours,
    callback permission). Meta unreachable or refusing: ``calling`` is null, ``problem``
    says why."""
    try:
        calling = await number_settings.read(
            runtime.db, runtime.graph, runtime.secrets, principal.workspace_id, number_id
        )
    except CallRefused as exc:
        if exc.status == 404:
            raise _refused(exc) from exc
        return CallingSettingsOut(calling=None, problem=exc.message)
    return CallingSettingsOut(calling=calling)


@router.put("/numbers/{number_id}/calling", response_model=CallingSettingsOut)
async def set_number_calling_settings(
    number_id: int,
    body: number_settings.CallingSettings,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    """Change the number's calling settings at Meta; answers them as Meta has them now.
    Meta refusing: 502 ``meta_refused`` with ``reason`` (token, permission, invalid,
    calling, rate_limited, temporary, not_registered, other), ``meta_code`` and
    ``meta_message``; the change is in the audit log as ``number.calling_update`` (written by the
    service once Meta accepted it, with the fields before and after)."""
    try:
        calling = await number_settings.write(
            runtime.db,
            runtime.graph,
            runtime.secrets,
            principal.workspace_id,
            number_id,
            body,
            actor=principal,
        )
    except CallRefused as exc:
        raise _refused(exc) from exc
    return CallingSettingsOut(calling=calling)
