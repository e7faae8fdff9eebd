"""The flow runner: drives conversations through their flow on messages and timers.

Subscribed (by the composition root) to ``MessageReceived`` before the routing engine:
a new conversation on a number bound to a published flow goes ``in_flow`` and starts a
run pinned to that version; a message of an ``in_flow`` conversation answers the Collect
Input its run waits at. Collect Input timeouts and in-flight HTTP Requests are durable
timers, so both survive a restart.

One activation is one transaction: the conversation row is locked (``FOR UPDATE``; the
single writer on SQLite), the pure engine walks the widgets, and the new position and
variables, the step log, the replies (through ``outbound.queue_message``, into the
outbox), the timers and the lifecycle step (``in_flow``, ``queued``) commit together or
not at all; a restart finds the run exactly where the last commit left it. What must not
hold a transaction happens after the commit: events are published, queues kicked, the
conversation closed (End), an agent offered the conversation, an HTTP request sent (its
answer is the next activation). Activations of one conversation are serialised in the
process by a lock and across processes by the row lock; each wait carries a sequence
number, so a late timer or answer for a wait the run has left changes nothing.

The loop guard is the engine's step budget: an activation (including the flows it routes
to and the HTTP answers it chains) goes through at most ``MAX_STEPS`` widgets; past that
the run fails with an error step and a ``flow_failed`` lifecycle event, and the
conversation goes to its number's default queue if it has one.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.bus.inprocess import InProcessBus as EventBus
from madoguchi.domain.business_hours import BusinessHours, BusinessHoursError
from madoguchi.domain.events import ConversationChanged, Event, MessageReceived
from madoguchi.domain.flows import FlowDefinition, parse_definition
from madoguchi.domain.flows import engine as fe
from madoguchi.domain.flows.definition import BusinessHoursWidget
from madoguchi.domain.lifecycle import Status, Step
from madoguchi.domain.route_back import route_back_target
from madoguchi.http_transport import pooled_transport
from madoguchi.keyed_locks import KeyedLocks
from madoguchi.security.secrets import SecretBox
from madoguchi.services.assist import intent
from madoguchi.services.channel.outbox import OutboundRefused, queue_message
from madoguchi.services.contact_center import assignment
from madoguchi.services.contact_center.assignment import Outcome, RoutingError, now_utc
from madoguchi.services.flows import batch, draft_tests, http_guard, secret_headers
from madoguchi.services.scheduling import timers
from madoguchi.services.scheduling.timers import TimerWorker
from madoguchi.store.db import Database
from madoguchi.store.models import (
    Contact,
    Conversation,
    ConversationEvent,
    Flow,
    FlowBinding,
    FlowRun,
    FlowStep,
    FlowTest,
    FlowVersion,
    Message,
    PhoneNumber,
    Queue,
    Timer,
    User,
)
from madoguchi.whatsapp.outbound import OutboundValidationError, validate_outbound

log = logging.getLogger(__name__)

FLOW_TIMEOUT = "flow_timeout"  # a Collect Input waited long enough
FLOW_HTTP = "flow_http"  # an HTTP Request is still unanswered: the process died meanwhile
HTTP_GRACE_SECONDS = 30
RECOVER_AFTER = timedelta(seconds=60)  # a new conversation's flow start was lost…
RECOVER_WITHIN = timedelta(hours=1)  # …recently enough to greet the customer now
RECOVER_EVERY = timedelta(seconds=30)
ACTIVE = ("running", "waiting")
TERMINAL_RUN = ("routed", "handed_off", "ended", "failed", "interrupted")
# Inbound messages that are not an answer to a question (a 👍 on the question is not "1").
NOT_ANSWERS = frozenset({"reaction", "system", "request_welcome", "unsupported", "unknown"})
REFERRAL_FIELDS = ("source_url", "source_id", "source_type", "headline", "body", "media_type")


@dataclass
class _After:
    """What to do once the activation's transaction committed."""

    workspace_id: int
    conversation_id: int
    events: list[Event] = field(default_factory=list)
    kicks: list[int] = field(default_factory=list)
    transfer_to: int | None = None
    close_reason: str | None = None
    http: tuple[int, fe.CallHttp] | None = None  # (run id, call)
    budget: int = fe.MAX_STEPS
    steps: int = 0
    left_flow: bool = False  # the run is over: its own lifecycle events need no check


@dataclass
class _Version:
    flow_id: int
    flow_name: str
    version: int
    definition: FlowDefinition


