"""Events survive ``to_dict`` → JSON → ``event_from_dict`` as the very same classes
(the Redis fan-out depends on it: the audience policy dispatches on isinstance)."""

from __future__ import annotations

import json

import pytest

from madoguchi.domain import events
from madoguchi.domain.events import Event, event_from_dict

SAMPLES: list[Event] = [
    events.MessageReceived(1, conversation_id=2, message_id=3, contact_id=4, new_conversation=True),
    events.MessageStatusChanged(1, conversation_id=2, message_id=3, status="failed", error_code=9),
    events.MessageQueued(1, conversation_id=2, message_id=3),
    events.AccountEventReceived(1, account_id=2, record_id=3, field="f", kind="k", value={"a": 1}),
    events.ConversationChanged(1, conversation_id=2, status="active", step="s", agent_id=5),
    events.OfferMade(1, conversation_id=2, agent_id=5, queue_id=6, expires_at="2026-01-01"),
    events.PresenceChanged(1, user_id=5, status="away", away_reason="lunch"),
    events.QueueChanged(1, queue_id=6, waiting=3),
    events.QueueSettingsChanged(1, queue_id=6),
    events.NoteAdded(1, conversation_id=2, note_id=7, author_id=5),
    events.MediaStored(1, media_id=8, status="stored"),
    events.CallChanged(
        1,
        call_id=9,
        conversation_id=2,
        status="ringing",
        direction="inbound",
        ringing_agent_ids=[5],
    ),
    events.CallChanged(
        1,
        call_id=9,
        conversation_id=2,
        status="missed",
        direction="inbound",
        end_reason="no_agent",
        duration_seconds=None,
        callback_queue_id=6,
    ),
    events.CredentialsChanged(1, user_id=5, token_id=9),
    events.SentimentChanged(
        1, conversation_id=2, label="negative", score=-0.5, previous_label="neutral", alert=True
    ),
    events.BudgetAlert(1, month="2026-12", threshold=80, spent="80", budget="100", currency="USD"),
    events.MonitorChanged(1, conversation_id=2, supervisor_id=10, active=True, agent_id=5),
    events.WhisperSent(1, conversation_id=2, whisper_id=11, author_id=10, agent_id=5, body="ask"),
    events.BargedIn(1, conversation_id=2, message_id=3, supervisor_id=10, agent_id=5),
    events.WallboardChanged(1, version=4),
    events.TagsChanged(1, conversation_id=2, tags=("vip", "refund")),
    events.CsatRequested(1, conversation_id=2, message_id=3, queue_id=6, agent_id=5),
    events.CsatAnswered(1, conversation_id=2, score=4, queue_id=6, agent_id=5),
]


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.name)
def test_round_trip_rebuilds_the_exported_class(event):
    again = event_from_dict(json.loads(json.dumps(event.to_dict())))
    assert type(again) is type(event)
    assert again == event


def test_unknown_event_is_refused():
    with pytest.raises(ValueError, match="unknown event"):
        event_from_dict({"event": "nope", "workspace_id": 1})


def test_every_event_type_is_sampled_here():
    missing = set(events._all_event_types().values()) - {type(e) for e in SAMPLES}
    assert not missing, f"add a sample of {missing} to SAMPLES: every event must cross Redis"
