"""Flow activations for a batch of inbound messages, in one transaction.

A burst of new customers (a campaign's reply wave, an ad) starts a flow for each; one
write transaction per activation made every reply cost ~25 statements and the single
writer's round trips. Here the activations of one batch of ``MessageReceived`` events
(the journal's processor publishes a slice's events together) share one transaction:
the conversations are locked together (``FOR UPDATE``, in id order), their runs,
messages, contacts and the numbers' bound flows read once for all, the pure engine walks
each run, and the new runs, steps, timers, lifecycle steps and replies
(``outbox.queue_messages``) are written with one statement per table for the batch.

The batch takes the walks it can do in bulk: a run that begins or answers a Collect
Input and then sends messages, waits for input or routes to a queue (the guide's flow,
and most flows, all the way). Anything else (an HTTP Request, End, routing to an agent
or to another flow, a draft being tested, a failure, a second message of the same
conversation in the batch, a conversation whose activation is running elsewhere in this
process) goes through the runner's one-at-a-time path afterwards, in the order the
messages came, so each customer's messages are still handled in order. If the batch's
transaction fails, nothing of it is stored and every activation is done one at a time:
a bad one fails alone. What a commit holds is exactly what one activation's commit
holds, so a crash before it loses nothing the one-at-a-time path would not, and a step
is never stored twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import make_transient_to_detached

from madoguchi.domain.events import Event, MessageReceived
from madoguchi.domain.flows import engine as fe
from madoguchi.domain.lifecycle import Status, Step
from madoguchi.domain.route_back import route_back_target
from madoguchi.services.assist import intent
from madoguchi.services.channel.outbox import OutboundRefused, queue_messages
from madoguchi.services.contact_center import assignment
from madoguchi.services.contact_center.assignment import Outcome, now_utc
from madoguchi.services.flows import draft_tests
from madoguchi.services.flows import runner as flow_runner
from madoguchi.store.models import (
    Contact,
    Conversation,
    ConversationEvent,
    Flow,
    FlowBinding,
    FlowRun,
    FlowStep,
    FlowVersion,
    Message,
    MessageCost,
    PhoneNumber,
    Queue,
    Timer,
)
from madoguchi.whatsapp.outbound import OutboundValidationError, validate_outbound

if TYPE_CHECKING:
    from madoguchi.domain.business_hours import BusinessHours
    from madoguchi.services.flows.runner import FlowRunner

log = logging.getLogger(__name__)

# The actions a walk of the batch may end in; any other goes one at a time.
BULK_ACTIONS = (fe.Send, fe.WaitForInput, fe.RouteToQueue)


@dataclass
class _Item:
    event: MessageReceived
    conversation: Conversation
    run: FlowRun
    result: fe.Advance
    started: tuple[str, dict[str, Any]] | None = None  # a new run: (reason, data)
    events: list[Event] = field(default_factory=list)
    kicks: list[int] = field(default_factory=list)


async def activate(runner: FlowRunner, events: Sequence[MessageReceived]) -> None:
    """Activate the flows of ``events`` (already known to be for a flow, in order)."""
    taken: dict[int, MessageReceived] = {}
    seen: set[int] = set()
    for event in events:
        cid = event.conversation_id
        if cid not in seen and await runner.try_hold(cid):
            taken[cid] = event
        seen.add(cid)
    handled: set[int] = set()
    try:
        if taken:
            handled = await _batch(runner, list(taken.values()))
    except Exception:
        log.exception("%d flow activations together failed: one at a time", len(taken))
    finally:
        for cid in taken:
            runner.release(cid)
    for event in events:  # the rest, one at a time, in the order they came
        cid = event.conversation_id
        if cid in handled and taken.get(cid) is event:
            continue
        await runner._activate_on_message(event)


async def _batch(runner: FlowRunner, events: list[MessageReceived]) -> set[int]:
    """One transaction for the activations it can do; the conversations it did (their
    event is done: also when there was nothing to do for it)."""
    db = runner.db
    now = now_utc()
    done: set[int] = set()
    items: list[_Item] = []
    kicks: set[int] = set()
    after_events: list[Event] = []
    left: set[int] = set()
    steps_taken = 0
    calendars: dict[tuple[int, int], dict[str, BusinessHours]] = {}
    async with db.write() as session:
        # Statements are the batch's own: the unit of work would insert the lifecycle
        # steps and cost estimates the use cases add one row per statement (``_insert_added``).
        session.sync_session.autoflush = False
        conversations = {
            c.id: c
            for c in await session.scalars(
                select(Conversation)
                .where(Conversation.id.in_([e.conversation_id for e in events]))
                .order_by(Conversation.id)
                .with_for_update()
            )
        }
        messages = {
            row.id: row
            for row in await session.execute(
                select(
                    Message.id,
                    Message.type,
                    Message.text,
                    Message.content,
                    Message.wamid,
                    Message.referral,
                ).where(Message.id.in_([e.message_id for e in events]))
            )
        }
        contacts = {
            c.id: c
            for c in await session.scalars(
                select(Contact).where(
                    Contact.id.in_({c.contact_id for c in conversations.values()})
                )
            )
        }
        in_flow = [c.id for c in conversations.values() if c.status == Status.IN_FLOW]
        runs: dict[int, FlowRun] = {}
        if in_flow:
            latest = (
                select(func.max(FlowRun.id))
                .where(FlowRun.conversation_id.in_(in_flow))
                .group_by(FlowRun.conversation_id)
            )
            runs = {
                r.conversation_id: r
                for r in await session.scalars(select(FlowRun).where(FlowRun.id.in_(latest)))
            }
        new_on = {c.phone_number_id for c in conversations.values() if c.status == Status.NEW}
        bound: dict[int, tuple] = {}
        tested: set[int] = set()
        numbers: dict[int, PhoneNumber] = {}
        if new_on:
            for row in await session.execute(
                select(
                    FlowBinding.phone_number_id,
                    Flow.id,
                    Flow.name,
                    FlowVersion.id,
                    FlowVersion.version,
                )
                .join(Flow, FlowBinding.flow_id == Flow.id)
                .join(
                    FlowVersion,
                    (FlowVersion.flow_id == Flow.id)
                    & (FlowVersion.version == Flow.published_version),
                )
                .where(FlowBinding.phone_number_id.in_(new_on))
            ):
                bound[row[0]] = tuple(row[1:])
            for number in new_on:
                if await draft_tests.pending_on(session, number):
                    tested.add(number)  # a draft is being tested there: one at a time
                numbers[number] = await session.get(PhoneNumber, number)

        for event in events:
            conversation = conversations.get(event.conversation_id)
            if conversation is None or conversation.workspace_id != event.workspace_id:
                done.add(event.conversation_id)  # nothing to do, as one at a time
                continue
            message = messages.get(event.message_id)
            item = None
            if conversation.status == Status.NEW:
                if conversation.phone_number_id in tested:
                    continue
                flow = bound.get(conversation.phone_number_id)
                if flow is None or route_back_target(conversation, now) is not None:
                    done.add(conversation.id)
                    continue
                item = await _begin(
                    runner,
                    session,
                    conversation,
                    event,
                    flow,
                    message,
                    contacts.get(conversation.contact_id),
                    numbers.get(conversation.phone_number_id),
                    calendars,
                )
            elif conversation.status == Status.IN_FLOW:
                run = runs.get(conversation.id)
                if run is not None and run.status == "ended":
                    continue  # its End committed, its close did not: one at a time
                if (
                    run is None
                    or run.status != "waiting"
                    or run.wait_kind != "input"
                    or message is None
                    or message.type in flow_runner.NOT_ANSWERS
                    or flow_runner.taken(run, message)
                ):
                    done.add(conversation.id)
                    continue
                item = await _answer(runner, session, conversation, event, run, message, calendars)
            else:
                done.add(conversation.id)
                continue
            if item is None:
                continue  # not for the batch
            items.append(item)
            done.add(conversation.id)

        # The walks are decided: store them.
        await _store(runner, session, items, now)
        sends: list[tuple[_Item, fe.Send, Any]] = []
        timers_due: list[dict] = []
        queues: dict[tuple[int, str], Queue | None] = {}
        steps: list[dict] = []
        landed: dict[int, int] = {}
        for item in items:
            run, conversation = item.run, item.conversation
            for step in item.result.steps:
                steps.append(flow_runner.step_values(run, step, now))
            for action in item.result.actions:
                if isinstance(action, fe.Send):
                    try:
                        sends.append((item, action, validate_outbound(action.message)))
                    except OutboundValidationError as exc:
                        steps.append(_error(run, action.node, exc.message, now))
                elif isinstance(action, fe.WaitForInput) and action.timeout_seconds:
                    timers_due.append(
                        {
                            "workspace_id": conversation.workspace_id,
                            "kind": flow_runner.FLOW_TIMEOUT,
                            "ref_id": run.id,
                            "due_at": run.wait_until,
                            "payload": {"seq": action.seq, "conversation_id": conversation.id},
                        }
                    )
        if sends:
            results = await queue_messages(
                session,
                [
                    (item.conversation, contacts[item.conversation.contact_id], message)
                    for item, _, message in sends
                ],
                now=now,
            )
            for (item, action, _), result in zip(sends, results, strict=True):
                if isinstance(result, OutboundRefused):
                    steps.append(_error(item.run, action.node, result.message, now))
                else:
                    item.events.append(result)
        if timers_due:
            await session.execute(insert(Timer), timers_due)
        for item in items:
            for action in item.result.actions:
                if isinstance(action, fe.RouteToQueue):
                    landed_in = await _route(runner, session, item, action, queues, now)
                    if landed_in is not None:
                        landed[landed_in.id] = landed_in.workspace_id
                        kicks.add(landed_in.id)
                    kicks.update(item.kicks)
        if steps:
            await session.execute(insert(FlowStep), steps)
        await _insert_added(session, (ConversationEvent, MessageCost))
        await session.flush()  # the conversations' new state, before they are counted
        for queue_id, workspace_id in landed.items():
            after_events.append(await assignment.queue_changed(session, workspace_id, queue_id))
        for item in items:
            steps_taken += len(item.result.steps)
            if item.run.status not in fe.ACTIVE:
                left.add(item.conversation.id)
    runner.steps_taken += steps_taken
    # Committed: what must not hold the transaction (and, failing, must not make the
    # caller do these activations again).
    published = [e for item in items for e in item.events] + after_events
    runner.left_flows(left)
    try:
        if published:
            await runner.bus.publish(_by_kind(published))
        for queue_id in sorted(kicks):
            await runner.kick_queue(queue_id)  # (else the routing sweep offers them)
    except Exception:
        log.exception("after %d flow activations committed together", len(items))
    finally:
        runner.left_flows(left, done=True)
    return done


# ---------------------------------------------------------------------- the walks


async def _begin(
    runner: FlowRunner,
    session,
    conversation: Conversation,
    event: MessageReceived,
    flow: tuple,
    message,
    contact: Contact | None,
    number: PhoneNumber | None,
    calendars: dict,
) -> _Item | None:
    flow_id, flow_name, version_id, version = flow
    variables = flow_runner._builtins(conversation, contact, number, message)
    variables.update({"flow.name": flow_name, "flow.version": version})
    run = runner._new_run(conversation, flow_id, version_id, version)
    result = await _advance(runner, session, run, fe.Begin(variables), calendars)
    if result is None:
        return None
    return _Item(
        event,
        conversation,
        run,
        result,
        started=(f"flow {flow_name} version {version}", {"flow_id": flow_id, "version": version}),
    )


async def _answer(
    runner: FlowRunner, session, conversation, event, run: FlowRun, message, calendars: dict
) -> _Item | None:
    result = await _advance(runner, session, run, flow_runner._inbound(message), calendars)
    if result is None:
        return None
    return _Item(event, conversation, run, result)


async def _advance(
    runner: FlowRunner, session, run: FlowRun, event, calendars: dict
) -> fe.Advance | None:
    """The engine's walk, if the batch can carry out everything it asks for."""
    version = await runner._version(session, run.version_id)
    key = (run.workspace_id, run.version_id)  # the queues' hours, read once per batch
    if key not in calendars:
        calendars[key] = await runner._calendars(session, run.workspace_id, version.definition)
    context = fe.Context(now=now_utc(), calendars=calendars[key], classify=intent.classify)
    state = fe.RunState(
        node=run.node_id,
        variables=dict(run.variables or {}),
        wait=run.wait_kind,
        seq=run.wait_seq,
        retries=run.retries,
        status=run.status,
    )
    result = fe.advance(version.definition, state, event, context)
    if not all(isinstance(a, BULK_ACTIONS) for a in result.actions):
        return None
    return result