class FlowRunner:
    def __init__(
        self,
        db: Database,
        bus: EventBus,
        timers: TimerWorker,
        kick_queue: Callable[[int], Awaitable[object]],
        *,
        http_allow: list[str] | tuple[str, ...] = (),
        http_max_bytes: int = 1024 * 1024,
        secrets: SecretBox | None = None,
    ) -> None:
        self.secrets = secrets  # opens the HTTP widgets' secret headers, for the request only
        self.http_allow = http_guard.AllowList.parse(http_allow)
        self.http_max_bytes = http_max_bytes
        self.db = db
        self.bus = bus
        self.timers = timers
        self.kick_queue = kick_queue  # the routing engine offers what a flow queued
        self._versions: dict[int, _Version] = {}  # published versions never change
        self._locks = KeyedLocks()
        self._http: httpx.AsyncClient | None = None
        self._left: set[int] = set()  # conversations whose run this process just ended
        self.steps_taken = 0  # widgets gone through by this process (benchmarks read it)

    def wire(self) -> None:
        bus, worker = self.bus, self.timers
        bus.subscribe_many(MessageReceived, self.on_messages)
        bus.subscribe_many(ConversationChanged, self.on_conversations_changed)
        worker.register(FLOW_TIMEOUT, self.on_timeout)
        worker.register(FLOW_HTTP, self.on_http_unanswered)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # ------------------------------------------------------------------ entry points

    async def on_message(self, event: MessageReceived) -> None:
        await self.on_messages([event])

    async def on_messages(self, events: list[MessageReceived]) -> None:
        """Activate the flows of a batch of inbound messages, in their order.

        Most messages are not for a flow (the conversation is with an agent, or its
        number has none): one read for the whole batch tells, without the write lock."""
        async with self.db.read() as session:
            rows = {
                row.id: row
                for row in await session.execute(
                    select(
                        Conversation.id, Conversation.status, Conversation.phone_number_id
                    ).where(Conversation.id.in_({e.conversation_id for e in events}))
                )
            }
            new_on = {r.phone_number_id for r in rows.values() if r.status == Status.NEW}
            flow_numbers: set[int] = set()
            if new_on:
                flow_numbers = set(
                    await session.scalars(
                        select(FlowBinding.phone_number_id).where(
                            FlowBinding.phone_number_id.in_(new_on)
                        )
                    )
                )
                for number in new_on - flow_numbers:
                    if await draft_tests.pending_on(session, number):
                        flow_numbers.add(number)
        for_flows = []
        for event in events:
            row = rows.get(event.conversation_id)
            if row is None or row.status not in (Status.NEW, Status.IN_FLOW):
                continue
            if row.status == Status.NEW and row.phone_number_id not in flow_numbers:
                continue
            for_flows.append(event)
        if for_flows:  # together where they can be (``batch``), else one at a time
            await batch.activate(self, for_flows)

    async def _activate_on_message(self, event: MessageReceived) -> None:
        async def begin(session: AsyncSession, conversation: Conversation, after: _After):
            return await self._on_message(session, conversation, event, after)

        await self._activate(event.workspace_id, event.conversation_id, begin)

    async def recover(self, *, limit: int = 500) -> int:
        """Start the flows whose start was lost: a new conversation on a number with a
        flow whose first message was stored, but the process died before its flow ran
        (the activation follows the message's commit). Only conversations at least
        ``RECOVER_AFTER`` old (the live path had its chance) and at most
        ``RECOVER_WITHIN`` (an old unrouted conversation is not greeted days later), and
        created after their number's flow was bound; their first message starts the
        flow if the conversation is still new when locked (so any number of processes may
        run this): a later message stays for the agent. Returns how many."""
        now = now_utc()
        first = (
            select(
                Conversation.workspace_id,
                Conversation.id,
                Conversation.contact_id,
                func.min(Message.id),
            )
            .join(Message, Message.conversation_id == Conversation.id)
            .join(FlowBinding, FlowBinding.phone_number_id == Conversation.phone_number_id)
            .where(
                Conversation.status == Status.NEW,
                Conversation.created_at < now - RECOVER_AFTER,
                Conversation.created_at > now - RECOVER_WITHIN,
                Conversation.created_at > FlowBinding.created_at,
                Message.direction == "inbound",
            )
            .group_by(Conversation.workspace_id, Conversation.id, Conversation.contact_id)
            .order_by(Conversation.id)
            .limit(limit)
        )
        async with self.db.read() as session:
            rows = (await session.execute(first)).all()
        if rows:
            log.warning("%d new conversations never started their flow: starting them", len(rows))
        for workspace_id, conversation_id, contact_id, message_id in rows:
            event = MessageReceived(
                workspace_id=workspace_id,
                conversation_id=conversation_id,
                message_id=message_id,
                contact_id=contact_id,
                new_conversation=True,
            )

            async def start(session: AsyncSession, conversation: Conversation, after: _After):
                if conversation.status != Status.NEW:  # started meanwhile (another process)
                    return None
                return await self._start(session, conversation, event, after)  # noqa: B023

            await self._activate(workspace_id, conversation_id, start)
        return len(rows)

    async def run_recovery(self) -> None:
        """``recover`` now and every ``RECOVER_EVERY`` (a single-instance worker)."""
        while True:
            try:
                await self.recover()
            except Exception:
                log.exception("recovering flows that never started failed")
            await asyncio.sleep(RECOVER_EVERY.total_seconds())

    async def on_timeout(self, timer: Timer) -> None:
        seq = (timer.payload or {}).get("seq")
        conversation_id = (timer.payload or {}).get("conversation_id")
        if conversation_id is None:
            return

        async def fire(session: AsyncSession, conversation: Conversation, after: _After):
            run = await session.get(FlowRun, timer.ref_id)
            if run is None or run.wait_kind != "input" or run.wait_seq != seq:
                return None
            if conversation.status != Status.IN_FLOW:
                return None
            return run, fe.Timeout(seq)

        await self._activate(timer.workspace_id, conversation_id, fire)

    async def on_http_unanswered(self, timer: Timer) -> None:
        """The HTTP Request of a run never got its answer in: the process stopped while
        waiting. Send it again (the run is exactly where it was) and carry on."""
        payload = timer.payload or {}
        seq, conversation_id = payload.get("seq"), payload.get("conversation_id")
        async with self.db.read() as session:
            run = await session.get(FlowRun, timer.ref_id)
            if run is None or run.wait_kind != "http" or run.wait_seq != seq:
                return
            version = await self._version(session, run.version_id)
            node = version.definition.node(run.node_id or "")
            variables = dict(run.variables or {})
        if node is None or node.type != "http_request":
            return
        call = fe.http_call(node, variables, seq)
        log.info("flow run %s: sending the unanswered HTTP request of %s again", run.id, node.id)
        async with self.db.write() as session:  # guard this attempt too
            await timers.schedule(
                session,
                timer.workspace_id,
                FLOW_HTTP,
                run.id,
                now_utc() + timedelta(seconds=call.timeout_seconds + HTTP_GRACE_SECONDS),
                payload,
            )
        await self._chain_http(timer.workspace_id, conversation_id, run.id, call, fe.MAX_STEPS)

    async def on_conversations_changed(self, events: list[ConversationChanged]) -> None:
        """Someone took a conversation out of the flow (transfer, close…): its run stops.
        One read for a batch (routing queues a burst of new conversations together, and
        hardly any of them has a run)."""
        events = [
            e for e in events if e.status != Status.IN_FLOW and e.conversation_id not in self._left
        ]
        if not events:
            return
        async with self.db.read() as session:
            active = dict(
                (
                    await session.execute(
                        select(FlowRun.conversation_id, FlowRun.id).where(
                            FlowRun.conversation_id.in_({e.conversation_id for e in events}),
                            FlowRun.status.in_(ACTIVE),
                        )
                    )
                ).all()
            )
        for event in events:
            if event.conversation_id in active:
                await self._interrupt(event, active[event.conversation_id])

    async def _interrupt(self, event: ConversationChanged, active: int) -> None:
        async with self.db.write() as session:
            conversation = await session.scalar(
                select(Conversation)
                .where(Conversation.id == event.conversation_id)
                .with_for_update()
            )
            run = await session.get(FlowRun, active)
            if conversation is None or conversation.status == Status.IN_FLOW:
                return
            if run is None or run.status not in ACTIVE:
                return
            await self._stop_run(session, run, "interrupted", f"conversation {event.step}")
            session.add(
                FlowStep(
                    workspace_id=run.workspace_id,
                    run_id=run.id,
                    conversation_id=run.conversation_id,
                    flow_id=run.flow_id,
                    version=run.version,
                    node_id=run.node_id or "-",
                    widget="flow",
                    result="interrupted",
                    detail={"step": event.step, "status": event.status},
                )
            )

    # ------------------------------------------------------------------ activations

    async def try_hold(self, conversation_id: int) -> bool:
        """Take the conversation's activation lock if it is free (without waiting);
        ``release`` gives it back. (A batch takes the conversations nobody is busy with.)"""
        return await self._locks.try_hold(conversation_id)

    def release(self, conversation_id: int) -> None:
        self._locks.release(conversation_id)

    def left_flows(self, conversation_ids: set[int], *, done: bool = False) -> None:
        """Conversations whose run just ended here: their own lifecycle events need no
        check (``on_conversation_changed``) while they are published."""
        if done:
            self._left.difference_update(conversation_ids)
        else:
            self._left.update(conversation_ids)

    async def _activate(
        self, workspace_id: int, conversation_id: int, begin, budget: int = fe.MAX_STEPS
    ) -> None:
        """One transaction: lock the conversation, let ``begin`` pick the run and the
        engine event, walk; then the after-commit work (and the HTTP chain)."""
        after = _After(workspace_id, conversation_id, budget=budget)
        async with self._locks.hold(conversation_id), self.db.write() as session:
            conversation = await session.scalar(
                select(Conversation)
                .where(
                    Conversation.id == conversation_id,
                    Conversation.workspace_id == workspace_id,
                )
                .with_for_update()
            )
            if conversation is None:
                return
            picked = await begin(session, conversation, after)
            if picked is not None:
                run, event = picked
                await self._walk(session, conversation, run, event, after)
        self.steps_taken += after.steps
        await self._after(after)

    async def _chain_http(
        self, workspace_id: int, conversation_id: int, run_id: int, call: fe.CallHttp, budget: int
    ) -> None:
        result = await self._call(call)

        async def answer(session: AsyncSession, conversation: Conversation, after: _After):
            run = await session.get(FlowRun, run_id)
            if run is None or run.wait_kind != "http" or run.wait_seq != call.seq:
                return None
            return run, result

        await self._activate(workspace_id, conversation_id, answer, budget)

    async def _after(self, after: _After) -> None:
        if after.left_flow:
            self._left.add(after.conversation_id)
        try:
            await self._after_commit(after)
        finally:
            self._left.discard(after.conversation_id)

    async def _after_commit(self, after: _After) -> None:
        extra: list[Event] = []
        if after.transfer_to is not None:
            try:
                outcome = await assignment.transfer(
                    self.db,
                    after.workspace_id,
                    after.conversation_id,
                    actor_id=None,
                    agent_id=after.transfer_to,
                )
                extra.extend(outcome.events)
            except RoutingError as exc:
                log.info(
                    "flow route to agent %s: %s; the conversation waits in its queue",
                    after.transfer_to,
                    exc.message,
                )
        if after.events or extra:
            await self.bus.publish([*after.events, *extra])
        if after.close_reason is not None:
            try:
                outcome = await assignment.close(
                    self.db,
                    after.workspace_id,
                    after.conversation_id,
                    actor_id=None,
                    reason=after.close_reason,
                )
                await self.bus.publish(outcome.events)
            except RoutingError as exc:
                log.info("flow End: %s", exc.message)
        for queue_id in after.kicks:
            await self.kick_queue(queue_id)
        if after.http is not None:
            run_id, call = after.http
            await self._chain_http(
                after.workspace_id, after.conversation_id, run_id, call, after.budget
            )

    # ------------------------------------------------------------------ picking the run

    async def _on_message(
        self,
        session: AsyncSession,
        conversation: Conversation,
        event: MessageReceived,
        after: _After,
    ) -> tuple[FlowRun, fe.Event] | None:
        if conversation.status == Status.NEW:
            return await self._start(session, conversation, event, after)
        if conversation.status != Status.IN_FLOW:
            return None
        run = await session.scalar(
            select(FlowRun)
            .where(FlowRun.conversation_id == conversation.id)
            .order_by(FlowRun.id.desc())
            .limit(1)
        )
        if run is None:
            return None
        if run.status == "ended":  # the End committed, its close did not: finish it
            after.close_reason = "flow ended"
            return None
        if run.status != "waiting" or run.wait_kind != "input":
            return None  # busy (an HTTP call) or over: the message stays for the agent
        message = await session.get(Message, event.message_id)
        if message is None or message.type in NOT_ANSWERS or taken(run, message):
            return None
        return run, _inbound(message)

    async def _start(
        self,
        session: AsyncSession,
        conversation: Conversation,
        event: MessageReceived,
        after: _After,
    ) -> tuple[FlowRun, fe.Event] | None:
        now = now_utc()
        if route_back_target(conversation, now) is not None:
            return None  # a reply to a business-initiated conversation goes back, not here
        contact = await session.get(Contact, conversation.contact_id)
        # An admin testing a draft for this customer on this number (the editor's Test):
        # the test snapshot starts instead of the published version, for them only.
        test = await draft_tests.pending_for(session, conversation, contact, now)
        if test is not None:
            return await self._start_test(
                session, conversation, event, after, contact, *test, now=now
            )
        # The number's flow and its published version, in one query. (A `new` conversation
        # has no run: the run and the step to in_flow commit together.)
        bound = (
            await session.execute(
                select(Flow.id, Flow.name, FlowVersion.id, FlowVersion.version)
                .join(FlowBinding, FlowBinding.flow_id == Flow.id)
                .join(
                    FlowVersion,
                    (FlowVersion.flow_id == Flow.id)
                    & (FlowVersion.version == Flow.published_version),
                )
                .where(FlowBinding.phone_number_id == conversation.phone_number_id)
            )
        ).first()
        if bound is None:
            return None
        flow_id, flow_name, version_id, version = bound
        return await self._begin(
            session,
            conversation,
            event,
            after,
            contact,
            (flow_id, flow_name, version_id, version),
            reason=f"flow {flow_name} version {version}",
            data={"flow_id": flow_id, "version": version},
            flow_version=version,
            now=now,
        )

    async def _start_test(
        self,
        session: AsyncSession,
        conversation: Conversation,
        event: MessageReceived,
        after: _After,
        contact: Contact | None,
        test: FlowTest,
        flow: Flow,
        version: FlowVersion,
        *,
        now: datetime,
    ) -> tuple[FlowRun, fe.Event]:
        """Start the snapshot an admin is testing (``services.flow_tests``); the test
        binding is used up by this conversation in the same commit."""
        draft_tests.mark_started(test, conversation, now)
        return await self._begin(
            session,
            conversation,
            event,
            after,
            contact,
            (flow.id, flow.name, version.id, version.version),
            reason=f"flow {flow.name}: test of the draft",
            data={"flow_id": flow.id, "version": version.version, "test": test.id},
            flow_version="test",
            now=now,
        )

    async def _begin(
        self,
        session: AsyncSession,
        conversation: Conversation,
        event: MessageReceived,
        after: _After,
        contact: Contact | None,
        started: tuple[int, str, int, int],
        *,
        reason: str,
        data: dict[str, Any],
        flow_version: int | str,
        now: datetime,
    ) -> tuple[FlowRun, fe.Event]:
        """The step to in_flow and the new run with its built-in variables."""
        flow_id, flow_name, version_id, version = started
        outcome = Outcome()
        await assignment.record(
            session,
            conversation,
            Step.START_FLOW,
            reason=reason,
            data=data,
            at=now,
            outcome=outcome,
        )
        after.events.extend(outcome.events)
        message = await session.get(Message, event.message_id)
        number = await session.get(PhoneNumber, conversation.phone_number_id)
        variables = _builtins(conversation, contact, number, message)
        variables.update({"flow.name": flow_name, "flow.version": flow_version})
        return self._new_run(conversation, flow_id, version_id, version), fe.Begin(variables)

    @staticmethod
    def _new_run(
        conversation: Conversation,
        flow_id: int,
        version_id: int,
        version: int,
        parent: int | None = None,
    ) -> FlowRun:
        """A run to start; it is inserted once the engine has walked its first steps."""
        now = now_utc()
        return FlowRun(
            workspace_id=conversation.workspace_id,
            conversation_id=conversation.id,
            flow_id=flow_id,
            version_id=version_id,
            version=version,
            parent_run_id=parent,
            variables={},
            status="running",
            wait_seq=0,
            retries=0,
            started_at=now,
            updated_at=now,
        )

    # ------------------------------------------------------------------ the walk

    async def _version(self, session: AsyncSession, version_id: int) -> _Version:
        cached = self._versions.get(version_id)
        if cached is None:
            row = await session.get(FlowVersion, version_id)
            flow = await session.get(Flow, row.flow_id)
            cached = _Version(row.flow_id, flow.name, row.version, parse_definition(row.definition))
            self._versions[version_id] = cached
        return cached

    async def _calendars(
        self, session: AsyncSession, workspace_id: int, definition: FlowDefinition
    ) -> dict[str, BusinessHours]:
        names = {
            n.queue for n in definition.nodes if isinstance(n, BusinessHoursWidget) and n.queue
        }
        if not names:
            return {}
        out = {}
        for queue in await session.scalars(
            select(Queue).where(Queue.workspace_id == workspace_id, Queue.name.in_(names))
        ):
            try:
                out[queue.name] = BusinessHours.parse(queue.timezone, queue.hours, queue.holidays)
            except BusinessHoursError:
                log.warning("queue %s has hours that cannot be read", queue.name)
        return out

    async def _walk(
        self,
        session: AsyncSession,
        conversation: Conversation,
        run: FlowRun,
        event: fe.Event,
        after: _After,
    ) -> None:
        while True:
            now = now_utc()
            version = await self._version(session, run.version_id)
            context = fe.Context(
                now=now,
                calendars=await self._calendars(session, run.workspace_id, version.definition),
                budget=after.budget,
                classify=intent.classify,
            )
            state = fe.RunState(
                node=run.node_id,
                variables=dict(run.variables or {}),
                wait=run.wait_kind,
                seq=run.wait_seq,
                retries=run.retries,
                status=run.status,
            )
            result = fe.advance(version.definition, state, event, context)
            after.budget -= result.executed
            after.steps += len(result.steps)
            if not result.steps and not result.actions:
                return  # the event was not for this run's current wait
            await self._leave_wait(session, run, result.state)
            _store_state(run, result.state, now)
            for action in result.actions:
                if isinstance(action, fe.WaitForInput) and action.timeout_seconds:
                    run.wait_until = now + timedelta(seconds=action.timeout_seconds)
            if run.id is None:  # a new run: one INSERT with its state after the first walk
                session.add(run)
                await session.flush()
            next_run = None
            for action in result.actions:
                follow = await self._act(session, conversation, run, version, action, after, now)
                next_run = follow or next_run
            if result.steps:  # one multi-row INSERT
                await session.execute(
                    insert(FlowStep), [step_values(run, step, now) for step in result.steps]
                )
            if run.status not in ACTIVE:
                after.left_flow = True
            if next_run is None:
                return
            run, event = next_run

    async def _leave_wait(self, session: AsyncSession, run: FlowRun, state: fe.RunState) -> None:
        """Cancel the timer of the wait the run just left."""
        if state.wait == run.wait_kind and state.seq == run.wait_seq:
            return
        if run.wait_kind == "input" and run.wait_until is not None:
            await timers.cancel(session, FLOW_TIMEOUT, run.id)
            run.wait_until = None
        elif run.wait_kind == "http":
            await timers.cancel(session, FLOW_HTTP, run.id)

    async def _act(
        self,
        session: AsyncSession,
        conversation: Conversation,
        run: FlowRun,
        version: _Version,
        action: Any,
        after: _After,
        now: datetime,
    ) -> tuple[FlowRun, fe.Event] | None:
        workspace_id = conversation.workspace_id
        if isinstance(action, fe.Send):
            try:
                message = validate_outbound(action.message)
                _, queued = await queue_message(
                    self.db,
                    workspace_id,
                    conversation.id,
                    message,
                    now=now,
                    session=session,
                )
                after.events.append(queued)
            except (OutboundRefused, OutboundValidationError) as exc:
                session.add(
                    _step_row(
                        run,
                        fe.StepRecord(action.node, "send", "error", {"error": exc.message}),
                        now,
                    )
                )
        elif isinstance(action, fe.WaitForInput):
            if action.timeout_seconds:  # the wait it replaces was cancelled by _leave_wait
                await timers.schedule(
                    session,
                    workspace_id,
                    FLOW_TIMEOUT,
                    run.id,
                    run.wait_until,
                    {"seq": action.seq, "conversation_id": conversation.id},
                    replace=False,
                )
        elif isinstance(action, fe.CallHttp):
            due = now + timedelta(seconds=action.timeout_seconds + HTTP_GRACE_SECONDS)
            await timers.schedule(
                session,
                workspace_id,
                FLOW_HTTP,
                run.id,
                due,
                {"seq": action.seq, "conversation_id": conversation.id},
                replace=False,
            )
            after.http = (run.id, action)
        elif isinstance(action, fe.RouteToQueue | fe.RouteToAgent):
            queue = await session.scalar(
                select(Queue).where(Queue.workspace_id == workspace_id, Queue.name == action.queue)
            )
            if queue is None:
                await self._fail(
                    session,
                    conversation,
                    run,
                    action.node,
                    f"no queue named {action.queue!r}",
                    after,
                    now,
                )
                return None
            agent_id = None
            if isinstance(action, fe.RouteToAgent):
                agent_id = await session.scalar(
                    select(User.id).where(
                        User.workspace_id == workspace_id, User.email == action.agent.lower()
                    )
                )
                if agent_id is None:
                    await self._fail(
                        session,
                        conversation,
                        run,
                        action.node,
                        f"no user {action.agent!r}",
                        after,
                        now,
                    )
                    return None
            outcome = Outcome()
            landed = await assignment.place_in_queue(
                session,
                conversation,
                queue,
                Step.QUEUE,
                outcome,
                priority=action.priority,
                reason=f"flow {version.flow_name}: {action.node}",
                now=now,
            )
            after.events.extend(outcome.events)
            after.kicks.append(landed.id)
            after.transfer_to = agent_id
        elif isinstance(action, fe.RouteToFlow):
            target = await session.scalar(
                select(Flow).where(Flow.workspace_id == workspace_id, Flow.name == action.flow)
            )
            target_version = None
            if target is not None and target.published_version is not None:
                target_version = await session.scalar(
                    select(FlowVersion).where(
                        FlowVersion.flow_id == target.id,
                        FlowVersion.version == target.published_version,
                    )
                )
            if target_version is None:
                await self._fail(
                    session,
                    conversation,
                    run,
                    action.node,
                    f"no published flow named {action.flow!r}",
                    after,
                    now,
                )
                return None
            child = self._new_run(
                conversation, target.id, target_version.id, target_version.version, parent=run.id
            )
            variables = {
                **(run.variables or {}),
                "flow.name": target.name,
                "flow.version": target_version.version,
            }
            return child, fe.Begin(variables)
        elif isinstance(action, fe.EndConversation):
            after.close_reason = f"flow {version.flow_name} ended"
        elif isinstance(action, fe.Fail):
            await self._fail(
                session, conversation, run, action.node, action.error, after, now, logged=True
            )
        return None

    async def _fail(
        self,
        session: AsyncSession,
        conversation: Conversation,
        run: FlowRun,
        node: str | None,
        error: str,
        after: _After,
        now: datetime,
        *,
        logged: bool = False,
    ) -> None:
        """Stop the run with an error, note it in the lifecycle log, and hand the
        conversation to its number's default queue (if any) rather than leave it stuck."""
        log.warning(
            "flow run %s (conversation %s) failed at %s: %s", run.id, conversation.id, node, error
        )
        if not logged:
            session.add(
                _step_row(run, fe.StepRecord(node or "-", "flow", "error", {"error": error}), now)
            )
        await self._stop_run(session, run, "failed", error)
        session.add(
            ConversationEvent(
                workspace_id=conversation.workspace_id,
                conversation_id=conversation.id,
                type="flow_failed",
                from_status=conversation.status,
                to_status=conversation.status,
                reason=error,
                data={"flow_id": run.flow_id, "version": run.version, "node": node},
                at=now,
            )
        )
        number = await session.get(PhoneNumber, conversation.phone_number_id)
        if number is None or number.default_queue_id is None:
            return
        queue = await session.get(Queue, number.default_queue_id)
        outcome = Outcome()
        landed = await assignment.place_in_queue(
            session, conversation, queue, Step.QUEUE, outcome, reason="the flow failed", now=now
        )
        after.events.extend(outcome.events)
        after.kicks.append(landed.id)

    async def _stop_run(
        self, session: AsyncSession, run: FlowRun, status: str, error: str | None
    ) -> None:
        if run.wait_kind == "input" and run.wait_until is not None:
            await timers.cancel(session, FLOW_TIMEOUT, run.id)
        elif run.wait_kind == "http":
            await timers.cancel(session, FLOW_HTTP, run.id)
        now = now_utc()
        run.status = status
        run.error = error
        run.wait_kind = None
        run.wait_until = None
        run.updated_at = now
        run.ended_at = now

    # ------------------------------------------------------------------ HTTP

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            allow = self.http_allow
            self._http = httpx.AsyncClient(
                follow_redirects=False,  # a redirect is an answer, never followed
                trust_env=False,  # no proxy from the environment: the guard sees the target
                headers={"User-Agent": "Madoguchi-flow/1"},
                transport=pooled_transport(
                    httpx.Limits(max_connections=100, max_keepalive_connections=20),
                    resolver_factory=lambda: http_guard.GuardedResolver(allow),
                ),
            )
        return self._http

    async def _call(self, call: fe.CallHttp) -> fe.HttpResult:
        """Make the widget's request. Every failure of any kind becomes the widget's
        ``failure`` exit with ``http.error`` saying why: nothing here raises, so nothing
        is retried without end."""
        try:
            return await asyncio.wait_for(self._request(call), call.timeout_seconds + 1)
        except Exception as exc:
            refused = http_guard.refusal_in(exc)  # (the adapter may call it a timeout)
            if refused is not None:
                return fe.HttpResult(call.seq, error=f"refused: {refused}")
            if isinstance(exc, TimeoutError | httpx.TimeoutException):
                return fe.HttpResult(call.seq, error=f"no answer within {call.timeout_seconds:g} s")
            if isinstance(exc, secret_headers.SecretHeaderError):
                return fe.HttpResult(call.seq, error=str(exc))
            if isinstance(exc, UnicodeEncodeError):
                return fe.HttpResult(
                    call.seq, error="a header value is not ASCII text: it cannot be sent"
                )
            log.info("flow HTTP request to %s failed", call.url, exc_info=True)
            return fe.HttpResult(call.seq, error=f"request failed: {type(exc).__name__}: {exc}")

    async def _request(self, call: fe.CallHttp) -> fe.HttpResult:
        http_guard.check_url(call.url, self.http_allow)
        headers = {**call.headers, **secret_headers.unseal(call.secret_headers, self.secrets)}
        kwargs: dict[str, Any] = {"headers": headers, "timeout": call.timeout_seconds}
        if call.body is not None:
            kwargs["json"] = call.body
        limit = self.http_max_bytes
        async with self._client().stream(call.method, call.url, **kwargs) as response:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                return fe.HttpResult(call.seq, error=_too_large(limit))
            body = bytearray()
            async for chunk in response.aiter_bytes():  # decoded: a gzip bomb is capped too
                body += chunk
                if len(body) > limit:
                    return fe.HttpResult(call.seq, error=_too_large(limit))
        data = None
        if body:
            try:
                data = json.loads(bytes(body))
            except (ValueError, RecursionError):
                data = None
        return fe.HttpResult(call.seq, status=response.status_code, data=data)


