"""Accepted sends are recorded agents first: an agent's reply is done once its outbox row
is committed, so it never waits for a campaign's batch of accepted sends to commit."""

from __future__ import annotations

from madoguchi.services.channel.outbox_sender import Sender, _Claimed


def _accepted(outbox_id: int, priority: int):
    row = _Claimed(
        outbox_id=outbox_id,
        message_id=outbox_id,
        workspace_id=1,
        conversation_id=outbox_id,
        number_id=1,
        phone_number_id="1",
        token="t",
        recipient_key=str(outbox_id),
        body={},
        attempts=1,
        priority=priority,
    )
    return (row, f"wamid.{outbox_id}", None)


def test_agents_sends_are_recorded_before_the_campaigns_waiting_beside_them():
    sender = Sender(None, None, None, None, None)
    sender._accepted = [_accepted(1, 10), _accepted(2, 10), _accepted(3, 0), _accepted(4, 10)]
    assert [a[0].outbox_id for a in sender._next_record_batch()] == [3]
    assert [a[0].outbox_id for a in sender._next_record_batch()] == [1, 2, 4]
    assert sender._accepted == []


def test_one_kind_alone_is_recorded_in_one_batch():
    sender = Sender(None, None, None, None, None)
    sender._accepted = [_accepted(1, 0), _accepted(2, 0)]
    assert [a[0].outbox_id for a in sender._next_record_batch()] == [1, 2]
    sender._accepted = [_accepted(3, 10), _accepted(4, 10)]
    assert [a[0].outbox_id for a in sender._next_record_batch()] == [3, 4]
    assert sender._accepted == []
