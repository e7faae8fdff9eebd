"""``/api/v1/assist/settings``: a workspace's assist choices (admins), and
``POST /api/v1/conversations/{id}/draft-answer``: a reply drafted by the operator's model
from the knowledge base, for the agent to edit (only where the workspace opted in)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import select

from madoguchi.runtime import Runtime
from madoguchi.services.access.tokens import Principal
from madoguchi.services.assist.assistant import ModelNotEnabled
from madoguchi.services.audit.record import Target, record
from madoguchi.store.models import AssistSettings, KnowledgeArticle, Queue
from madoguchi.web.api.contact_center.common import visible_conversation
from madoguchi.web.deps import admin_only, any_role, get_runtime

router = APIRouter(prefix="/api/v1", tags=["assist"])


class SettingsIn(BaseModel):
    llm_enabled: bool = Field(
        description="send (masked) conversation text to the operator's language model"
    )
    negative_alert_queue_ids: list[int] = Field(
        default_factory=list, max_length=200, description="queues whose negative turn alerts"
    )


class SettingsOut(SettingsIn):
    llm_configured: bool = Field(description="the operator set MADOGUCHI_LLM_URL")
    llm_model: str | None


class DraftOut(BaseModel):
    conversation_id: int
    query: str
    answer: str | None
    article_id: int | None
    article_title: str | None
    reason: str | None = Field(None, description="why there is no answer (model unavailable…)")


AUDITED = {"llm_enabled", "negative_alert_queue_ids"}


def _out(runtime: Runtime, row: AssistSettings | None) -> SettingsOut:
    configured = runtime.assistant.configured
    return SettingsOut(
        llm_enabled=bool(row and row.llm_enabled),
        negative_alert_queue_ids=list(row.negative_alert_queue_ids or []) if row else [],
        llm_configured=configured,
        llm_model=runtime.settings.llm_model if configured else None,
    )


@router.get("/assist/settings", response_model=SettingsOut)
async def get_settings(
    principal: Principal = Depends(admin_only), runtime: Runtime = Depends(get_runtime)
):
    async with runtime.db.read() as session:
        return _out(runtime, await session.get(AssistSettings, principal.workspace_id))


@router.put("/assist/settings", response_model=SettingsOut)
async def put_settings(
    spec: SettingsIn,
    principal: Principal = Depends(admin_only),
    runtime: Runtime = Depends(get_runtime),
):
    if spec.llm_enabled and not runtime.assistant.configured:
        raise HTTPException(
            422,
            {
                "field": "llm_enabled",
                "message": "no language model is configured: the operator sets "
                "MADOGUCHI_LLM_URL (and MADOGUCHI_LLM_MODEL) first",
            },
        )
    async with runtime.db.write() as session:
        queue_ids = sorted(set(spec.negative_alert_queue_ids))
        if queue_ids:
            known = set(
                (
                    await session.scalars(
                        select(Queue.id).where(
                            Queue.id.in_(queue_ids), Queue.workspace_id == principal.workspace_id
                        )
                    )
                ).all()
            )
            unknown = [q for q in queue_ids if q not in known]
            if unknown:
                raise HTTPException(
                    422,
                    {"field": "negative_alert_queue_ids", "message": f"no queue {unknown[0]}"},
                )
        row = await session.get(AssistSettings, principal.workspace_id)
        before = _out(runtime, row).model_dump(include=AUDITED)
        if row is None:
            row = AssistSettings(workspace_id=principal.workspace_id)
            session.add(row)
        row.llm_enabled = spec.llm_enabled
        row.negative_alert_queue_ids = queue_ids
        await session.flush()
        out = _out(runtime, row)
        await record(
            session,
            principal,
            "assist.settings_update",
            Target("assist_settings", principal.workspace_id, "assist settings"),
            before,
            out.model_dump(include=AUDITED),
        )
        return out


@router.post("/conversations/{conversation_id}/draft-answer", response_model=DraftOut)
async def draft_answer(
    conversation_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    conversation = await visible_conversation(runtime, principal, conversation_id)
    async with runtime.db.read() as session:
        try:
            query, answer, reason = await runtime.assistant.draft_answer(session, conversation)
        except ModelNotEnabled as exc:
            raise HTTPException(
                409, "this workspace has not connected a language model (assist settings)"
            ) from exc
        title = None
        if answer is not None and answer.article_id is not None:
            article = await session.get(KnowledgeArticle, answer.article_id)
            title = article.title if article else None
    return DraftOut(
        conversation_id=conversation.id,
        query=query,
        answer=answer.text if answer else None,
        article_id=answer.article_id if answer else None,
        article_title=title,
        reason=reason,
    )
