"""Sentiment and summaries of conversations: computed by ``AssistWorker`` off the request
path, stored, and read by the API.

Sentiment: every inbound text message gets a score; the conversation's trend (latest
messages weigh most) is kept on ``conversation_insights`` and a change of its label is
published as ``SentimentChanged``. A negative conversation in a queue the workspace watches
raises an alert (``SentimentChanged.alert``) once per queue and negative spell, whichever
comes first: it turns negative while queued, or it is queued (or moved) while negative
(``raise_alerts``). Summaries are refreshed when a conversation is offered, transferred,
taken, wrapped up or closed, unless an agent wrote the summary themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.events import SentimentChanged
from madoguchi.services.assist import facts as conversation_facts
from madoguchi.services.assist import nlp
from madoguchi.services.assist.sentiment import Sentiment, trend
from madoguchi.services.assist.summary import Facts, Summary, summarize
from madoguchi.store.db import Database
from madoguchi.store.models import (
    AssistSettings,
    Conversation,
    ConversationInsight,
    Message,
    MessageSentiment,
)
from madoguchi.store.models.core import utcnow

SUMMARY_MAX = 4000
TREND_WINDOW = 6
# On PostgreSQL ids are handed out before commit: a message may appear after a later
# one was scored. The sweep looks this many ids back (the scored ones are skipped).
LOOKBACK_IDS = 500
# The lifecycle steps after which a conversation may be in another queue than before.
QUEUE_STEPS = frozenset({"queued", "transferred", "overflow"})


@dataclass(frozen=True, slots=True)
class SummaryView:
    text: str
    language: str
    source: str  # offline | llm | agent
    at: datetime | None
    sections: dict | None = None


async def settings_of(session: AsyncSession, workspace_id: int) -> AssistSettings:
    row = await session.get(AssistSettings, workspace_id)
    return row or AssistSettings(
        workspace_id=workspace_id, llm_enabled=False, negative_alert_queue_ids=[]
    )


async def insight_of(session: AsyncSession, conversation: Conversation) -> ConversationInsight:
    row = await session.get(ConversationInsight, conversation.id)
    if row is None:
        row = ConversationInsight(
            conversation_id=conversation.id, workspace_id=conversation.workspace_id
        )
        session.add(row)
    return row


async def pending_messages(db: Database, after_id: int, limit: int = 100) -> list:
    """Inbound text messages after ``after_id`` that have no sentiment yet, oldest first:
    rows of (id, workspace_id, conversation_id, text), not ORM objects (a busy contact
    center scores thousands a minute; the ORM's identity map is work for nothing here)."""
    async with db.read() as session:
        scored = select(MessageSentiment.message_id).where(
            MessageSentiment.message_id == Message.id
        )
        return list(
            await session.execute(
                select(Message.id, Message.workspace_id, Message.conversation_id, Message.text)
                .where(
                    Message.id > after_id - LOOKBACK_IDS,
                    Message.direction == "inbound",
                    Message.text.is_not(None),
                    ~scored.exists(),
                )
                .order_by(Message.id)
                .limit(limit)
            )
        )


async def record_sentiments(db: Database, scored: list[tuple]) -> list[SentimentChanged]:
    """Store messages' sentiments and move their conversations' trends, all in one
    transaction of a few statements whatever the batch's size (a busy contact center
    scores in batches, not a write per message); the events of the trends whose label
    changed, exactly as scoring the messages one at a time in this order would give
    (a conversation's trend moves message by message, so two messages of one
    conversation in a batch can change its label twice)."""
    if not scored:
        return []
    async with db.write() as session:
        return await _record_batch(session, scored)


_SENTIMENTS = MessageSentiment.__table__
_INSIGHTS = ConversationInsight.__table__


async def _record_batch(session: AsyncSession, scored: list[tuple]) -> list[SentimentChanged]:
    ids = [message.id for message, _ in scored]
    done = set(
        await session.scalars(
            select(MessageSentiment.message_id).where(MessageSentiment.message_id.in_(ids))
        )
    )
    todo = [(m, s) for m, s in scored if m.id not in done]
    conversation_ids = sorted({m.conversation_id for m, _ in todo})
    if not conversation_ids:
        return []
    conversations = {
        row.id: row
        for row in await session.execute(
            select(Conversation.id, Conversation.workspace_id, Conversation.queue_id).where(
                Conversation.id.in_(conversation_ids)
            )
        )
    }
    todo = [(m, s) for m, s in todo if m.conversation_id in conversations]
    if not todo:
        return []
    now = utcnow()
    await session.execute(
        insert(_SENTIMENTS),
        [
            {
                "message_id": m.id,
                "workspace_id": m.workspace_id,
                "conversation_id": m.conversation_id,
                "language": s.language,
                "label": s.label,
                "score": s.score,
                "created_at": now,
            }
            for m, s in todo
        ],
    )
    # Each conversation's latest scored messages before this batch (the trend's window),
    # then the batch's messages added one by one, as one-at-a-time scoring would.
    latest = (
        select(
            MessageSentiment.conversation_id,
            MessageSentiment.message_id,
            MessageSentiment.score,
            func.row_number()
            .over(
                partition_by=MessageSentiment.conversation_id,
                order_by=MessageSentiment.message_id.desc(),
            )
            .label("rank"),
        )
        .where(
            MessageSentiment.conversation_id.in_(conversations),
            MessageSentiment.message_id.not_in([m.id for m, _ in todo]),
        )
        .subquery()
    )
    window: dict[int, list[tuple[int, float]]] = {cid: [] for cid in conversations}
    for cid, message_id, score in await session.execute(
        select(latest.c.conversation_id, latest.c.message_id, latest.c.score).where(
            latest.c.rank <= TREND_WINDOW
        )
    ):
        window[cid].append((message_id, score))
    labels: dict[int, str | None] = dict.fromkeys(conversations)
    existing: set[int] = set()
    for cid, label in await session.execute(
        select(ConversationInsight.conversation_id, ConversationInsight.sentiment_label).where(
            ConversationInsight.conversation_id.in_(conversations)
        )
    ):
        labels[cid] = label
        existing.add(cid)
    trends: dict[int, Sentiment] = {}
    changed: list[tuple[int, Sentiment, str | None]] = []
    calmed: set[int] = set()  # left negative (or never was) in the batch: a spell ends
    for message, sentiment in todo:
        cid = message.conversation_id
        scores = sorted([*window[cid], (message.id, sentiment.score)])[-TREND_WINDOW:]
        window[cid] = scores
        overall = trends[cid] = trend([score for _, score in scores])
        if overall.label != "negative":
            calmed.add(cid)
        previous, labels[cid] = labels[cid], overall.label
        if previous == overall.label or (previous is None and overall.label == "neutral"):
            continue
        changed.append((cid, overall, previous))
    at = datetime.now(UTC)
    values = {
        cid: {"sentiment_label": t.label, "sentiment_score": t.score, "sentiment_at": at}
        for cid, t in trends.items()
    }
    fresh = [
        {"conversation_id": cid, "workspace_id": conversations[cid].workspace_id, **v}
        for cid, v in values.items()
        if cid not in existing
    ]
    if fresh:
        await session.execute(insert(_INSIGHTS), fresh)
    moved = [{"cid": cid, **v} for cid, v in values.items() if cid in existing]
    if moved:
        await session.execute(
            update(_INSIGHTS)
            .where(_INSIGHTS.c.conversation_id == bindparam("cid"))
            .values(
                sentiment_label=bindparam("sentiment_label"),
                sentiment_score=bindparam("sentiment_score"),
                sentiment_at=bindparam("sentiment_at"),
            ),
            moved,
        )
    if calmed & existing:  # the next negative spell alerts again
        await session.execute(
            update(_INSIGHTS)
            .where(
                _INSIGHTS.c.conversation_id.in_(sorted(calmed & existing)),
                _INSIGHTS.c.alerted_queue_id.is_not(None),
            )
            .values(alerted_queue_id=None)
        )
    # The alert of a conversation's current negative spell is raised after this commits
    # (``raise_alerts``, from what is committed); a spell that began and ended within the
    # batch is alerted here, as scoring one message at a time would have.
    last_change = {cid: n for n, (cid, _, _) in enumerate(changed)}
    watched: dict[int, list] = {}
    events = []
    for n, (cid, overall, previous) in enumerate(changed):
        conversation = conversations[cid]
        alert = False
        if overall.label == "negative" and n != last_change[cid]:
            if conversation.workspace_id not in watched:
                settings = await settings_of(session, conversation.workspace_id)
                watched[conversation.workspace_id] = settings.negative_alert_queue_ids or []
            alert = conversation.queue_id in watched[conversation.workspace_id]
        events.append(
            SentimentChanged(
                workspace_id=conversation.workspace_id,
                conversation_id=cid,
                label=overall.label,
                score=overall.score,
                previous_label=previous,
                alert=alert,
            )
        )
    return events


async def raise_alerts(db: Database, conversation_ids: set[int]) -> list[SentimentChanged]:
    """The alerts due for these conversations: each one that is negative now, in a queue
    its workspace watches, and not yet alerted for that queue in this negative spell.

    Called after a batch of scores committed (for those that turned negative) and after
    routing queued or moved conversations (``QUEUE_STEPS``). Both read what is committed:
    whichever of the two commits last sees the other's work, so a new conversation whose
    first message is negative alerts whether it was scored before or after it was queued.
    Each alert is claimed by a conditional update of ``alerted_queue_id``: when both see
    it due, only one raises it. The events say ``previous_label="negative"`` when the
    label did not change (an alert only)."""
    if not conversation_ids:
        return []
    insight = ConversationInsight
    async with db.read() as session:
        rows = (
            await session.execute(
                select(
                    insight.conversation_id,
                    insight.sentiment_score,
                    Conversation.workspace_id,
                    Conversation.queue_id,
                )
                .join(Conversation, Conversation.id == insight.conversation_id)
                .where(
                    insight.conversation_id.in_(sorted(conversation_ids)),
                    insight.sentiment_label == "negative",
                    Conversation.queue_id.is_not(None),
                    or_(
                        insight.alerted_queue_id.is_(None),
                        insight.alerted_queue_id != Conversation.queue_id,
                    ),
                )
            )
        ).all()
        watched: dict[int, list[int]] = {}
        for workspace_id in sorted({row.workspace_id for row in rows}):
            settings = await settings_of(session, workspace_id)
            watched[workspace_id] = list(settings.negative_alert_queue_ids or [])
    due = [row for row in rows if row.queue_id in watched[row.workspace_id]]
    if not due:
        return []
    events: list[SentimentChanged] = []
    async with db.write() as session:
        for row in due:
            claimed = await session.execute(
                update(insight)
                .where(
                    insight.conversation_id == row.conversation_id,
                    insight.sentiment_label == "negative",
                    or_(
                        insight.alerted_queue_id.is_(None),
                        insight.alerted_queue_id != row.queue_id,
                    ),
                )
                .values(alerted_queue_id=row.queue_id)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount == 1:
                events.append(
                    SentimentChanged(
                        workspace_id=row.workspace_id,
                        conversation_id=row.conversation_id,
                        label="negative",
                        score=row.sentiment_score or 0.0,
                        previous_label="negative",
                        alert=True,
                    )
                )
    return events


async def read_facts(db: Database, workspace_id: int, conversation_id: int) -> Facts | None:
    async with db.read() as session:
        conversation = await session.scalar(
            select(Conversation).where(
                Conversation.id == conversation_id, Conversation.workspace_id == workspace_id
            )
        )
        if conversation is None:
            return None
        return await conversation_facts.collect(session, conversation)


async def offline_summary(db: Database, workspace_id: int, conversation_id: int) -> Summary | None:
    facts = await read_facts(db, workspace_id, conversation_id)
    if facts is None:
        return None
    return await nlp.run(summarize, facts)


def sections_of(summary: Summary) -> dict:
    return {
        "customer": summary.customer,
        "wants": summary.wants,
        "collected": summary.collected,
        "done": summary.done,
        "open": summary.open,
    }


async def store_summary(
    db: Database,
    workspace_id: int,
    conversation_id: int,
    text: str,
    language: str,
    source: str,
    author_id: int | None = None,
) -> SummaryView | None:
    """Keep a summary; an offline or model one never overwrites what an agent wrote."""
    async with db.write() as session:
        conversation = await session.scalar(
            select(Conversation).where(
                Conversation.id == conversation_id, Conversation.workspace_id == workspace_id
            )
        )
        if conversation is None:
            return None
        insight = await insight_of(session, conversation)
        if source != "agent" and insight.summary_source == "agent":
            return view_of(insight)
        insight.summary = text[:SUMMARY_MAX]
        insight.summary_language = language
        insight.summary_source = source
        insight.summary_author_id = author_id
        insight.summary_at = datetime.now(UTC)
        await session.flush()
        return view_of(insight)


def view_of(insight: ConversationInsight | None) -> SummaryView | None:
    if insight is None or insight.summary is None:
        return None
    return SummaryView(
        text=insight.summary,
        language=insight.summary_language or "en",
        source=insight.summary_source or "offline",
        at=insight.summary_at,
    )
