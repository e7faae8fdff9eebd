"""Assist: each customer message's sentiment, each conversation's trend and summary, the
knowledge base (articles and their versions) and a workspace's assist settings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.store.models.core import Base, IdType, JSONType, UTCDateTime, utcnow

__all__ = [
    "AssistSettings",
    "ConversationInsight",
    "KnowledgeArticle",
    "KnowledgeArticleVersion",
    "MessageSentiment",
]


def _workspace_fk() -> Mapped[int]:
    return mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)


class MessageSentiment(Base):
    """The sentiment of one inbound text message, computed off the request path."""

    __tablename__ = "message_sentiments"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[int] = _workspace_fk()
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    language: Mapped[str] = mapped_column(String(8))
    label: Mapped[str] = mapped_column(String(16))  # negative | neutral | positive
    score: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConversationInsight(Base):
    """A conversation's sentiment trend and its summary (stored at close, editable)."""

    __tablename__ = "conversation_insights"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[int] = _workspace_fk()
    sentiment_label: Mapped[str | None] = mapped_column(String(16))
    sentiment_score: Mapped[float | None] = mapped_column(Float)
    sentiment_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The watched queue whose supervisors were alerted in the current negative spell
    # (None when not negative or not alerted): an alert is raised once per queue and spell.
    alerted_queue_id: Mapped[int | None] = mapped_column(IdType)
    summary: Mapped[str | None] = mapped_column(Text)
    summary_language: Mapped[str | None] = mapped_column(String(8))
    summary_source: Mapped[str | None] = mapped_column(String(16))  # offline | llm | agent
    summary_author_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    summary_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class KnowledgeArticle(Base):
    """An article of a workspace's knowledge base (Markdown), at its current version."""

    __tablename__ = "knowledge_articles"
    __table_args__ = (UniqueConstraint("workspace_id", "slug"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = _workspace_fk()
    slug: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))  # en | ja
    tags: Mapped[list] = mapped_column(JSONType, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class KnowledgeArticleVersion(Base):
    """Every saved version of an article, as it was (the history an admin can read)."""

    __tablename__ = "knowledge_article_versions"
    __table_args__ = (UniqueConstraint("article_id", "version"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = _workspace_fk()
    article_id: Mapped[int] = mapped_column(
        ForeignKey("knowledge_articles.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    tags: Mapped[list] = mapped_column(JSONType, default=list)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AssistSettings(Base):
    """A workspace's assist choices: use the operator's language model (opt-in), and the
    queues whose conversations alert supervisors when they turn negative."""

    __tablename__ = "assist_settings"

    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    llm_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    negative_alert_queue_ids: Mapped[list] = mapped_column(JSONType, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
