"""The assist worker: scores new customer messages and refreshes summaries, off the
request path.

Woken by events (a message received, a conversation offered, transferred, taken, wrapped
up or closed). Supervisors' negative-sentiment alerts are raised after a batch of scores
(``insights.raise_alerts``) and, in whichever process routed them, after conversations
were queued or moved (``on_conversations_changed``). It also sweeps now and then, so
messages that arrived while it was busy or before a restart are scored too (the sweep
starts from the newest message already scored: nothing is scored twice, nothing is left
behind).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import func, select

from madoguchi.domain.events import ConversationChanged, Event, SentimentChanged
from madoguchi.services.assist import insights, nlp
from madoguchi.services.assist.sentiment import Sentiment, analyze
from madoguchi.services.assist.summary import Summary
from madoguchi.store.db import Database
from madoguchi.store.models import MessageSentiment

log = logging.getLogger(__name__)

Publish = Callable[[list[Event]], Awaitable[None]]
SummaryWriter = Callable[[int, int], Awaitable[tuple[Summary | None, str | None, str]]]
SWEEP_SECONDS = 5.0
# Woken by a message, the worker waits this long before scoring, so that under a stream
# one batch (a few statements) scores what arrived meanwhile instead of one write
# transaction per message: the alert comes a fraction of a second later.
GATHER_SECONDS = 0.25
SUMMARY_STEPS = frozenset({"offered", "accepted", "transferred", "wrap_up", "closed"})


def _analyze_all(texts: list[str]) -> list[Sentiment]:
    return [analyze(text) for text in texts]


class AssistWorker:
    def __init__(
        self, db: Database, publish: Publish, write_summary: SummaryWriter | None = None
    ) -> None:
        self.db = db
        self.publish = publish
        # (workspace_id, conversation_id) → (offline summary, model text or None, source)
        self.write_summary = write_summary
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._summaries: dict[int, int] = {}  # conversation id → workspace id
        self._after_id: int | None = None
        # Summary requests come with the events of every process (the runtime feeds them
        # from the realtime fan-out). ``managed``: the runtime runs this worker's loop in
        # one process only (a layout's placement, the scaled mode's leader); then only
        # that process, while its loop runs, keeps them — elsewhere they would wait
        # forever. Unmanaged (workers off: tests drive ``work_once``), every one is kept.
        self.managed = False
        self._running = False

    def wake(self) -> None:
        self._idle.clear()
        self._wake.set()

    def refresh_summary(self, workspace_id: int, conversation_id: int) -> None:
        if self.managed and not self._running:
            return  # the process whose loop runs heard the same event and keeps it
        self._summaries[conversation_id] = workspace_id
        self.wake()

    async def on_conversation_changed(self, event: ConversationChanged) -> None:
        if event.step in SUMMARY_STEPS:
            self.refresh_summary(event.workspace_id, event.conversation_id)

    async def on_conversations_changed(self, events: list[ConversationChanged]) -> None:
        """Conversations queued or moved to another queue: the alerts now due for those
        already negative (one read for the batch; most have no negative trend)."""
        moved = {
            e.conversation_id
            for e in events
            if e.step in insights.QUEUE_STEPS and e.queue_id is not None
        }
        alerts = await insights.raise_alerts(self.db, moved)
        if alerts:
            await self.publish(list(alerts))

    async def wait_idle(self) -> None:
        """Until everything known to be pending is done (tests, shutdown)."""
        await self._idle.wait()

    async def run(self) -> None:
        self._running = True
        try:
            await self._loop()
        finally:
            self._running = False
            self._summaries.clear()  # another process leads now: it hears what comes next

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                busy = await self.work_once()
            except Exception:
                log.exception("assist work failed")
                busy = False
            if busy:
                continue
            self._idle.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), SWEEP_SECONDS)
                await asyncio.sleep(GATHER_SECONDS)

    async def work_once(self) -> bool:
        """Score one batch of messages, then refresh the summaries asked for; True when
        there may be more to do."""
        if self._after_id is None:
            async with self.db.read() as session:
                newest = await session.scalar(select(func.max(MessageSentiment.message_id)))
            self._after_id = newest or 0
        messages = await insights.pending_messages(self.db, self._after_id)
        if messages:
            sentiments = await nlp.run(_analyze_all, [m.text or "" for m in messages])
            changes = await insights.record_sentiments(
                self.db, list(zip(messages, sentiments, strict=True))
            )
            self._after_id = max(self._after_id, *(m.id for m in messages))
            events = await self._with_alerts(changes)
            if events:
                await self.publish(events)
        while self._summaries:
            conversation_id, workspace_id = self._summaries.popitem()
            await self._summarize(workspace_id, conversation_id)
        return bool(messages)

    async def _with_alerts(self, changes: list[SentimentChanged]) -> list[Event]:
        """The batch's changes, the alerts now due for those that turned negative folded
        into their change (one event, ``alert`` set)."""
        negative = {c.conversation_id for c in changes if c.label == "negative"}
        alerted = {a.conversation_id: a for a in await insights.raise_alerts(self.db, negative)}
        events: list[Event] = []
        for change in reversed(changes):  # the latest change of a conversation carries it
            if alerted.pop(change.conversation_id, None) is not None:
                change = dataclasses.replace(change, alert=True)
            events.append(change)
        events.reverse()
        return events + list(alerted.values())

    async def _summarize(self, workspace_id: int, conversation_id: int) -> None:
        if self.write_summary is not None:
            summary, text, source = await self.write_summary(workspace_id, conversation_id)
        else:
            summary = await insights.offline_summary(self.db, workspace_id, conversation_id)
            text, source = (summary.text if summary else None), "offline"
        if summary is None or text is None:
            return
        await insights.store_summary(
            self.db, workspace_id, conversation_id, text, summary.language, source
        )