async def _store(runner: FlowRunner, session, items: list[_Item], now) -> None:
    """New positions, the lifecycle step of new runs, cancelled waits; new runs inserted
    together (their ids are needed by their steps and timers)."""
    cancelled: list[int] = []
    new_runs: list[FlowRun] = []
    for item in items:
        run, result = item.run, item.result
        if item.started is not None:
            outcome = Outcome()
            reason, data = item.started
            await assignment.record(
                session,
                item.conversation,
                Step.START_FLOW,
                reason=reason,
                data=data,
                at=now,
                outcome=outcome,
            )
            item.events.extend(outcome.events)
        if not result.steps and not result.actions:
            continue
        state = result.state
        if run.id is not None and not (state.wait == run.wait_kind and state.seq == run.wait_seq):
            if run.wait_kind == "input" and run.wait_until is not None:
                cancelled.append(run.id)
            run.wait_until = None
        flow_runner._store_state(run, state, now)
        for action in result.actions:
            if isinstance(action, fe.WaitForInput) and action.timeout_seconds:
                run.wait_until = now + timedelta(seconds=action.timeout_seconds)
        if run.id is None:
            new_runs.append(run)
    if cancelled:
        await session.execute(
            update(Timer)
            .where(
                Timer.kind == flow_runner.FLOW_TIMEOUT,
                Timer.ref_id.in_(cancelled),
                Timer.state == "pending",
            )
            .values(state="cancelled")
        )
    if new_runs:  # one multi-row INSERT; the runs are then the session's, as if loaded
        rows = await session.execute(
            insert(FlowRun.__table__).returning(
                FlowRun.__table__.c.id, FlowRun.__table__.c.conversation_id
            ),
            [_run_values(run) for run in new_runs],
        )
        ids = {conversation_id: run_id for run_id, conversation_id in rows}
        for run in new_runs:  # (one new run per conversation in a batch)
            run.id = ids[run.conversation_id]
            make_transient_to_detached(run)
            session.add(run)