# ---------------------------------------------------------------------- helpers


def _too_large(limit: int) -> str:
    return f"the answer is larger than {limit} bytes (MADOGUCHI_FLOW_HTTP_MAX_BYTES)"


def _builtins(
    conversation: Conversation,
    contact: Contact | None,
    number: PhoneNumber | None,
    message: Message | None,
) -> dict[str, Any]:
    referral = (message.referral if message else None) or {}
    out: dict[str, Any] = {
        "contact.id": contact.id if contact else None,
        "contact.name": (contact.profile_name or contact.username) if contact else None,
        "contact.wa_id": contact.wa_id if contact else None,
        "contact.user_id": contact.user_id if contact else None,
        "contact.username": contact.username if contact else None,
        "conversation.id": conversation.id,
        "number.phone_number_id": number.phone_number_id if number else None,
        "number.display": number.display_phone_number if number else None,
        "referral.ctwa_clid": referral.get("ctwa_clid"),
    }
    for name in REFERRAL_FIELDS:
        out[f"referral.{name}"] = referral.get(name)
    out.update(_message_variables(message))
    return out


def taken(run: FlowRun, message) -> bool:
    """The run already took this message (it started the run or answered a question):
    an activation for it again (a recovery pass, a repeated event) changes nothing."""
    return bool(message.wamid) and (run.variables or {}).get("message.id") == message.wamid


