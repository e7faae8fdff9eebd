"""A hand-built lifecycle log with known answers (docs/metrics.md), for the reporting
tests: nine conversations on 2026-11-10 in Asia/Tokyo covering a plain answer, a
transfer between queues, a short and a long abandon (the long one past local
midnight), a flow that resolves alone, a hand-off taken over by a supervisor and closed
by the customer's silence, an answer outside business hours, a template sent first,
and a flow the customer leaves.

Every expected figure is worked out by hand in ``EXPECTED``; times are UTC (Tokyo is
UTC+9).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from madoguchi.store.db import Database
from madoguchi.store.models import (
    Contact,
    Conversation,
    ConversationEvent,
    ConversationTag,
    CsatResponse,
    Flow,
    FlowRun,
    FlowStep,
    FlowVersion,
    Message,
    PhoneNumber,
    Queue,
    User,
    WhatsAppAccount,
    Workspace,
)


def t(hh: int, mm: int = 0, ss: int = 0, day: int = 10) -> datetime:
    return datetime(2026, 11, day, hh, mm, ss, tzinfo=UTC)


@dataclass
class World:
    workspace_id: int = 0
    support: int = 0
    billing: int = 0
    a1: int = 0
    a2: int = 0
    number: int = 0
    flow: int = 0
    conversations: dict[str, int] = field(default_factory=dict)


async def build(db: Database, slug: str = "rep") -> World:
    w = World()
    async with db.write() as s:
        ws, number = await numbered_workspace(s, slug, "Asia/Tokyo", name="Reports")
        w.workspace_id = ws.id
        support = Queue(workspace_id=ws.id, name="Support")
        weekdays = {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
        billing = Queue(workspace_id=ws.id, name="Billing", timezone="Asia/Tokyo", hours=weekdays)
        a1 = User(workspace_id=ws.id, email=f"a1@{slug}.test", name="Aoi", role="agent")
        a2 = User(workspace_id=ws.id, email=f"a2@{slug}.test", name="Ben", role="agent")
        s.add_all([support, billing, a1, a2])
        await s.flush()
        w.number, w.support, w.billing, w.a1, w.a2 = number.id, support.id, billing.id, a1.id, a2.id
        S, B, A1, A2 = support.id, billing.id, a1.id, a2.id

        async def conversation(name: str, created: datetime, **extra) -> Conversation:
            wa_id = f"81{len(w.conversations)}{slug}"
            c = await new_conversation(s, number, wa_id, created, **extra)
            w.conversations[name] = c.id
            return c

        def ev(c, kind, frm, to, at, queue=None, agent=None, wait=None, reason=None):
            s.add(step_row(c, kind, frm, to, at, queue, agent, wait, reason))

        def msg(c, direction, at, author=None, kind="text", category=None):
            s.add(message_row(c, direction, at, author, kind, category))

        # C1: answered in 30 s, two replies, wrap-up, closed.
        c1 = await conversation("c1", t(1))
        msg(c1, "inbound", t(1))
        ev(c1, "queued", "new", "queued", t(1), S)
        ev(c1, "offered", "queued", "offered", t(1, 0, 10), S, A1)
        ev(c1, "accepted", "offered", "active", t(1, 0, 30), S, A1, wait=30)
        msg(c1, "outbound", t(1, 1), A1)
        msg(c1, "inbound", t(1, 2))
        msg(c1, "outbound", t(1, 2, 30), A1)
        ev(c1, "wrap_up", "active", "wrap_up", t(1, 5), S, A1)
        ev(c1, "closed", "wrap_up", "closed", t(1, 6), S, A1)
        # C2: answered by A1 in Support, transferred to Billing, answered by A2 after 100 s.
        c2 = await conversation("c2", t(2))
        msg(c2, "inbound", t(2))
        ev(c2, "queued", "new", "queued", t(2), S)
        ev(c2, "offered", "queued", "offered", t(2, 0, 5), S, A1)
        ev(c2, "accepted", "offered", "active", t(2, 0, 20), S, A1, wait=20)
        msg(c2, "outbound", t(2, 1), A1)
        ev(c2, "transferred", "active", "queued", t(2, 10), B)
        ev(c2, "offered", "queued", "offered", t(2, 10, 10), B, A2)
        ev(c2, "accepted", "offered", "active", t(2, 11, 40), B, A2, wait=100)
        ev(c2, "closed", "active", "closed", t(2, 20), B, A2)
        # C3: gave up after 5 s (short abandon).
        c3 = await conversation("c3", t(3))
        ev(c3, "queued", "new", "queued", t(3), S)
        ev(c3, "abandoned", "queued", "abandoned", t(3, 0, 5), S, wait=5)
        # C4: arrives at 23:50 in Tokyo, gives up at 00:10 the next day.
        c4 = await conversation("c4", t(14, 50))
        ev(c4, "queued", "new", "queued", t(14, 50), S)
        ev(c4, "abandoned", "queued", "abandoned", t(15, 10), S, wait=1200)
        # C5: the flow resolves it.
        c5 = await conversation("c5", t(4))
        ev(c5, "flow_started", "new", "in_flow", t(4))
        ev(c5, "closed", "in_flow", "closed", t(4, 3))
        # C6: the flow hands off; a supervisor takes it over after 60 s; closed by silence.
        c6 = await conversation("c6", t(5), last_message_at=t(5, 10))
        msg(c6, "inbound", t(5))
        ev(c6, "flow_started", "new", "in_flow", t(5))
        msg(c6, "outbound", t(5, 0, 1))  # the bot
        ev(c6, "queued", "in_flow", "queued", t(5, 1), S)
        ev(c6, "taken_over", "queued", "active", t(5, 2), S, A2, wait=60)
        msg(c6, "outbound", t(5, 5), A2)
        msg(c6, "inbound", t(5, 10))
        ev(c6, "closed", "active", "closed", t(6), S, A2, reason="customer inactive")
        # C7: Billing after hours (19:00 in Tokyo), answered in 45 s.
        c7 = await conversation("c7", t(10))
        ev(c7, "queued", "new", "queued", t(10), B)
        ev(c7, "offered", "queued", "offered", t(10, 0, 30), B, A1)
        ev(c7, "accepted", "offered", "active", t(10, 0, 45), B, A1, wait=45)
        # C8: the business writes first with a marketing template; the customer answers.
        c8 = await conversation("c8", t(6))
        msg(c8, "outbound", t(6), kind="template", category="MARKETING")
        msg(c8, "inbound", t(6, 30))
        s.add_all(
            [
                ConversationTag(workspace_id=ws.id, conversation_id=c1.id, tag="vip"),
                ConversationTag(workspace_id=ws.id, conversation_id=c2.id, tag="vip"),
            ]
        )

        # C9: the flow asks, the customer never answers (the run is interrupted at "menu").
        c9 = await conversation("c9", t(7))
        ev(c9, "flow_started", "new", "in_flow", t(7))
        ev(c9, "abandoned", "in_flow", "abandoned", t(7, 30))
        flow = Flow(workspace_id=ws.id, name="Welcome", draft={})
        s.add(flow)
        await s.flush()
        version = FlowVersion(workspace_id=ws.id, flow_id=flow.id, version=1, definition={})
        s.add(version)
        await s.flush()
        w.flow = flow.id
        for c, status, nodes in (
            (c5, "ended", [("greet", "send_message"), ("bye", "end")]),
            (
                c6,
                "handed_off",
                [
                    ("greet", "send_message"),
                    ("menu", "collect_input"),
                    ("to_support", "route_to_queue"),
                ],
            ),
            (c9, "interrupted", [("greet", "send_message"), ("menu", "collect_input")]),
        ):
            run = FlowRun(
                workspace_id=ws.id,
                conversation_id=c.id,
                flow_id=flow.id,
                version_id=version.id,
                version=1,
                status=status,
            )
            s.add(run)
            await s.flush()
            for n, (node, widget) in enumerate(nodes):
                s.add(
                    FlowStep(
                        workspace_id=ws.id,
                        run_id=run.id,
                        conversation_id=c.id,
                        flow_id=flow.id,
                        version=1,
                        node_id=node,
                        widget=widget,
                        result="ok",
                        at=c.created_at.replace(second=n),
                    )
                )

        def csat(c, queue, agent, asked, score=None, answered=None):
            s.add(
                CsatResponse(
                    workspace_id=ws.id,
                    conversation_id=c.id,
                    queue_id=queue,
                    agent_id=agent,
                    kind="list",
                    language="ja",
                    score=score,
                    asked_at=asked,
                    answered_at=answered,
                )
            )

        csat(c1, S, A1, t(1, 6), 5, t(1, 7))
        csat(c2, B, A2, t(2, 20), 3, t(2, 25))
        csat(c6, S, A2, t(6))  # never answered
    return w


async def numbered_workspace(
    s, slug: str, timezone: str, name: str | None = None
) -> tuple[Workspace, PhoneNumber]:
    """A workspace with one connected number (``build``'s, and the smaller hand-built
    logs')."""
    ws = Workspace(slug=slug, name=name or slug, timezone=timezone)
    s.add(ws)
    await s.flush()
    account = WhatsAppAccount(workspace_id=ws.id, waba_id=f"w{slug}", name="acc")
    s.add(account)
    await s.flush()
    number = PhoneNumber(
        workspace_id=ws.id,
        account_id=account.id,
        phone_number_id=f"p{slug}",
        display_phone_number="1555",
        access_token_encrypted="x",
        access_token_fingerprint="x",
    )
    s.add(number)
    await s.flush()
    return ws, number


def step_row(c, kind, frm, to, at, queue=None, agent=None, wait=None, reason=None):
    """A row of the lifecycle log of conversation ``c`` (with its wait, when given)."""
    return ConversationEvent(
        workspace_id=c.workspace_id,
        conversation_id=c.id,
        type=kind,
        from_status=frm,
        to_status=to,
        queue_id=queue,
        agent_id=agent,
        at=at,
        reason=reason,
        data={"wait_seconds": wait} if wait is not None else None,
    )


def message_row(c, direction, at, author=None, kind="text", category=None) -> Message:
    """A message of conversation ``c`` (a template one names "promo")."""
    return Message(
        workspace_id=c.workspace_id,
        conversation_id=c.id,
        direction=direction,
        type=kind,
        status="read",
        author_user_id=author,
        template_category=category,
        content={"template": {"name": "promo", "language": {"code": "ja"}}}
        if kind == "template"
        else {},
        created_at=at,
    )


async def new_conversation(
    s, number: PhoneNumber, wa_id: str, created: datetime, **extra
) -> Conversation:
    """A conversation with a contact of its own on ``number`` (flushed: it has its id)."""
    contact = Contact(workspace_id=number.workspace_id, wa_id=wa_id)
    s.add(contact)
    await s.flush()
    c = Conversation(
        workspace_id=number.workspace_id,
        contact_id=contact.id,
        phone_number_id=number.id,
        created_at=created,
        **extra,
    )
    s.add(c)
    await s.flush()
    return c


# The day 2026-11-10 in Tokyo (docs/metrics.md applied by hand).
EXPECTED = {
    "arrived": 7,  # C1, C2, C2→Billing, C3, C4, C6, C7
    "answered": 5,  # C1, C2 (A1), C2 (A2), C6 (taken over), C7
    "answered_in_target": 4,  # waits 30, 20, 60 (exactly the target), 45; not 100
    "abandoned": 1,  # C3 (C4 gave up the next day)
    "short_abandoned": 1,
    "service_level_percent": 80.0,  # 4 / (5 + 1 − 1)
    "average_wait_seconds": 51.0,  # (30 + 20 + 100 + 60 + 45) / 5
    "p90_wait_seconds": 120.0,  # the 5th of 5 waits is in the 60–120 s bucket
    "transfers": 1,
    "handled": 4,  # C1 330 s, C2 A1 580 s, C2 A2 500 s, C6 3480 s
    "average_handle_seconds": 1222.5,
    "wrapped": 1,
    "average_wrap_up_seconds": 60.0,
    "resolved": 3,  # C1 360 s, C2 1200 s, C6 600 s (to its last message)
    "average_resolution_seconds": 720.0,
    "closed_by_silence": 1,
    "first_responses": 3,  # C1 60 s, C2 60 s, C6 300 s (C8 began with the business)
    "average_first_response_seconds": 140.0,
    "agent_responses": 4,  # C1 60 s and 30 s, C2 60 s, C6 300 s
    "average_agent_response_seconds": 112.5,
    "messages_in": 6,
    "messages_out": 6,
    "templates_marketing": 1,
    "flow_entered": 3,  # C5, C6, C9
    "bot_resolved": 2,  # C5 (closed in the flow), C9 (the customer left the flow)
    "bot_resolved_percent": 66.7,
    "handoffs": 1,  # C6
    "handoff_percent": 33.3,
}