async def _route(
    runner: FlowRunner, session, item: _Item, action: fe.RouteToQueue, queues: dict, now
) -> Queue | None:
    conversation, run = item.conversation, item.run
    key = (conversation.workspace_id, action.queue)
    if key not in queues:
        queues[key] = await session.scalar(
            select(Queue).where(Queue.workspace_id == key[0], Queue.name == key[1])
        )
    queue = queues[key]
    if queue is None:  # the run fails; the number's default queue takes it, if any
        after = flow_runner._After(conversation.workspace_id, conversation.id)
        await runner._fail(
            session, conversation, run, action.node, f"no queue named {action.queue!r}", after, now
        )
        item.events.extend(after.events)
        item.kicks.extend(after.kicks)
        return None
    outcome = Outcome()
    version = await runner._version(session, run.version_id)
    landed = await assignment.place_in_queue(
        session,
        conversation,
        queue,
        Step.QUEUE,
        outcome,
        priority=action.priority,
        reason=f"flow {version.flow_name}: {action.node}",
        now=now,
        count_waiting=False,
    )
    item.events.extend(outcome.events)
    return landed


# ---------------------------------------------------------------------- helpers


def _run_values(run: FlowRun) -> dict[str, Any]:
    return {
        column.key: getattr(run, column.key)
        for column in FlowRun.__table__.columns
        if column.key != "id" and getattr(run, column.key) is not None
    }


