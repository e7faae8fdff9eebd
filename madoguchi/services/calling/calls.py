"""Calls through Meta's Calling API, with the agent's browser as the business's endpoint.

A customer's call arrives as a ``calls`` webhook carrying the customer's SDP offer: the
call joins (or opens) the customer's conversation and rings the agents ``ringing``
chooses. The first agent whose browser answers takes it: their SDP answer goes to Meta
with ``pre_accept`` then ``accept``. Declined by everyone, unanswered after the ring time,
or nobody free: ``reject``, recorded as missed. Either side hangs up: ``terminate`` (or
Meta's terminate webhook), with the duration. An agent calls out with the browser's SDP
offer (``connect``) once the customer has given permission; the customer's answer comes
back in a connect webhook.

Every step is one short transaction, then the Graph call, then the events; a call that
two agents answer at once is taken by one conditional update, never by both.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain import calling as rules
from madoguchi.domain.events import AccountEventReceived, CallChanged, Event
from madoguchi.domain.identity import ObservedIdentity
from madoguchi.security.secrets import SecretBox
from madoguchi.services.calling import permissions, timeline
from madoguchi.services.calling.errors import CallRefused
from madoguchi.services.calling.ringing import agents_on_calls, agents_to_ring
from madoguchi.services.channel.contacts import resolve_contact
from madoguchi.services.channel.conversation_threads import (
    find_open_conversation,
    latest_conversation_id,
)
from madoguchi.services.contact_center.assignment import (
    Outcome,
    RoutingError,
    enqueue,
    take_with_call,
)
from madoguchi.services.scheduling import timers
from madoguchi.services.scheduling.timers import TimerWorker
from madoguchi.store.db import Database
from madoguchi.store.models import Call, Contact, Conversation, PhoneNumber, Timer
from madoguchi.whatsapp.errors import GraphTransportError, MetaApiError
from madoguchi.whatsapp.graph import GraphClient
from madoguchi.whatsapp.updates import CallEvent

log = logging.getLogger(__name__)

RING_TIMEOUT = "call_ring_timeout"
Publish = Callable[[Sequence[Event]], Awaitable[None]]
Kick = Callable[[int], Awaitable[object]]


def now_utc() -> datetime:
    return datetime.now(UTC)


def changed(call: Call, callback_queue_id: int | None = None) -> CallChanged:
    return CallChanged(
        workspace_id=call.workspace_id,
        call_id=call.id,
        conversation_id=call.conversation_id,
        status=call.status,
        direction=call.direction,
        agent_id=call.agent_id,
        ringing_agent_ids=list(call.ringing_agent_ids or [])
        if call.status == rules.RINGING
        else [],
        message_id=call.message_id,
        end_reason=call.end_reason,
        duration_seconds=call.duration_seconds,
        callback_queue_id=callback_queue_id,
    )


def _meta_problem(exc: Exception) -> CallRefused:
    if isinstance(exc, MetaApiError):
        return CallRefused("meta_refused", f"WhatsApp refused the call action: {exc}", 502)
    return CallRefused("meta_unreachable", f"WhatsApp could not be reached: {exc}", 502)


class CallDesk:
    """The calling use cases, with the collaborators they need (built by the runtime)."""

    def __init__(
        self,
        db: Database,
        graph: GraphClient,
        secrets: SecretBox,
        timer_worker: TimerWorker,
        publish: Publish,
        *,
        ring_seconds: float = 30.0,
        kick: Kick | None = None,
    ) -> None:
        self.db = db
        self.graph = graph
        self.secrets = secrets
        self.timer_worker = timer_worker
        self.publish = publish
        self.ring_seconds = ring_seconds
        self.kick = kick
        timer_worker.register(RING_TIMEOUT, self.on_ring_timeout)

    # ------------------------------------------------------------------ Graph

    async def _action(self, number: PhoneNumber, body: dict) -> dict:
        token = self.secrets.decrypt(number.access_token_encrypted)
        return await self.graph.call_action(
            number.phone_number_id, token, {"messaging_product": "whatsapp", **body}
        )

    async def _number_of(self, call: Call) -> PhoneNumber:
        async with self.db.read() as session:
            return await session.get(PhoneNumber, call.phone_number_id)

    # ------------------------------------------------------------------ webhooks

    async def on_account_event(self, event: AccountEventReceived) -> None:
        """A ``calls`` webhook: connect (offer or answer), status, terminate."""
        if event.field != "calls":
            return
        try:
            updates = CallEvent.from_change(
                waba_id="", field="calls", value=event.value, timestamp=None, path="value"
            )
        except ValueError:
            log.warning("calls webhook %s could not be read", event.record_id)
            return
        profiles = _profiles(event.value)
        for update_ in updates:
            if isinstance(update_, CallEvent):
                try:
                    await self.on_call_event(event.workspace_id, update_, profiles)
                except CallRefused as exc:
                    log.warning("call %s: %s", update_.call_id, exc.message)

    async def on_call_event(
        self, workspace_id: int, event: CallEvent, profiles: dict[str, dict] | None = None
    ) -> None:
        if event.event == "connect":
            await self._on_connect(workspace_id, event, profiles or {})
        elif event.event == "terminate":
            await self._on_terminate(workspace_id, event)
        elif event.event == "status":
            await self._on_status(workspace_id, event)

    async def _by_meta_id(self, session: AsyncSession, workspace_id: int, meta_id: str):
        return await session.scalar(
            select(Call).where(Call.meta_call_id == meta_id, Call.workspace_id == workspace_id)
        )

    async def _on_connect(
        self, workspace_id: int, event: CallEvent, profiles: dict[str, dict]
    ) -> None:
        session_ = event.session or {}
        sdp = session_.get("sdp") if isinstance(session_.get("sdp"), str) else None
        async with self.db.write() as session:
            call = await self._by_meta_id(session, workspace_id, event.call_id)
            if call is not None:
                if call.direction == "outbound" and sdp and call.answer_sdp is None:
                    call.answer_sdp = sdp  # the customer's phone answered our offer
                    events = [changed(call)]
                else:
                    return  # a redelivered connect
            else:
                if sdp is None or session_.get("sdp_type") != "offer":
                    log.warning("call %s: connect without an SDP offer", event.call_id)
                    return
                call, events = await self._ring(session, workspace_id, event, sdp, profiles)
        await self.publish(events)
        if call.status == rules.MISSED:
            await self._missed(call)

    async def _ring(
        self,
        session: AsyncSession,
        workspace_id: int,
        event: CallEvent,
        sdp: str,
        profiles: dict[str, dict],
    ) -> tuple[Call, list[Event]]:
        """A customer's new call: into their conversation, ringing the chosen agents."""
        number = await session.scalar(
            select(PhoneNumber).where(
                PhoneNumber.phone_number_id == event.phone_number_id,
                PhoneNumber.workspace_id == workspace_id,
            )
        )
        if number is None:
            raise CallRefused("unknown_number", f"number {event.phone_number_id} is not connected")
        profile = profiles.get(event.from_user_id or "") or profiles.get(event.from_ or "") or {}
        contact, _ = await resolve_contact(
            session,
            workspace_id,
            ObservedIdentity(
                wa_id=event.from_,
                user_id=event.from_user_id,
                username=profile.get("username"),
                profile_name=profile.get("name"),
            ),
        )
        conversation = await find_open_conversation(session, contact.id, number.id)
        if conversation is None:
            conversation = Conversation(
                workspace_id=workspace_id,
                contact_id=contact.id,
                phone_number_id=number.id,
                previous_conversation_id=await latest_conversation_id(
                    session, contact.id, number.id
                ),
            )
            session.add(conversation)
            await session.flush()
        now = now_utc()
        ring = await agents_to_ring(session, conversation)
        call = Call(
            workspace_id=workspace_id,
            phone_number_id=number.id,
            conversation_id=conversation.id,
            contact_id=contact.id,
            meta_call_id=event.call_id,
            direction="inbound",
            status=rules.RINGING if ring else rules.MISSED,
            ringing_agent_ids=ring,
            declined_agent_ids=[],
            offer_sdp=sdp,
            end_reason=None if ring else "no_agent",
            ended_at=None if ring else now,
            created_at=now,
        )
        session.add(call)
        await session.flush()
        await timeline.add_entry(session, call, conversation, now)
        await permissions.grant_callback(session, call, now)
        if ring:
            await timers.schedule(
                session,
                workspace_id,
                RING_TIMEOUT,
                call.id,
                now + timedelta(seconds=self.ring_seconds),
            )
        self.timer_worker.wake()
        return call, [changed(call)]

    async def _on_status(self, workspace_id: int, event: CallEvent) -> None:
        status = event.status or ""
        async with self.db.write() as session:
            call = await self._by_meta_id(session, workspace_id, event.call_id)
            if call is None or call.status in rules.FINAL_STATUSES:
                return
            now = now_utc()
            if status == "ACCEPTED" and call.status != rules.ACTIVE:
                call.status = rules.ACTIVE
                call.answered_at = event.timestamp or now
            elif status == "REJECTED":
                call.status = rules.REJECTED
                call.end_reason = "customer_rejected"
                call.ended_at = event.timestamp or now
            else:
                return  # RINGING: nothing changes for us
            await timeline.refresh_entry(session, call)
            events = [changed(call)]
        await self.publish(events)

    async def _on_terminate(self, workspace_id: int, event: CallEvent) -> None:
        async with self.db.write() as session:
            call = await self._by_meta_id(session, workspace_id, event.call_id)
            if call is None:
                return
            if event.duration is not None:
                call.duration_seconds = event.duration
            if call.status in rules.FINAL_STATUSES:
                await timeline.refresh_entry(session, call)  # Meta's duration wins
                return
            now = now_utc()
            call.ended_at = event.end_time or event.timestamp or now
            failed = (event.status or "").upper() == "FAILED"
            ours = call.end_reason in rules.HANG_UP_REASONS
            if ours:
                # The echo of our own terminate, processed before our hang-up committed.
                call.status, call.end_reason = rules.hang_up_outcome(call.status, call.direction)
                if call.duration_seconds is None and call.answered_at:
                    call.duration_seconds = _seconds(call.answered_at, call.ended_at)
            elif call.status == rules.ACTIVE:
                call.status = rules.FAILED if failed and not call.answered_at else rules.ENDED
                call.end_reason = call.end_reason or "customer_hung_up"
                if call.duration_seconds is None and call.answered_at:
                    call.duration_seconds = _seconds(call.answered_at, call.ended_at)
            elif call.direction == "inbound":
                call.status = rules.MISSED
                call.end_reason = "caller_hung_up"
            else:
                call.status = rules.FAILED if failed else rules.REJECTED
                call.end_reason = "not_answered"
            await timers.cancel(session, RING_TIMEOUT, call.id)
            await timeline.refresh_entry(session, call)
            events = [changed(call)]
        await self.publish(events)
        if call.status == rules.MISSED and not ours:
            await self._callback_task(call)

    # ------------------------------------------------------------------ agents

    async def _load(self, session: AsyncSession, workspace_id: int, call_id: int) -> Call:
        call = await session.scalar(
            select(Call).where(Call.id == call_id, Call.workspace_id == workspace_id)
        )
        if call is None:
            raise CallRefused("not_found", f"call {call_id} not found", 404)
        return call

    async def accept(self, workspace_id: int, call_id: int, agent_id: int, sdp: str) -> Call:
        """The agent's browser answers a ringing call with its SDP answer."""
        async with self.db.write() as session:
            call = await self._load(session, workspace_id, call_id)
            if call.direction != "inbound" or call.status != rules.RINGING:
                raise CallRefused(
                    "not_ringing",
                    f"this call is {call.status}: it can no longer be answered "
                    "(another agent may have taken it, or the customer hung up)",
                )
            if agent_id not in (call.ringing_agent_ids or []):
                raise CallRefused("not_yours", "this call is not ringing for you", 403)
            if agent_id in await agents_on_calls(session, workspace_id):
                raise CallRefused("on_a_call", "you are already on a call: hang it up first")
            taken = await session.execute(
                update(Call)
                .where(Call.id == call.id, Call.status == rules.RINGING)
                .values(status=rules.CONNECTING, agent_id=agent_id, answer_sdp=sdp)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount != 1:
                raise CallRefused("not_ringing", "another agent has just answered this call")
            await timers.cancel(session, RING_TIMEOUT, call.id)
            number = await session.get(PhoneNumber, call.phone_number_id)
            meta_call_id = call.meta_call_id
        try:
            session_ = {"sdp_type": "answer", "sdp": sdp}
            await self._action(
                number, {"call_id": meta_call_id, "action": "pre_accept", "session": session_}
            )
            await self._action(
                number, {"call_id": meta_call_id, "action": "accept", "session": session_}
            )
        except (MetaApiError, GraphTransportError) as exc:
            await self._finish(workspace_id, call_id, rules.FAILED, "accept_failed")
            raise _meta_problem(exc) from exc
        outcome = Outcome()
        async with self.db.write() as session:
            call = await self._load(session, workspace_id, call_id)
            if call.status == rules.CONNECTING:
                call.status = rules.ACTIVE
                call.answered_at = now_utc()
            conversation = await session.get(Conversation, call.conversation_id)
            await take_with_call(session, conversation, agent_id, outcome)
            await timeline.refresh_entry(session, call)
            events = [changed(call), *outcome.events]
        await self.publish(events)
        return call

    async def decline(self, workspace_id: int, call_id: int, agent_id: int) -> Call:
        """One rung agent says no; when every rung agent has, the call is missed."""
        async with self.db.write() as session:
            call = await self._load(session, workspace_id, call_id)
            if call.status != rules.RINGING or agent_id not in (call.ringing_agent_ids or []):
                raise CallRefused("not_ringing", "this call is not ringing for you")
            declined = sorted({*call.declined_agent_ids, agent_id})
            call.declined_agent_ids = declined
            still = [a for a in call.ringing_agent_ids if a not in declined]
            call.ringing_agent_ids = still
            if not still:
                call.status = rules.MISSED
                call.end_reason = "declined"
                call.ended_at = now_utc()
                await timers.cancel(session, RING_TIMEOUT, call.id)
            await timeline.refresh_entry(session, call)
            events = [changed(call)]
            # The agent who declined hears of it once, though no longer rung.
            events.append(
                CallChanged(
                    workspace_id=workspace_id,
                    call_id=call.id,
                    conversation_id=call.conversation_id,
                    status="declined",
                    direction=call.direction,
                    agent_id=agent_id,
                )
            )
        await self.publish(events)
        if call.status == rules.MISSED:
            await self._missed(call)
        return call

    async def hang_up(self, workspace_id: int, call_id: int, actor_id: int | None) -> Call:
        async with self.db.read() as session:
            call = await self._load(session, workspace_id, call_id)
        if call.status in rules.FINAL_STATUSES:
            raise CallRefused("ended", f"this call has already ended ({call.status})")
        number = await self._number_of(call)
        status, reason = rules.hang_up_outcome(call.status, call.direction)
        if call.meta_call_id:
            # Ours before Meta's terminate webhook can be processed (it may be, before
            # ``_finish`` commits): ``_on_terminate`` then ends the call as our hang-up.
            async with self.db.write(urgent=True) as session:
                await session.execute(
                    update(Call)
                    .where(Call.id == call.id, Call.status.not_in(rules.FINAL_STATUSES))
                    .values(end_reason=reason)
                )
            try:
                await self._action(number, {"call_id": call.meta_call_id, "action": "terminate"})
            except (MetaApiError, GraphTransportError) as exc:
                log.warning("call %s: terminate failed: %s", call.id, exc)
        return await self._finish(workspace_id, call_id, status, reason)

    async def _finish(self, workspace_id: int, call_id: int, status: str, reason: str) -> Call:
        async with self.db.write() as session:
            call = await self._load(session, workspace_id, call_id)
            if call.status not in rules.FINAL_STATUSES:
                call.status = status
                call.end_reason = reason
                call.ended_at = now_utc()
                if call.answered_at and call.duration_seconds is None:
                    call.duration_seconds = _seconds(call.answered_at, call.ended_at)
                await timers.cancel(session, RING_TIMEOUT, call.id)
                await timeline.refresh_entry(session, call)
            events = [changed(call)]
        await self.publish(events)
        return call

    async def _callback_task(self, call: Call) -> None:
        """A missed call from a customer nobody is talking to yet: their conversation
        waits in the number's default queue, so an agent picks it up and calls back."""
        async with self.db.read() as session:
            conversation = await session.get(Conversation, call.conversation_id)
            number = await session.get(PhoneNumber, call.phone_number_id)
        if conversation is None or conversation.status != "new" or number is None:
            return
        if number.default_queue_id is None:
            return
        try:
            outcome, queue = await enqueue(
                self.db,
                call.workspace_id,
                conversation.id,
                number.default_queue_id,
                reason="missed call",
            )
        except RoutingError as exc:
            log.warning("call %s: callback not queued: %s", call.id, exc)
            return
        await self.publish([*outcome.events, changed(call, callback_queue_id=queue.id)])
        if self.kick is not None:
            await self.kick(queue.id)

    async def _missed(self, call: Call) -> None:
        await self._reject_at_meta(call)
        await self._callback_task(call)

    async def _reject_at_meta(self, call: Call) -> None:
        number = await self._number_of(call)
        try:
            await self._action(number, {"call_id": call.meta_call_id, "action": "reject"})
        except (MetaApiError, GraphTransportError) as exc:
            log.warning("call %s: reject failed: %s", call.id, exc)

    async def on_ring_timeout(self, timer: Timer) -> None:
        async with self.db.write() as session:
            call = await session.get(Call, timer.ref_id)
            if call is None or call.status != rules.RINGING:
                return
            call.status = rules.MISSED
            call.end_reason = "no_answer"
            call.ended_at = now_utc()
            call.ringing_agent_ids = []
            await timeline.refresh_entry(session, call)
            events = [changed(call)]
        await self.publish(events)
        await self._missed(call)

    # ------------------------------------------------------------------ calling out

    async def place(self, workspace_id: int, conversation_id: int, agent_id: int, sdp: str) -> Call:
        """Call the customer of a conversation with the browser's SDP offer."""
        now = now_utc()
        async with self.db.write() as session:
            conversation = await session.scalar(
                select(Conversation).where(
                    Conversation.id == conversation_id,
                    Conversation.workspace_id == workspace_id,
                )
            )
            if conversation is None:
                raise CallRefused("not_found", f"conversation {conversation_id} not found", 404)
            live = await session.scalar(
                select(Call.id).where(
                    Call.conversation_id == conversation.id, Call.status.in_(rules.LIVE_STATUSES)
                )
            )
            if live is not None:
                raise CallRefused("call_in_progress", "this conversation already has a call")
            if agent_id in await agents_on_calls(session, workspace_id):
                raise CallRefused("on_a_call", "you are already on a call: hang it up first")
            state = await permissions.state(session, conversation, now)
            if not state.can_call:
                raise CallRefused(
                    "no_permission",
                    "the customer has not given permission to be called: send a call "
                    "permission request first and wait for their answer",
                )
            contact = await session.get(Contact, conversation.contact_id)
            number = await session.get(PhoneNumber, conversation.phone_number_id)
            call = Call(
                workspace_id=workspace_id,
                phone_number_id=number.id,
                conversation_id=conversation.id,
                contact_id=contact.id,
                direction="outbound",
                status=rules.CONNECTING,
                agent_id=agent_id,
                ringing_agent_ids=[],
                declined_agent_ids=[],
                offer_sdp=sdp,
                created_at=now,
            )
            session.add(call)
            await session.flush()
            await timeline.add_entry(session, call, conversation, now)
            call_id = call.id
        to = {"to": contact.wa_id} if contact.wa_id else {"recipient": contact.user_id}
        try:
            data = await self._action(
                number,
                {**to, "action": "connect", "session": {"sdp_type": "offer", "sdp": sdp}},
            )
            meta_id = data["calls"][0]["id"]
        except (MetaApiError, GraphTransportError, KeyError, IndexError, TypeError) as exc:
            await self._finish(workspace_id, call_id, rules.FAILED, "connect_failed")
            if isinstance(exc, (MetaApiError, GraphTransportError)):
                raise _meta_problem(exc) from exc
            raise CallRefused("meta_refused", "WhatsApp answered without a call id", 502) from exc
        async with self.db.write() as session:
            call = await self._load(session, workspace_id, call_id)
            call.meta_call_id = str(meta_id)
            events = [changed(call)]
        await self.publish(events)
        return call


def _profiles(value: dict) -> dict[str, dict]:
    """The callers' WhatsApp profiles in a calls webhook, by user id and by phone."""
    found: dict[str, dict] = {}
    for item in value.get("contacts") or []:
        if not isinstance(item, dict) or not isinstance(item.get("profile"), dict):
            continue
        for key in (item.get("user_id"), item.get("wa_id")):
            if isinstance(key, str) and key:
                found[key] = item["profile"]
    return found


def _seconds(start: datetime, end: datetime) -> int:
    return max(0, round((end - start).total_seconds()))
