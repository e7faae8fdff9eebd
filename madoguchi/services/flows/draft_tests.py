"""Testing a flow's draft from the editor, on a real number, without publishing it.

An admin presses Test: the draft is checked exactly as for a publish, snapshotted as a
test version (a ``flow_versions`` row marked ``test``, numbered -1, -2…; never listed,
never live), and a short-lived ``flow_tests`` binding is recorded for one customer on
one number. When that customer next writes to that number and a flow would start, the
runner starts the snapshot instead of the published version (``pending_for`` /
``mark_started``, the runner's only hook); everyone else still gets the published flow,
and the binding is used up by that one conversation. From there the conversation goes
on like any other (a Route To queues it for real agents).

Why a snapshot and not the draft itself: a run is pinned to an immutable document (a
restart must find the same widgets), and the admin keeps editing while the test runs.
Why one customer and a short expiry: a test must never reach real customers, and a
forgotten test must not start, days later, for someone who happens to write then.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from sqlalchemy import false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.domain.lifecycle import OPEN_STATUSES
from madoguchi.services.flows.definitions import (
    FlowError,
    all_problems,
    read_definition,
    validation_context,
)
from madoguchi.store.models import (
    Contact,
    Conversation,
    Flow,
    FlowRun,
    FlowStep,
    FlowTest,
    FlowVersion,
    PhoneNumber,
    utcnow,
)

TEST_MINUTES = 30
ACTIVE_RUN = ("running", "waiting")
_PHONE_CHARS = re.compile(r"[\s\-().]")
_BSUID = re.compile(r"^[A-Z]{2}\.[A-Za-z0-9]{1,150}$")
_META_HOSTS = ("facebook.com", "facebook.net", "fb.com")


# --------------------------------------------------------------------------- starting


def parse_customer(text: str) -> tuple[str | None, str | None]:
    """(wa_id, user_id) from what the admin typed: a phone in international form (``+``,
    spaces and dashes allowed) or a WhatsApp user id (BSUID, e.g. ``JP.7021133001``)."""
    value = (text or "").strip()
    digits = _PHONE_CHARS.sub("", value).removeprefix("+")
    if digits.isdigit() and 6 <= len(digits) <= 15:
        return digits, None
    if _BSUID.match(value):
        return None, value
    raise FlowError(
        "give the test customer's phone in international form (e.g. +81 90 1234 5678) "
        "or their WhatsApp user id (e.g. JP.7021133001)",
        422,
        field="customer",
    )


async def _snapshot(session: AsyncSession, flow: Flow, definition: dict) -> FlowVersion:
    """The test version of this document: the latest one when the draft has not changed
    since (pressing Test again adds nothing), else a new one numbered below all others."""
    latest = await session.scalar(
        select(FlowVersion)
        .where(FlowVersion.flow_id == flow.id, FlowVersion.test.is_(True))
        .order_by(FlowVersion.version)
        .limit(1)
    )
    if latest is not None and latest.definition == definition:
        return latest
    lowest = await session.scalar(
        select(func.min(FlowVersion.version)).where(FlowVersion.flow_id == flow.id)
    )
    version = FlowVersion(
        workspace_id=flow.workspace_id,
        flow_id=flow.id,
        version=min(lowest or 0, 0) - 1,
        definition=definition,
        test=True,
    )
    session.add(version)
    await session.flush()
    return version


async def start_test(
    session: AsyncSession,
    flow: Flow,
    phone_number_id: str,
    customer: str,
    *,
    user_id: int | None = None,
    minutes: int = TEST_MINUTES,
) -> FlowTest:
    """Check the draft as a publish would, snapshot it, and bind it for that customer on
    that number for ``minutes``. A pending test of the same customer on the same number
    (of any flow) is replaced: the latest Test pressed wins."""
    number = await session.scalar(
        select(PhoneNumber).where(
            PhoneNumber.workspace_id == flow.workspace_id,
            PhoneNumber.phone_number_id == (phone_number_id or "").strip(),
        )
    )
    if number is None:
        raise FlowError(
            f"no WhatsApp number {phone_number_id!r} in this workspace",
            422,
            field="phone_number_id",
        )
    wa_id, bsuid = parse_customer(customer)
    definition = read_definition(flow.draft)
    context = await validation_context(session, flow.workspace_id, flow.name)
    problems = all_problems(definition, context)
    if problems:
        raise FlowError(
            f"flow {flow.name!r} cannot be tested: {len(problems)} problems", 422, problems
        )
    version = await _snapshot(session, flow, definition.to_json())
    now = utcnow()
    for older in await session.scalars(
        select(FlowTest).where(*_pending(number.id, now), _same_customer(wa_id, bsuid))
    ):
        older.expires_at = now  # superseded
    test = FlowTest(
        workspace_id=flow.workspace_id,
        flow_id=flow.id,
        version_id=version.id,
        phone_number_id=number.id,
        customer_wa_id=wa_id,
        customer_user_id=bsuid,
        created_by_user_id=user_id,
        created_at=now,
        expires_at=now + timedelta(minutes=minutes),
    )
    session.add(test)
    await session.flush()
    return test


async def stop_tests(session: AsyncSession, flow: Flow) -> None:
    """End the flow's tests that have not started yet (a started run carries on)."""
    now = utcnow()
    for test in await session.scalars(
        select(FlowTest).where(
            FlowTest.flow_id == flow.id,
            FlowTest.conversation_id.is_(None),
            FlowTest.expires_at > now,
        )
    ):
        test.expires_at = now


