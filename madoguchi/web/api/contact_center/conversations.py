"""``/api/v1`` conversations, messages and media: HTTP in, use cases, JSON out."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import (
    APIRouter,
    BackgroundTasks,
    Depends,
    File,
    Form,
    HTTPException,
    Query,
    UploadFile,
)
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from madoguchi.runtime import Runtime
from madoguchi.services.access.tokens import Principal
from madoguchi.services.channel.outbox import (
    OutboundRefused,
    open_conversation_for_contact,
    queue_message,
)
from madoguchi.services.contact_center import conversations as queries
from madoguchi.services.contact_center import csat, read_markers
from madoguchi.store.models import Media, PhoneNumber
from madoguchi.web.api.contact_center.common import refuse_if_closed
from madoguchi.web.deps import any_role, get_runtime
from madoguchi.web.schemas import ConversationOut, CsatOut, MediaOut, MessageOut
from madoguchi.web.scope import (
    visible_contact,
    visible_conversation,
    visible_media,
    visible_message,
)
from madoguchi.whatsapp.errors import GraphTransportError, MetaApiError
from madoguchi.whatsapp.media_limits import MediaLimitError, check_media, kind_for_mime
from madoguchi.whatsapp.outbound import OutboundValidationError, TemplateMessage, validate_outbound

router = APIRouter(prefix="/api/v1", tags=["conversations"])


class SendRequest(BaseModel):
    message: dict[str, Any] = Field(
        description='A Cloud API message object, e.g. {"type": "text", "text": {"body": "Hi"}}'
    )
    reply_to_message_id: int | None = Field(None, description="Our id of the message replied to")


class ContactSendRequest(BaseModel):
    phone_number_id: str = Field(description="The business number (Meta's phone number id)")
    message: dict[str, Any] = Field(description="A template message object")


def _refused(exc: OutboundRefused) -> HTTPException:
    return HTTPException(exc.status, {"code": exc.code, "message": exc.message})


def _validated(message: dict[str, Any]):
    try:
        return validate_outbound(message)
    except OutboundValidationError as exc:
        raise HTTPException(
            422,
            {"code": "invalid_message", "field": f"message.{exc.field}", "message": exc.message},
        ) from exc


@router.get("/conversations", response_model=list[ConversationOut])
async def list_conversations(
    status: str | None = None,
    limit: int = Query(50, ge=1, le=200),
    before_id: int | None = None,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    async with runtime.db.read() as session:
        rows = await queries.list_conversations(
            session,
            principal.workspace_id,
            status=status,
            limit=limit,
            before_id=before_id,
            principal=principal,
        )
        unread = (
            await read_markers.unread_counts(session, principal.user_id, [c.id for c in rows])
            if principal.user_id is not None
            else {}
        )
        return [ConversationOut.of(c, unread=unread.get(c.id)) for c in rows]


@router.get("/conversations/{conversation_id}", response_model=ConversationOut)
async def get_conversation(
    conversation_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    async with runtime.db.read() as session:
        conversation = await visible_conversation(session, principal, conversation_id)
        unread = (
            await read_markers.unread_counts(session, principal.user_id, [conversation.id])
            if principal.user_id is not None
            else {}
        )
        out = ConversationOut.of(conversation, unread=unread.get(conversation.id))
        asked = await csat.of_conversation(session, conversation.id)
        if asked is not None:
            out.csat = CsatOut.of(asked)
        return out


@router.get("/conversations/{conversation_id}/messages", response_model=list[MessageOut])
async def list_messages(
    conversation_id: int,
    after_id: int | None = None,
    limit: int = Query(100, ge=1, le=500),
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    async with runtime.db.read() as session:
        await visible_conversation(session, principal, conversation_id)
        rows = await queries.list_messages(
            session, principal.workspace_id, conversation_id, after_id=after_id, limit=limit
        )
        return [MessageOut.of(m) for m in rows]


@router.post(
    "/conversations/{conversation_id}/messages", response_model=MessageOut, status_code=202
)
async def send_message(
    conversation_id: int,
    request: SendRequest,
    background: BackgroundTasks,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """Queue a message; it is sent by the outbox and its status follows by events."""
    message = _validated(request.message)
    async with runtime.db.read() as session:
        conversation = await visible_conversation(session, principal, conversation_id)
    refuse_if_closed(conversation)
    if principal.role == "agent" and conversation.assigned_agent_id != principal.user_id:
        raise HTTPException(403, "only the agent handling this conversation may write in it")
    try:
        stored, event = await queue_message(
            runtime.db,
            principal.workspace_id,
            conversation_id,
            message,
            reply_to_message_id=request.reply_to_message_id,
            author_id=principal.user_id,
        )
    except OutboundRefused as exc:
        raise _refused(exc) from exc
    background.add_task(runtime.bus.publish, [event])
    return MessageOut.of(stored)


class ReadRequest(BaseModel):
    message_id: int | None = Field(
        None,
        description="You have seen this conversation up to this message: moves your read "
        "marker (never backwards) and nothing is sent to WhatsApp",
    )
    typing_indicator: bool = Field(
        False,
        description="Without message_id: also show the customer a typing indicator (up to 25 s)",
    )


class ReadMarkerOut(BaseModel):
    conversation_id: int
    last_read_message_id: int | None
    unread: int = Field(description="Customer messages after your marker")


@router.post("/conversations/{conversation_id}/read")
async def mark_read(
    conversation_id: int,
    request: ReadRequest | None = None,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """Two kinds of "read", chosen by the body.

    - ``{"message_id": N}``: *you* have seen the conversation up to message N. Your read
      marker moves there (never back) and unread counts are computed from it. Nothing is
      sent to the customer; this is what the web app calls whenever a conversation is on
      screen.
    - no ``message_id``: tell the *customer* their messages were read (WhatsApp's blue
      ticks), optionally with a typing indicator.
    """
    if request is not None and request.message_id is not None:
        return await _move_read_marker(runtime, principal, conversation_id, request.message_id)
    async with runtime.db.read() as session:
        conversation = await visible_conversation(session, principal, conversation_id)
        wamid = await queries.latest_inbound_wamid(session, conversation.id)
        token = runtime.secrets.decrypt(conversation.phone_number.access_token_encrypted)
        phone_number_id = conversation.phone_number.phone_number_id
    if wamid is None:
        raise HTTPException(409, "the customer has not written in this conversation")
    try:
        await runtime.graph.mark_read(
            phone_number_id, token, wamid, bool(request and request.typing_indicator)
        )
    except (MetaApiError, GraphTransportError) as exc:
        raise HTTPException(
            502, {"code": "mark_read_failed", "message": exc.agent_message}
        ) from exc
    return {"read_up_to": wamid}


async def _move_read_marker(
    runtime: Runtime, principal: Principal, conversation_id: int, message_id: int
) -> ReadMarkerOut:
    if principal.user_id is None:
        raise HTTPException(
            403,
            {
                "code": "not_a_user",
                "message": "read markers belong to a person: sign in, or use an API token "
                "created for a user",
            },
        )
    async with runtime.db.read() as session:
        await visible_conversation(session, principal, conversation_id)
    try:
        state = await read_markers.mark_read(
            runtime.db, principal.workspace_id, principal.user_id, conversation_id, message_id
        )
    except read_markers.ReadMarkerError as exc:
        raise HTTPException(
            422, {"code": "invalid_read_marker", "field": exc.field, "message": exc.message}
        ) from exc
    return ReadMarkerOut(**asdict(state))


@router.post("/contacts/{contact_id}/messages", response_model=MessageOut, status_code=202)
async def send_to_contact(
    contact_id: int,
    request: ContactSendRequest,
    background: BackgroundTasks,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """Business-initiated contact: only a template may open a conversation."""
    message = _validated(request.message)
    if not isinstance(message, TemplateMessage):
        raise HTTPException(
            422,
            {
                "code": "template_required",
                "field": "message.type",
                "message": "a conversation started by the business must begin with a template",
            },
        )
    async with runtime.db.read() as session:
        await visible_contact(session, principal, contact_id)
        number_pk = await session.scalar(
            select(PhoneNumber.id).where(
                PhoneNumber.phone_number_id == request.phone_number_id,
                PhoneNumber.workspace_id == principal.workspace_id,
            )
        )
    if number_pk is None:
        raise HTTPException(404, f"phone number {request.phone_number_id} not found")
    try:
        conversation_id = await open_conversation_for_contact(
            runtime.db, principal.workspace_id, contact_id, number_pk, principal
        )
        stored, event = await queue_message(
            runtime.db, principal.workspace_id, conversation_id, message
        )
    except OutboundRefused as exc:
        raise _refused(exc) from exc
    background.add_task(runtime.bus.publish, [event])
    return MessageOut.of(stored)


@router.get("/messages/{message_id}", response_model=MessageOut)
async def get_message(
    message_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    async with runtime.db.read() as session:
        return MessageOut.of(await visible_message(session, principal, message_id))


async def _media(runtime: Runtime, principal: Principal, media_id: int) -> Media:
    async with runtime.db.read() as session:
        return await visible_media(session, principal, media_id)


@router.get("/media/{media_id}", response_model=MediaOut)
async def get_media(
    media_id: int, principal: Principal = Depends(any_role), runtime: Runtime = Depends(get_runtime)
):
    return MediaOut.of(await _media(runtime, principal, media_id))


@router.get("/media/{media_id}/content", response_class=FileResponse)
async def download_media(
    media_id: int, principal: Principal = Depends(any_role), runtime: Runtime = Depends(get_runtime)
):
    media = await _media(runtime, principal, media_id)
    if media.storage_key is None:
        raise HTTPException(
            409, f"media {media_id} is {media.status}: {media.error or 'not stored yet'}"
        )
    return FileResponse(
        runtime.media_store.path(media.storage_key),
        media_type=media.mime_type or "application/octet-stream",
        filename=media.filename or f"media-{media.id}",
    )


@router.post("/media", status_code=201)
async def upload_media(
    phone_number_id: str = Form(description="The business number that will send it"),
    file: UploadFile = File(),
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """Upload a file an agent attaches; returns Meta's media id to send it by ``id``."""
    data = await file.read()
    mime = file.content_type or "application/octet-stream"
    kind = kind_for_mime(mime)
    if kind is None:
        raise HTTPException(
            422,
            {
                "code": "media_type",
                "field": "file",
                "message": f"{mime} cannot be sent on WhatsApp",
            },
        )
    try:
        check_media(kind, mime, len(data))
    except MediaLimitError as exc:
        too_large = exc.limit is not None and exc.size is not None and exc.size > exc.limit
        raise HTTPException(
            413 if too_large else 422,
            {"code": "media_limit", "field": "file", "message": str(exc)},
        ) from exc
    async with runtime.db.read() as session:
        number = await session.scalar(
            select(PhoneNumber).where(
                PhoneNumber.phone_number_id == phone_number_id,
                PhoneNumber.workspace_id == principal.workspace_id,
            )
        )
    if number is None:
        raise HTTPException(404, f"phone number {phone_number_id} not found")
    token = runtime.secrets.decrypt(number.access_token_encrypted)
    try:
        meta_id = await runtime.graph.upload_media(
            number.phone_number_id, token, data, mime, file.filename or "upload"
        )
    except (MetaApiError, GraphTransportError) as exc:
        raise HTTPException(502, {"code": "upload_failed", "message": exc.agent_message}) from exc
    async with runtime.db.write() as session:
        media = Media(
            workspace_id=principal.workspace_id,
            phone_number_id=number.id,
            direction="outbound",
            kind=kind,
            meta_media_id=meta_id,
            mime_type=mime,
            file_size=len(data),
            filename=file.filename,
            storage_key=runtime.media_store.put(principal.workspace_id, data),
            status="uploaded",
        )
        session.add(media)
        await session.flush()
        out = MediaOut.of(media)
    return {"media_id": meta_id, "media": out.model_dump(mode="json")}
