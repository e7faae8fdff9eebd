"""Scoring in batches gives what scoring one message at a time gives (SQLite and
PostgreSQL): the same stored sentiments, the same trend, and the same change events in
the same order — a conversation whose label moves twice within one batch publishes both
changes, the trend's window reaches back before the batch, and the alert of a watched
queue is raised as before."""

from __future__ import annotations

from sqlalchemy import select

from madoguchi.domain.events import SentimentChanged
from madoguchi.store.models import AssistSettings, Conversation, ConversationInsight
from madoguchi.store.models import MessageSentiment as MS
from tests.assist.test_insights import capture, drain

TEXTS = [
    "Hello, I have a question about my order",
    "Thanks, that is great",
    # the batch: negative, positive, negative again, then more than the trend's window
    "This is the worst service ever, I want a refund now",
    "It still has not arrived and nobody answers. Terrible!",
    "Great, thank you so much, problem solved",
    "Wonderful, you are very helpful",
    "最悪です。注文した商品がまだ届きません！",
    "Unacceptable. Where is my order? Fed up.",
    "ok",
]
BEFORE = 2  # scored one by one before the batch in the batched conversation


async def stored(cc, cid: int) -> tuple[list, tuple]:
    async with cc.stack.runtime.db.read() as session:
        scores = (
            await session.execute(
                select(MS.language, MS.label, MS.score)
                .where(MS.conversation_id == cid)
                .order_by(MS.message_id)
            )
        ).all()
        insight = await session.get(ConversationInsight, cid)
        return [tuple(row) for row in scores], (insight.sentiment_label, insight.sentiment_score)


async def test_a_batch_scores_as_one_message_at_a_time_would(cc):
    changes = capture(cc, SentimentChanged)
    batched = await cc.customer_writes(TEXTS[0], phone="819000888001")
    async with cc.stack.runtime.db.write() as session:  # its queue is watched
        c = await session.get(Conversation, batched)
        session.add(
            AssistSettings(workspace_id=c.workspace_id, negative_alert_queue_ids=[c.queue_id])
        )
    await drain(cc)
    for text in TEXTS[1:BEFORE]:
        await cc.customer_writes(text, phone="819000888001")
        await drain(cc)
    for text in TEXTS[BEFORE:]:
        await cc.customer_writes(text, phone="819000888001")
    assert await cc.stack.runtime.assist.work_once() is True  # the whole batch at once
    assert await cc.stack.runtime.assist.work_once() is False
    batch_events = [e for e in changes if e.conversation_id == batched]

    single = None
    for text in TEXTS:
        single = await cc.customer_writes(text, phone="819000888002")
        await drain(cc)
    single_events = [e for e in changes if e.conversation_id == single]

    def shape(events):
        return [(e.label, e.previous_label, e.score, e.alert) for e in events]

    assert shape(batch_events) == shape(single_events)
    labels = [e.label for e in batch_events]
    assert labels.count("negative") >= 2 and "positive" in labels  # moved within the batch
    assert any(e.alert for e in batch_events)  # the watched queue's alert
    assert await stored(cc, batched) == await stored(cc, single)
    assert len((await stored(cc, batched))[0]) == len(TEXTS)