# --------------------------------------------------------------------------- the runner's hook


def _pending(phone_number_row_id: int, now: datetime) -> list:
    """Tests on this number that have neither started nor expired."""
    return [
        FlowTest.phone_number_id == phone_number_row_id,
        FlowTest.conversation_id.is_(None),
        FlowTest.expires_at > now,
    ]


def _same_customer(wa_id: str | None, user_id: str | None, wa_col=None, user_col=None):
    """Matches a customer by phone or by BSUID (whichever is known on each side)."""
    wa_col = FlowTest.customer_wa_id if wa_col is None else wa_col
    user_col = FlowTest.customer_user_id if user_col is None else user_col
    clauses = []
    if wa_id:
        clauses.append(wa_col == wa_id)
    if user_id:
        clauses.append(user_col == user_id)
    return or_(*clauses) if clauses else false()


async def pending_on(session: AsyncSession, phone_number_row_id: int) -> bool:
    """Whether some test waits for a customer on this number (the runner's cheap check
    before it takes the write lock for a number that starts no flow)."""
    found = await session.scalar(
        select(FlowTest.id).where(*_pending(phone_number_row_id, utcnow())).limit(1)
    )
    return found is not None


async def pending_for(
    session: AsyncSession, conversation: Conversation, contact: Contact | None, now: datetime
) -> tuple[FlowTest, Flow, FlowVersion] | None:
    """The test this new conversation should start instead of the published flow."""
    if contact is None:
        return None
    row = (
        await session.execute(
            select(FlowTest, Flow, FlowVersion)
            .join(Flow, Flow.id == FlowTest.flow_id)
            .join(FlowVersion, FlowVersion.id == FlowTest.version_id)
            .where(
                *_pending(conversation.phone_number_id, now),
                _same_customer(contact.wa_id, contact.user_id),
                FlowTest.workspace_id == conversation.workspace_id,
            )
            .order_by(FlowTest.id.desc())
            .limit(1)
            .with_for_update(of=FlowTest)
        )
    ).first()
    return (row[0], row[1], row[2]) if row is not None else None


def mark_started(test: FlowTest, conversation: Conversation, now: datetime) -> None:
    """The binding is used up: this conversation runs the snapshot, the next does not."""
    test.conversation_id = conversation.id
    test.started_at = now


# --------------------------------------------------------------------------- reading


