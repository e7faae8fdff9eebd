"""Suggested answers for a conversation: knowledge articles and canned responses that
match the customer's latest messages, and at wrap-up the dispositions and tags that fit.

The query is the customer's messages since the last reply (at most the last three), so
the suggestions follow what the customer is asking now. An index per workspace is kept
in memory and rebuilt when the knowledge base or the canned responses change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.services.assist import knowledge, nlp
from madoguchi.services.assist import language as languages
from madoguchi.services.assist.retrieval import Entry, Hit, Index
from madoguchi.store.models import (
    CannedResponse,
    Conversation,
    DispositionCode,
    KnowledgeArticle,
    Message,
)

QUERY_MESSAGES = 3
SNIPPET = 240
_CACHE: dict[tuple[str, int], tuple[tuple, Index]] = {}
_CACHE_MAX = 256


@dataclass(frozen=True, slots=True)
class Suggestion:
    kind: str  # article | canned
    id: int
    title: str
    text: str  # what the agent inserts
    snippet: str
    score: float
    tags: tuple[str, ...] = ()


def snippet_of(body: str) -> str:
    plain = re.sub(r"[#*_`>\[\]()]", "", body)
    plain = " ".join(plain.split())
    return plain if len(plain) <= SNIPPET else plain[: SNIPPET - 1] + "…"


async def customer_query(session: AsyncSession, conversation_id: int) -> str:
    rows = (
        await session.execute(
            select(Message.direction, Message.text)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.id.desc())
            .limit(20)
        )
    ).all()
    latest: list[str] = []
    for direction, text in rows:
        if direction == "outbound" and latest:
            break
        if direction == "inbound" and text:
            latest.append(text)
        if len(latest) >= QUERY_MESSAGES:
            break
    return "\n".join(reversed(latest))


async def _index(session: AsyncSession, kind: str, workspace_id: int) -> Index:
    if kind == "article":
        sig = await knowledge.signature(session, workspace_id)
    else:
        sig = tuple(
            (
                await session.execute(
                    select(CannedResponse.id, CannedResponse.updated_at).where(
                        CannedResponse.workspace_id == workspace_id
                    )
                )
            ).all()
        )
    cached = _CACHE.get((kind, workspace_id))
    if cached and cached[0] == sig:
        return cached[1]
    if kind == "article":
        rows = (
            await session.scalars(
                select(KnowledgeArticle).where(KnowledgeArticle.workspace_id == workspace_id)
            )
        ).all()
        entries = [Entry(r.id, r.title, r.body, r.language, tuple(r.tags or ())) for r in rows]
    else:
        rows = (
            await session.scalars(
                select(CannedResponse).where(CannedResponse.workspace_id == workspace_id)
            )
        ).all()
        entries = [
            Entry(r.id, r.title, r.body, languages.detect(r.title + r.body), (r.shortcut,))
            for r in rows
        ]
    index = await nlp.run(Index, entries)
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[(kind, workspace_id)] = (sig, index)
    return index


async def search_articles(
    session: AsyncSession, workspace_id: int, query: str, k: int = 3
) -> list[Hit]:
    index = await _index(session, "article", workspace_id)
    return await nlp.run(index.search, query, k)


async def for_conversation(
    session: AsyncSession, conversation: Conversation, k: int = 3
) -> tuple[str, list[Suggestion]]:
    query = await customer_query(session, conversation.id)
    if not query:
        return "", []
    found: list[Suggestion] = []
    for kind, model in (("article", KnowledgeArticle), ("canned", CannedResponse)):
        index = await _index(session, kind, conversation.workspace_id)
        hits = await nlp.run(index.search, query, k)
        rows = {
            r.id: r
            for r in (
                await session.scalars(select(model).where(model.id.in_([h.key for h in hits])))
            ).all()
        }
        for hit in hits:
            row = rows.get(hit.key)
            if row is None:
                continue
            found.append(
                Suggestion(
                    kind=kind,
                    id=row.id,
                    title=row.title,
                    text=row.body,
                    snippet=snippet_of(row.body),
                    score=hit.score,
                    tags=tuple(row.tags or ()) if kind == "article" else (row.shortcut,),
                )
            )
    return query, found


async def wrap_up(
    session: AsyncSession, conversation: Conversation, articles: list[Suggestion]
) -> tuple[list[str], list[str]]:
    """Dispositions of the conversation's queue whose labels match the conversation, and
    the tags of the articles that matched it."""
    dispositions: list[str] = []
    if conversation.queue_id is not None:
        codes = (
            await session.scalars(
                select(DispositionCode).where(DispositionCode.queue_id == conversation.queue_id)
            )
        ).all()
        texts = (
            await session.scalars(
                select(Message.text).where(
                    Message.conversation_id == conversation.id, Message.text.is_not(None)
                )
            )
        ).all()
        entries = [
            Entry(c.id, c.label, c.code.replace("_", " "), languages.detect(c.label)) for c in codes
        ]
        if entries and texts:
            index = await nlp.run(Index, entries)
            hits = await nlp.run(index.search, "\n".join(texts[-20:]), 2)
            by_id = {c.id: c.code for c in codes}
            dispositions = [by_id[h.key] for h in hits]
    tags: list[str] = []
    for suggestion in articles:
        if suggestion.kind == "article":
            tags += [t for t in suggestion.tags if t not in tags]
    return dispositions, tags[:5]
