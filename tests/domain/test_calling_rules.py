"""Meta's limits on call permission requests, and reading a customer's answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from madoguchi.domain.calling import (
    ACTIVE,
    CONNECTING,
    ENDED,
    HANG_UP_REASONS,
    MISSED,
    RINGING,
    hang_up_outcome,
    next_request_allowed_at,
    permission_holds,
    read_permission_reply,
)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_first_request_is_allowed_now():
    assert next_request_allowed_at([], NOW) is None


def test_one_request_a_day():
    asked = NOW - timedelta(hours=3)
    assert next_request_allowed_at([asked], NOW) == asked + timedelta(hours=24)
    assert next_request_allowed_at([NOW - timedelta(hours=25)], NOW) is None


def test_two_requests_a_week():
    first, second = NOW - timedelta(days=5), NOW - timedelta(days=2)
    assert next_request_allowed_at([first, second], NOW) == first + timedelta(days=7)
    assert next_request_allowed_at([NOW - timedelta(days=8), second], NOW) is None


def test_reply_accepted_with_expiry():
    expires = int((NOW + timedelta(days=7)).timestamp())
    reply = read_permission_reply(
        {
            "type": "call_permission_reply",
            "call_permission_reply": {
                "response": "accept",
                "expiration_timestamp": expires,
                "is_permanent": False,
                "response_source": "user_action",
            },
        }
    )
    assert reply.accepted and not reply.permanent
    assert reply.expires_at == NOW + timedelta(days=7)
    assert permission_holds("accepted", False, reply.expires_at, NOW)
    assert not permission_holds("accepted", False, reply.expires_at, NOW + timedelta(days=8))


def test_reply_rejected_and_other_content():
    reply = read_permission_reply(
        {"type": "call_permission_reply", "call_permission_reply": {"response": "reject"}}
    )
    assert reply is not None and not reply.accepted
    assert not permission_holds("rejected", True, None, NOW)
    assert read_permission_reply({"type": "button_reply", "button_reply": {}}) is None
    assert read_permission_reply({"type": "call_permission_reply"}) is None
    assert permission_holds("accepted", True, NOW - timedelta(days=1), NOW)


def test_a_hang_up_by_the_business_ends_cancels_or_misses_the_call():
    assert hang_up_outcome(ACTIVE, "inbound") == (ENDED, "agent_hung_up")
    assert hang_up_outcome(ACTIVE, "outbound") == (ENDED, "agent_hung_up")
    assert hang_up_outcome(CONNECTING, "outbound") == (ENDED, "cancelled")
    assert hang_up_outcome(RINGING, "inbound") == (MISSED, "agent_hung_up")
    # what marks a call as being hung up by the business until the hang-up commits
    assert {"agent_hung_up", "cancelled"} == HANG_UP_REASONS
