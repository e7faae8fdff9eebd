"""Offline first, the model when a workspace opted in: the one place that chooses.

A summary from the model replaces the offline one only when the model answered in time;
otherwise the offline summary is kept (and says so: source ``offline``). A drafted answer
exists only with a model; without one the desktop has the offline suggestions.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.services.assist import insights, nlp, suggestions
from madoguchi.services.assist.llm import Answer, ModelClient, ModelUnavailable
from madoguchi.services.assist.summary import Summary, summarize
from madoguchi.store.db import Database
from madoguchi.store.models import Conversation, KnowledgeArticle

log = logging.getLogger(__name__)


class ModelNotEnabled(Exception):
    pass


class Assistant:
    def __init__(self, db: Database, model: ModelClient | None) -> None:
        self.db = db
        self.model = model

    @property
    def configured(self) -> bool:
        return self.model is not None

    async def model_for(self, workspace_id: int) -> ModelClient | None:
        if self.model is None:
            return None
        async with self.db.read() as session:
            settings = await insights.settings_of(session, workspace_id)
        return self.model if settings.llm_enabled else None

    async def summary(
        self, workspace_id: int, conversation_id: int
    ) -> tuple[Summary | None, str | None, str]:
        """(the offline summary, the text to keep, its source)."""
        facts = await insights.read_facts(self.db, workspace_id, conversation_id)
        if facts is None:
            return None, None, "offline"
        offline = await nlp.run(summarize, facts)
        model = await self.model_for(workspace_id)
        if model is not None and facts.turns:
            try:
                return offline, await model.summarize(facts, offline.language), "llm"
            except ModelUnavailable as exc:
                log.warning("model summary skipped, offline kept: %s", exc)
        return offline, offline.text, "offline"

    async def draft_answer(
        self, session: AsyncSession, conversation: Conversation
    ) -> tuple[str, Answer | None, str | None]:
        """(the customer's question, the drafted answer or None, why not)."""
        model = await self.model_for(conversation.workspace_id)
        if model is None:
            raise ModelNotEnabled
        query = await suggestions.customer_query(session, conversation.id)
        if not query:
            return "", None, "the customer has not asked anything yet"
        hits = await suggestions.search_articles(session, conversation.workspace_id, query, 3)
        found = await session.scalars(
            select(KnowledgeArticle).where(KnowledgeArticle.id.in_([h.key for h in hits]))
        )
        rows = {a.id: a for a in found}
        articles = [(h.key, rows[h.key].title, rows[h.key].body) for h in hits if h.key in rows]
        try:
            return query, await model.answer(query, articles), None
        except ModelUnavailable as exc:
            return query, None, str(exc)
