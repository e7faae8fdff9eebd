"""Sentiment and summaries through the API, on SQLite and PostgreSQL: each customer
message scored off the request path, the conversation's trend and its change published,
the offline summary at hand-over, the agent's own summary kept, who may see what."""

from __future__ import annotations

import asyncio

from sqlalchemy import select, update

from madoguchi.domain.events import ConversationChanged, SentimentChanged
from madoguchi.services.assist import insights
from madoguchi.services.contact_center import assignment
from madoguchi.store.models import AssistSettings, Conversation, PhoneNumber, Queue
from tests.access.test_isolation import B_FILE
from tests.conftest import seed_workspace


def capture(cc, event_type) -> list:
    seen: list = []

    async def keep(event):
        seen.append(event)

    cc.stack.runtime.bus.subscribe(event_type, keep)
    return seen


async def drain(cc) -> None:
    """Let the assist worker finish what is pending (its loop is off in these tests)."""
    while await cc.stack.runtime.assist.work_once():
        pass


async def assist_of(cc, who: str, cid: int) -> dict:
    response = await cc.as_(who, "GET", f"/api/v1/conversations/{cid}/assist")
    assert response.status_code == 200, response.text
    return response.json()


async def test_each_message_is_scored_and_the_trend_follows_the_latest(cc):
    changes = capture(cc, SentimentChanged)
    phone = "819000777001"
    cid = await cc.customer_writes("Hello, I have a question about my order", phone=phone)
    await drain(cc)
    first = await assist_of(cc, "admin", cid)
    assert [m["label"] for m in first["messages"]] == ["neutral"]
    assert first["sentiment"]["label"] == "neutral"
    assert changes == []  # neutral from the start is no change

    await cc.customer_writes("It still has not arrived and nobody answers. Terrible!", phone)
    await drain(cc)
    angry = await assist_of(cc, "admin", cid)
    assert [m["label"] for m in angry["messages"]] == ["neutral", "negative"]
    assert angry["sentiment"]["label"] == "negative" and angry["sentiment"]["score"] < 0
    assert [(e.conversation_id, e.label, e.previous_label) for e in changes] == [
        (cid, "negative", "neutral")
    ]
    assert changes[0].alert is False  # no queue is watched

    await cc.customer_writes("ありがとうございます！とても助かりました", phone)
    await cc.customer_writes("Great, thank you so much, problem solved", phone)
    await drain(cc)
    calm = await assist_of(cc, "admin", cid)
    assert [m["language"] for m in calm["messages"]] == ["en", "en", "ja", "en"]
    assert calm["sentiment"]["label"] == "positive"
    labels = [e.label for e in changes]
    assert labels[0] == "negative" and labels[-1] == "positive"
    assert all(a != b for a, b in zip(labels, labels[1:], strict=False))  # changes only
    # Nothing is scored twice when the worker sweeps again.
    assert await cc.stack.runtime.assist.work_once() is False
    assert len((await assist_of(cc, "admin", cid))["messages"]) == 4


async def test_a_watched_queue_alerts_supervisors_when_it_turns_negative(cc):
    changes = capture(cc, SentimentChanged)
    cid = await cc.customer_writes("hello")
    async with cc.stack.runtime.db.write() as session:
        conversation = await session.get(Conversation, cid)
        session.add(
            AssistSettings(
                workspace_id=conversation.workspace_id,
                negative_alert_queue_ids=[conversation.queue_id],
            )
        )
    english = await cc.customer_writes("This is the worst service ever, I want a refund now")
    japanese = await cc.customer_writes("最悪です。注文した商品がまだ届きません！")
    await drain(cc)
    assert sorted((e.conversation_id, e.label, e.alert) for e in changes) == [
        (english, "negative", True),
        (japanese, "negative", True),
    ]


async def watch(cc, *names: str) -> dict[str, int]:
    """The workspace's queues by name; the named ones watched for negative conversations."""
    async with cc.stack.runtime.db.write() as session:
        queues = {q.name: q for q in await session.scalars(select(Queue))}
        workspace_id = next(iter(queues.values())).workspace_id
        session.add(
            AssistSettings(
                workspace_id=workspace_id,
                negative_alert_queue_ids=[queues[n].id for n in names],
            )
        )
        return {name: q.id for name, q in queues.items()}


