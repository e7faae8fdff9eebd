import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from madoguchi.whatsapp.updates import (
    MessageStatus,
    UserIdentity,
    WebhookFormatError,
    parse_delivery,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "webhooks"
T0 = datetime(2026, 11, 7, 8, 0, tzinfo=UTC)
STATUS = "entry[0].changes[0].value.statuses[0]"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def raw_status(payload: dict) -> dict:
    return payload["entry"][0]["changes"][0]["value"]["statuses"][0]


def one_status(payload: dict) -> MessageStatus:
    (status,) = parse_delivery(payload)
    assert isinstance(status, MessageStatus)
    return status


def test_sent_with_per_message_pricing():
    status = one_status(load("status_sent.json"))
    assert status.status == "sent"
    assert status.wamid.endswith("OUT010")
    assert status.timestamp == T0 + timedelta(seconds=1500)
    assert status.phone_number_id == "301234567890123"
    assert status.pricing == {
        "billable": True,
        "pricing_model": "PMP",
        "category": "marketing",
        "type": "regular",
    }
    assert status.conversation is None
    assert status.errors == ()
    assert status.recipient.wa_id == "819012345678"
    assert status.recipient.user_id == "JP.70211330012345"


def test_delivered_with_conversation_and_cbp_pricing_and_contact():
    status = one_status(load("status_delivered.json"))
    assert status.status == "delivered"
    assert status.conversation["origin"] == {"type": "service"}
    assert status.pricing["pricing_model"] == "CBP"
    assert status.recipient == UserIdentity(
        "JP.70211330012345", "819012345678", None, "Taro Yamada", None
    )


def test_read_by_a_username_only_user_takes_the_username_from_contacts():
    status = one_status(load("status_read.json"))
    assert status.status == "read"
    assert status.recipient.wa_id is None
    assert status.recipient.user_id == "JP.80311440023456"
    assert status.recipient.username == "hanako.s"
    assert status.pricing["type"] == "free_customer_service"


def test_failed_carries_errors_and_a_phone_only_recipient():
    status = one_status(load("status_failed.json"))
    assert status.status == "failed"
    (error,) = status.errors
    assert error.code == 131047
    assert error.title == "Re-engagement message"
    assert "24 hours" in error.details
    assert status.recipient.user_id is None
    assert status.recipient.wa_id == "819012345678"


def test_played():
    assert one_status(load("status_played.json")).status == "played"


def test_status_is_lower_cased_and_unknown_values_are_kept():
    payload = load("status_sent.json")
    raw_status(payload)["status"] = "Deleted"
    assert one_status(payload).status == "deleted"


def test_a_status_naming_no_recipient_is_allowed():
    payload = load("status_sent.json")
    raw = raw_status(payload)
    del raw["recipient_id"], raw["recipient_user_id"]
    status = one_status(payload)
    assert status.recipient == UserIdentity.empty()
    assert status.recipient.key is None


def test_raw_is_the_status_object_as_received():
    payload = load("status_failed.json")
    assert one_status(payload).raw == raw_status(payload)


@pytest.mark.parametrize(
    ("mutate", "path", "problem"),
    [
        (lambda s: s.pop("id"), f"{STATUS}.id", "is required"),
        (lambda s: s.update(id=""), f"{STATUS}.id", "must not be empty"),
        (lambda s: s.pop("status"), f"{STATUS}.status", "is required"),
        (lambda s: s.update(status=3), f"{STATUS}.status", "must be a string, got a number"),
        (lambda s: s.pop("timestamp"), f"{STATUS}.timestamp", "is required"),
        (lambda s: s.update(timestamp="yesterday"), f"{STATUS}.timestamp", None),
        (lambda s: s.update(timestamp="1.5"), f"{STATUS}.timestamp", None),
        (
            lambda s: s.update(pricing="free"),
            f"{STATUS}.pricing",
            "must be an object, got a string",
        ),
        (lambda s: s.update(recipient_id=819012345678), f"{STATUS}.recipient_id", None),
        (lambda s: s.update(errors=[{"code": "x"}]), f"{STATUS}.errors[0].code", None),
    ],
)
def test_malformed_status_names_the_exact_path(mutate, path, problem):
    payload = load("status_sent.json")
    mutate(raw_status(payload))
    with pytest.raises(WebhookFormatError) as caught:
        parse_delivery(payload)
    assert caught.value.path == path
    if problem is not None:
        assert caught.value.problem == problem


def test_a_status_object_that_is_not_an_object():
    payload = load("status_sent.json")
    payload["entry"][0]["changes"][0]["value"]["statuses"] = ["wamid.x"]
    with pytest.raises(WebhookFormatError) as caught:
        parse_delivery(payload)
    assert caught.value.path == STATUS