def phone_page_url(graph_api_url: str, test: FlowTest, number: PhoneNumber) -> str | None:
    """The simulator's phone page for this customer and number, when the Graph API is
    the simulator's (demo, tests); None when it is Meta's (write from a real phone)."""
    parts = urlsplit(graph_api_url)
    host = (parts.hostname or "").lower()
    if not host or any(host == h or host.endswith("." + h) for h in _META_HOSTS):
        return None
    query = urlencode(
        {
            "customer": test.customer_wa_id or test.customer_user_id,
            "number": number.phone_number_id,
        }
    )
    return f"{graph_api_url.rstrip('/')}/?{query}"


async def latest_test(
    session: AsyncSession, flow: Flow, test_id: int | None = None
) -> FlowTest | None:
    """The flow's latest test (None when it never had one), or the test ``test_id``."""
    query = select(FlowTest).where(FlowTest.flow_id == flow.id)
    if test_id is not None:
        query = query.where(FlowTest.id == test_id)
    test = await session.scalar(query.order_by(FlowTest.id.desc()).limit(1))
    if test is None and test_id is not None:
        raise FlowError(f"flow {flow.name!r} has no test {test_id}", 404)
    return test


async def _open_conversation(session: AsyncSession, test: FlowTest) -> tuple[int, str] | None:
    """The customer's conversation already open on the number: a flow starts only on a
    new conversation, so the test cannot start until that one is closed."""
    contact_ids = select(Contact.id).where(
        Contact.workspace_id == test.workspace_id,
        _same_customer(test.customer_wa_id, test.customer_user_id, Contact.wa_id, Contact.user_id),
    )
    row = (
        await session.execute(
            select(Conversation.id, Conversation.status)
            .where(
                Conversation.contact_id.in_(contact_ids),
                Conversation.phone_number_id == test.phone_number_id,
                Conversation.status.in_(OPEN_STATUSES),
            )
            .order_by(Conversation.id.desc())
            .limit(1)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def describe(session: AsyncSession, test: FlowTest, graph_api_url: str) -> dict[str, Any]:
    """The test as the editor shows it: waiting for the customer, or the run so far (the
    widget it is at, every step with its result and time)."""
    now = utcnow()
    number = await session.get(PhoneNumber, test.phone_number_id)
    out: dict[str, Any] = {
        "id": test.id,
        "flow_id": test.flow_id,
        "phone_number_id": number.phone_number_id,
        "display_phone_number": number.display_phone_number,
        "customer": test.customer_wa_id or test.customer_user_id,
        "created_at": test.created_at.isoformat(),
        "expires_at": test.expires_at.isoformat(),
        "started_at": test.started_at.isoformat() if test.started_at else None,
        "conversation_id": test.conversation_id,
        "conversation_status": None,
        "open_conversation": None,
        "phone_url": phone_page_url(graph_api_url, test, number),
        "run": None,
        "steps": [],
    }
    if test.conversation_id is None:
        out["state"] = "waiting" if test.expires_at > now else "expired"
        if out["state"] == "waiting":
            found = await _open_conversation(session, test)
            if found:
                out["open_conversation"] = {"id": found[0], "status": found[1]}
        return out
    conversation = await session.get(Conversation, test.conversation_id)
    out["conversation_status"] = conversation.status if conversation else None
    run = await session.scalar(
        select(FlowRun)
        .where(
            FlowRun.conversation_id == test.conversation_id,
            FlowRun.version_id == test.version_id,
        )
        .order_by(FlowRun.id)
        .limit(1)
    )
    if run is None:  # the binding was taken in the same commit as the run: not expected
        out["state"] = "running"
        return out
    out["state"] = "running" if run.status in ACTIVE_RUN else "finished"
    out["run"] = {
        "id": run.id,
        "status": run.status,
        "node": run.node_id,
        "waiting_for": run.wait_kind,
        "error": run.error,
        "variables": run.variables,
    }
    steps = await session.scalars(
        select(FlowStep).where(FlowStep.run_id == run.id).order_by(FlowStep.id)
    )
    out["steps"] = [
        {
            "node": s.node_id,
            "widget": s.widget,
            "result": s.result,
            "detail": s.detail,
            "at": s.at.isoformat(),
        }
        for s in steps
    ]
    return out