def alerts(changes: list) -> list[tuple[int, str, str | None]]:
    return [(e.conversation_id, e.label, e.previous_label) for e in changes if e.alert]


async def test_a_first_negative_message_scored_before_routing_queued_it_alerts_once(cc):
    """The race of a new conversation: its first message is negative and scored while it
    is in no queue yet; queueing it raises the alert, and nothing raises it again."""
    changes = capture(cc, SentimentChanged)
    queues = await watch(cc, "Support", "Sales")
    db = cc.stack.runtime.db
    async with db.write() as session:  # hold routing back: the number queues nowhere
        await session.execute(update(PhoneNumber).values(default_queue_id=None))
    phone = "819000777201"
    cid = await cc.customer_writes("This is the worst service ever, I want a refund now", phone)
    async with db.read() as session:
        conversation = await session.get(Conversation, cid)
        assert (conversation.status, conversation.queue_id) == ("new", None)
        workspace_id = conversation.workspace_id
    await drain(cc)
    assert [(e.label, e.alert) for e in changes] == [("negative", False)]  # in no queue

    # Routing queues it now (what the router does: enqueue, then publish the outcome).
    outcome, _ = await assignment.enqueue(db, workspace_id, cid, queues["Support"])
    await cc.stack.runtime.bus.publish(outcome.events)
    assert alerts(changes) == [(cid, "negative", "negative")]

    # Neither path raises it again for the same queue: more negative words, the same
    # lifecycle event again, both paths at once.
    await cc.customer_writes("This is terrible. My parcel is lost and nobody answers!", phone)
    await drain(cc)
    await cc.stack.runtime.bus.publish(outcome.events)
    again = await asyncio.gather(insights.raise_alerts(db, {cid}), insights.raise_alerts(db, {cid}))
    assert again == [[], []]
    assert alerts(changes) == [(cid, "negative", "negative")]

    # Moved to another watched queue: its supervisors are told once too.
    moved = await cc.as_(
        "admin", "POST", f"/api/v1/conversations/{cid}/transfer", json={"queue_id": queues["Sales"]}
    )
    assert moved.status_code == 200, moved.text
    assert alerts(changes) == [(cid, "negative", "negative")] * 2


async def test_a_queued_conversation_turning_negative_alerts_once(cc):
    """The other order: queued first, then its first message is scored negative (the
    alert rides on the change); queueing events after that raise nothing more."""
    changes = capture(cc, SentimentChanged)
    queues = await watch(cc, "Support")
    phone = "819000777202"
    cid = await cc.customer_writes("Where is my parcel? This is terrible, nobody answers!", phone)
    async with cc.stack.runtime.db.read() as session:
        conversation = await session.get(Conversation, cid)
        assert conversation.queue_id == queues["Support"]
    await drain(cc)
    assert [(e.conversation_id, e.label, e.alert) for e in changes] == [(cid, "negative", True)]

    queued = ConversationChanged(
        workspace_id=conversation.workspace_id,
        conversation_id=cid,
        status="queued",
        step="queued",
        queue_id=queues["Support"],
    )
    await cc.stack.runtime.bus.publish([queued])
    await cc.customer_writes("Awful. I want my money back!", phone)
    await drain(cc)
    assert len(alerts(changes)) == 1

    # Calm again, then angry again: a new negative spell is a new alert.
    await cc.customer_writes("Thank you so much, it arrived, great help!", phone)
    await cc.customer_writes("Wonderful, thanks a lot, all solved!", phone)
    await drain(cc)
    assert changes[-1].label != "negative"
    for text in ("Broken again! Terrible!", "Worst product ever, refund now!", "Awful!!"):
        await cc.customer_writes(text, phone)
    await drain(cc)
    assert changes[-1].label == "negative"
    assert len(alerts(changes)) == 2