def _message_variables(message: Message | None) -> dict[str, Any]:
    return {
        "message.text": message.text if message else None,
        "message.type": message.type if message else None,
        "message.id": message.wamid if message else None,
    }


def _inbound(message: Message) -> fe.Inbound:
    content = message.content or {}
    reply_id = None
    if message.type == "interactive":
        reply = content.get(content.get("type") or "") or {}
        reply_id = reply.get("id") if isinstance(reply, dict) else None
    elif message.type == "button":
        reply_id = content.get("payload")
    return fe.Inbound(
        text=message.text,
        type=message.type,
        reply_id=reply_id,
        variables=_message_variables(message),
    )


def step_values(run: FlowRun, step: fe.StepRecord, now: datetime) -> dict[str, Any]:
    return {
        "workspace_id": run.workspace_id,
        "run_id": run.id,
        "conversation_id": run.conversation_id,
        "flow_id": run.flow_id,
        "version": run.version,
        "node_id": step.node,
        "widget": step.widget,
        "result": step.result,
        "detail": step.detail,
        "at": now,
    }


def _step_row(run: FlowRun, step: fe.StepRecord, now: datetime) -> FlowStep:
    return FlowStep(**step_values(run, step, now))


def _store_state(run: FlowRun, state: fe.RunState, now: datetime) -> None:
    run.node_id = state.node
    run.variables = state.variables
    run.wait_kind = state.wait
    run.wait_seq = state.seq
    run.retries = state.retries
    run.status = state.status
    run.error = state.error
    run.updated_at = now
    if state.wait is None:
        run.wait_until = None
    if state.status in TERMINAL_RUN:
        run.ended_at = now