async def _insert_added(session, models: tuple[type, ...]) -> None:
    """Rows of ``models`` added to the session (the lifecycle steps ``assignment``
    records, the estimates ``billing`` records) inserted with one statement per model and
    set of columns, not one each: nothing reads their ids."""
    for model in models:
        added = [obj for obj in session.new if type(obj) is model]  # in the order added
        runs: list[list[dict]] = []  # consecutive rows setting the same columns
        for obj in added:
            values = {
                column.key: getattr(obj, column.key)
                for column in model.__table__.columns
                if column.key in obj.__dict__
            }
            if not runs or runs[-1][0].keys() != values.keys():
                runs.append([])
            runs[-1].append(values)
            session.expunge(obj)
        for rows in runs:  # in order: a conversation's lifecycle steps keep theirs
            await session.execute(insert(model.__table__), rows)


def _error(run: FlowRun, node: str, error: str, now) -> dict[str, Any]:
    return flow_runner.step_values(run, fe.StepRecord(node, "send", "error", {"error": error}), now)


def _by_kind(events: list[Event]) -> list[Event]:
    """Events of one kind together (handlers subscribed for many read once for all),
    kinds in the order they first appear; within a kind, the order they came in."""
    rank: dict[type, int] = {}
    for event in events:
        rank.setdefault(type(event), len(rank))
    return sorted(events, key=lambda e: rank[type(e)])