async def test_summary_at_hand_over_and_the_agents_own_summary_wins(cc):
    await cc.presence("aiko", "available")
    phone = "819000777002"
    cid = await cc.customer_writes("Hi, my router keeps dropping the connection.", phone)
    await cc.customer_writes("The router was replaced last month. Can you check my line?", phone)
    await cc.wait_status(cid, "offered", "aiko")
    await drain(cc)
    view = await assist_of(cc, "aiko", cid)
    summary = view["summary"]
    assert summary["stored"] is True and summary["source"] == "offline"
    assert summary["language"] == "en"
    assert "router keeps dropping the connection" in summary["text"]
    assert "Can you check my line?" in summary["text"]
    assert "Open: nothing open" in summary["text"]  # no one replied yet: it is all "wants"

    accepted = await cc.as_("aiko", "POST", f"/api/v1/conversations/{cid}/accept")
    assert accepted.status_code == 200
    mine = "Router drops; line check booked for Friday."
    edited = await cc.as_(
        "aiko", "PUT", f"/api/v1/conversations/{cid}/summary", json={"text": mine}
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["source"] == "agent"
    # A later hand-over does not overwrite what the agent wrote.
    async with cc.stack.runtime.db.read() as session:
        workspace_id = (await session.get(Conversation, cid)).workspace_id
    cc.stack.runtime.assist.refresh_summary(workspace_id, cid)
    await drain(cc)
    assert (await assist_of(cc, "sam", cid))["summary"]["text"] == mine


async def test_japanese_conversation_gets_a_japanese_summary(cc):
    phone = "819000777003"
    cid = await cc.customer_writes("注文した靴のサイズを交換したいです。", phone)
    await cc.customer_writes("注文番号は A-1234 です。交換の送料はかかりますか？", phone)
    view = await assist_of(cc, "admin", cid)
    summary = view["summary"]
    assert summary["stored"] is False  # computed on the spot before any hand-over
    assert summary["language"] == "ja"
    assert summary["text"].startswith("お客様:")
    assert "ご用件: 注文した靴のサイズを交換したいです。" in summary["text"]
    assert "交換の送料はかかりますか？" in summary["text"]


async def test_who_may_read_and_edit(cc):
    await cc.presence("aiko", "available")
    cid = await cc.customer_writes("hello there, I need help with billing")
    await cc.wait_status(cid, "offered", "aiko")
    await cc.as_("aiko", "POST", f"/api/v1/conversations/{cid}/accept")
    # Chie is in another queue: the conversation does not exist for her.
    assert (await cc.as_("chie", "GET", f"/api/v1/conversations/{cid}/assist")).status_code == 404
    # Ben is in the queue and may read it, but it is not his to summarise.
    assert (await cc.as_("ben", "GET", f"/api/v1/conversations/{cid}/assist")).status_code == 200
    ben = await cc.as_("ben", "PUT", f"/api/v1/conversations/{cid}/summary", json={"text": "x"})
    assert ben.status_code == 403
    for bad in ({"text": ""}, {"text": "x" * 4001}, {}):
        response = await cc.as_("aiko", "PUT", f"/api/v1/conversations/{cid}/summary", json=bad)
        assert response.status_code == 422, (bad, response.text)
    blank = await cc.as_("aiko", "PUT", f"/api/v1/conversations/{cid}/summary", json={"text": "  "})
    assert blank.status_code == 422 and blank.json()["detail"]["field"] == "text"
    # The live list is for supervisors.
    assert (await cc.as_("aiko", "GET", "/api/v1/assist/live-sentiments")).status_code == 403
    # Another workspace sees nothing of it.
    other = await seed_workspace(cc.stack.runtime.db, B_FILE, slug="beta")
    headers = {"Authorization": f"Bearer {other}"}
    response = await cc.stack.client.get(f"/api/v1/conversations/{cid}/assist", headers=headers)
    assert response.status_code == 404


async def test_supervisors_live_list_puts_negative_first(cc):
    calm = await cc.customer_writes("Thanks, everything works great now")
    angry = await cc.customer_writes("Terrible. My parcel is lost and I was charged twice!")
    plain = await cc.customer_writes("What time do you open?")
    await drain(cc)
    response = await cc.as_("sam", "GET", "/api/v1/assist/live-sentiments")
    assert response.status_code == 200, response.text
    rows = response.json()
    assert [r["conversation_id"] for r in rows] == [angry, plain, calm]
    assert [r["label"] for r in rows] == ["negative", "neutral", "positive"]
