"""``/api/v1`` a conversation's assist view (summary and sentiment), the summary an agent
edits at wrap-up, and the sentiments of live conversations for supervisors.

Whoever may see the conversation may read its assist view; the summary may be edited by
the agent it is assigned to, or a supervisor or admin.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from madoguchi.runtime import Runtime
from madoguchi.services.access.tokens import Principal
from madoguchi.services.assist import insights, suggestions
from madoguchi.services.assist.language import detect
from madoguchi.store.models import Conversation, ConversationInsight, MessageSentiment
from madoguchi.web.api.contact_center.common import owner_or_supervisor, visible_conversation
from madoguchi.web.deps import any_role, get_runtime, supervisor_or_admin

router = APIRouter(prefix="/api/v1", tags=["assist"])

LIVE_STATUSES = ("in_flow", "queued", "offered", "active", "wrap_up")


class SentimentOut(BaseModel):
    label: str = Field(description="negative | neutral | positive")
    score: float = Field(description="−1 (most negative) … +1 (most positive)")


class MessageSentimentOut(SentimentOut):
    message_id: int
    language: str


class SummaryOut(BaseModel):
    text: str
    language: str
    source: str = Field(description="offline | llm | agent")
    at: datetime | None = None
    stored: bool = Field(description="false: computed now, not yet kept")


class AssistOut(BaseModel):
    conversation_id: int
    sentiment: SentimentOut | None
    messages: list[MessageSentimentOut]
    summary: SummaryOut | None


class SummaryIn(BaseModel):
    text: str = Field(min_length=1, max_length=insights.SUMMARY_MAX)


class SuggestionOut(BaseModel):
    kind: str = Field(description="article | canned")
    id: int
    title: str
    text: str = Field(description="what the agent inserts (and edits before sending)")
    snippet: str
    score: float
    tags: list[str]


class SuggestionsOut(BaseModel):
    conversation_id: int
    query: str = Field(description="the customer's latest messages the suggestions answer")
    suggestions: list[SuggestionOut]
    dispositions: list[str] = Field(description="wrap-up: the queue's codes that fit")
    tags: list[str] = Field(description="wrap-up: tags of the matching articles")


class LiveSentimentOut(SentimentOut):
    conversation_id: int
    status: str
    queue_id: int | None
    assigned_agent_id: int | None


def _summary_out(view: insights.SummaryView, stored: bool) -> SummaryOut:
    return SummaryOut(
        text=view.text, language=view.language, source=view.source, at=view.at, stored=stored
    )


@router.get("/conversations/{conversation_id}/assist", response_model=AssistOut)
async def conversation_assist(
    conversation_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    conversation = await visible_conversation(runtime, principal, conversation_id)
    async with runtime.db.read() as session:
        insight = await session.get(ConversationInsight, conversation.id)
        rows = (
            await session.scalars(
                select(MessageSentiment)
                .where(MessageSentiment.conversation_id == conversation.id)
                .order_by(MessageSentiment.message_id)
            )
        ).all()
    stored = insights.view_of(insight)
    summary = _summary_out(stored, True) if stored else None
    if summary is None:
        computed = await insights.offline_summary(
            runtime.db, principal.workspace_id, conversation.id
        )
        if computed is not None and computed.wants:
            summary = SummaryOut(
                text=computed.text, language=computed.language, source="offline", stored=False
            )
    sentiment = None
    if insight is not None and insight.sentiment_label is not None:
        sentiment = SentimentOut(label=insight.sentiment_label, score=insight.sentiment_score)
    return AssistOut(
        conversation_id=conversation.id,
        sentiment=sentiment,
        messages=[
            MessageSentimentOut(
                message_id=r.message_id, label=r.label, score=r.score, language=r.language
            )
            for r in rows
        ],
        summary=summary,
    )


@router.get("/conversations/{conversation_id}/suggestions", response_model=SuggestionsOut)
async def conversation_suggestions(
    conversation_id: int,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    """Knowledge articles and canned responses matching the customer's latest messages
    (never sent by themselves: the agent inserts one and edits it)."""
    conversation = await visible_conversation(runtime, principal, conversation_id)
    async with runtime.db.read() as session:
        query, found = await suggestions.for_conversation(session, conversation)
        dispositions, tags = await suggestions.wrap_up(session, conversation, found)
    return SuggestionsOut(
        conversation_id=conversation.id,
        query=query,
        suggestions=[
            SuggestionOut(
                kind=s.kind,
                id=s.id,
                title=s.title,
                text=s.text,
                snippet=s.snippet,
                score=s.score,
                tags=list(s.tags),
            )
            for s in found
        ],
        dispositions=dispositions,
        tags=tags,
    )


@router.put("/conversations/{conversation_id}/summary", response_model=SummaryOut)
async def edit_summary(
    conversation_id: int,
    spec: SummaryIn,
    principal: Principal = Depends(any_role),
    runtime: Runtime = Depends(get_runtime),
):
    conversation = await visible_conversation(runtime, principal, conversation_id)
    author = owner_or_supervisor(principal, conversation)
    text = spec.text.strip()
    if not text:
        raise HTTPException(422, {"field": "text", "message": "the summary is empty"})
    view = await insights.store_summary(
        runtime.db, principal.workspace_id, conversation.id, text, detect(text), "agent", author
    )
    return _summary_out(view, True)


@router.get("/assist/live-sentiments", response_model=list[LiveSentimentOut])
async def live_sentiments(
    queue_id: int | None = Query(None),
    principal: Principal = Depends(supervisor_or_admin),
    runtime: Runtime = Depends(get_runtime),
):
    """The sentiment of every live conversation of the workspace, most negative first."""
    query = (
        select(Conversation, ConversationInsight)
        .join(ConversationInsight, ConversationInsight.conversation_id == Conversation.id)
        .where(
            Conversation.workspace_id == principal.workspace_id,
            Conversation.status.in_(LIVE_STATUSES),
            ConversationInsight.sentiment_label.is_not(None),
        )
        .order_by(ConversationInsight.sentiment_score, Conversation.id)
        .limit(500)
    )
    if queue_id is not None:
        query = query.where(Conversation.queue_id == queue_id)
    async with runtime.db.read() as session:
        rows = (await session.execute(query)).all()
    return [
        LiveSentimentOut(
            conversation_id=c.id,
            status=c.status,
            queue_id=c.queue_id,
            assigned_agent_id=c.assigned_agent_id,
            label=i.sentiment_label,
            score=i.sentiment_score,
        )
        for c, i in rows
    ]
