import json
from pathlib import Path

import pytest

from madoguchi.whatsapp.updates import (
    AccountEvent,
    InboundMessage,
    MessageStatus,
    TemplateStatusUpdate,
    UserIdentity,
    WebhookFormatError,
    parse_delivery,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "webhooks"
VALUE = "entry[0].changes[0].value"
MSG = f"{VALUE}.messages[0]"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def format_error(payload: object) -> WebhookFormatError:
    with pytest.raises(WebhookFormatError) as caught:
        parse_delivery(payload)
    assert str(caught.value) == f"{caught.value.path}: {caught.value.problem}"
    assert isinstance(caught.value, ValueError)
    return caught.value


ALL_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.json"))


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_every_fixture_is_a_valid_delivery(name):
    updates = parse_delivery(load(name))
    assert updates
    assert all(isinstance(u, InboundMessage | MessageStatus | AccountEvent) for u in updates)


def test_fixture_wamids_are_unique_across_files():
    seen: dict[str, str] = {}
    for name in ALL_FIXTURES:
        for update in parse_delivery(load(name)):
            if isinstance(update, InboundMessage | MessageStatus):
                assert update.wamid not in seen, (
                    f"{update.wamid} in {name} and {seen.get(update.wamid)}"
                )
                seen[update.wamid] = name
    assert len(seen) >= 33


def test_fixture_readme_lists_every_fixture():
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    assert [name for name in ALL_FIXTURES if f"`{name}`" not in readme] == []


def test_multi_delivery_keeps_payload_order_across_entries_and_changes():
    updates = parse_delivery(load("multi_delivery.json"))
    assert [type(u) for u in updates] == [
        InboundMessage,
        InboundMessage,
        InboundMessage,
        MessageStatus,
        MessageStatus,
        TemplateStatusUpdate,
    ]
    assert [u.wamid[-6:] for u in updates[:5]] == ["MULTI1", "MULTI2", "MULTI3", "OUT020", "OUT021"]
    assert updates[5].waba_id == "201234567890999"
    assert updates[5].timestamp is not None


def test_multi_delivery_matches_each_message_to_its_own_contact():
    first, second, third, delivered, read = parse_delivery(load("multi_delivery.json"))[:5]
    assert first.sender == UserIdentity(
        "JP.90411550034567", "818098765432", None, "Kenji Sato", None
    )
    assert second.sender == UserIdentity("JP.80311440023456", None, "hanako.s", "Hanako", None)
    assert third.sender == first.sender
    assert third.text == "❤️"
    # No contacts in that change: statuses keep only their own ids.
    assert delivered.recipient == UserIdentity(
        "JP.70211330012345", "819012345678", None, None, None
    )
    assert read.recipient.user_id == "JP.80311440023456" and read.recipient.wa_id is None


def _text_change(messages: list, contacts: list) -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "1", "phone_number_id": "2"},
                            "contacts": contacts,
                            "messages": messages,
                        },
                    }
                ],
            }
        ],
    }


def _msg(wamid: str, **ids: str) -> dict:
    return {**ids, "id": wamid, "timestamp": "1794038400", "type": "text", "text": {"body": "x"}}


def test_contact_matching_prefers_bsuid_over_a_shared_phone():
    # Two users on a recycled number: the phone alone must not merge them.
    contacts = [
        {"profile": {"name": "Old owner"}, "wa_id": "111", "user_id": "JP.OLD"},
        {"profile": {"name": "New owner"}, "wa_id": "111", "user_id": "JP.NEW"},
    ]
    (message,) = parse_delivery(
        _text_change([_msg("w1", **{"from": "111", "from_user_id": "JP.NEW"})], contacts)
    )
    assert message.sender.profile_name == "New owner"


def test_contact_matching_by_phone_when_the_message_has_no_bsuid():
    contacts = [
        {"profile": {"name": "A"}, "wa_id": "111"},
        {"profile": {"name": "B"}, "wa_id": "222", "user_id": "JP.B"},
    ]
    messages = [_msg("w1", **{"from": "222"}), _msg("w2", **{"from": "111"})]
    first, second = parse_delivery(_text_change(messages, contacts))
    assert (first.sender.profile_name, first.sender.user_id) == ("B", "JP.B")
    assert (second.sender.profile_name, second.sender.user_id) == ("A", None)


def test_a_lone_contact_fills_a_lone_message_that_names_nobody():
    contacts = [{"profile": {"name": "Solo", "username": "solo"}, "user_id": "JP.SOLO"}]
    (message,) = parse_delivery(_text_change([_msg("w1")], contacts))
    assert message.sender == UserIdentity("JP.SOLO", None, "solo", "Solo", None)


def test_a_lone_contact_with_a_different_bsuid_is_not_merged():
    contacts = [{"profile": {"name": "Someone else"}, "user_id": "JP.OTHER"}]
    (message,) = parse_delivery(_text_change([_msg("w1", from_user_id="JP.ME")], contacts))
    assert message.sender == UserIdentity("JP.ME", None, None, None, None)


def test_with_two_messages_an_unnamed_message_does_not_borrow_a_contact():
    contacts = [{"profile": {"name": "Solo"}, "user_id": "JP.SOLO"}]
    error = format_error(_text_change([_msg("w1", from_user_id="JP.SOLO"), _msg("w2")], contacts))
    assert error.path == f"{VALUE}.messages[1]"
    assert "user_id" in error.problem and "wa_id" in error.problem


def test_a_contact_naming_nobody_is_a_format_error():
    error = format_error(_text_change([_msg("w1", **{"from": "1"})], [{"profile": {"name": "?"}}]))
    assert error.path == f"{VALUE}.contacts[0]"


def test_an_error_late_in_the_delivery_refuses_the_whole_delivery():
    payload = load("multi_delivery.json")
    payload["entry"][1]["changes"].append({"field": "messages", "value": []})
    error = format_error(payload)
    assert error.path == "entry[1].changes[1].value"


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ([], "body"),
        ("{}", "body"),
        ({}, "object"),
        ({"object": "page", "entry": []}, "object"),
        ({"object": "whatsapp_business_account"}, "entry"),
        ({"object": "whatsapp_business_account", "entry": []}, "entry"),
        ({"object": "whatsapp_business_account", "entry": {"id": "1"}}, "entry"),
        ({"object": "whatsapp_business_account", "entry": ["x"]}, "entry[0]"),
        ({"object": "whatsapp_business_account", "entry": [{"changes": []}]}, "entry[0].id"),
        ({"object": "whatsapp_business_account", "entry": [{"id": ""}]}, "entry[0].id"),
        ({"object": "whatsapp_business_account", "entry": [{"id": "1"}]}, "entry[0].changes"),
        ({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": {}}]},
         "entry[0].changes"),
        ({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [None]}]},
         "entry[0].changes[0]"),
        ({"object": "whatsapp_business_account",
          "entry": [{"id": "1", "changes": [{"value": {}}]}]}, "entry[0].changes[0].field"),
        ({"object": "whatsapp_business_account",
          "entry": [{"id": "1", "changes": [{"field": 7, "value": {}}]}]},
         "entry[0].changes[0].field"),
        ({"object": "whatsapp_business_account",
          "entry": [{"id": "1", "changes": [{"field": "messages"}]}]},
         "entry[0].changes[0].value"),
        ({"object": "whatsapp_business_account",
          "entry": [{"id": "1", "changes": [{"field": "messages", "value": "x"}]}]},
         "entry[0].changes[0].value"),
    ],
)  # fmt: skip
def test_malformed_envelope_names_the_exact_path(payload, path):
    assert format_error(payload).path == path


def test_entry_id_may_be_a_number():
    payload = load("template_status_update.json")
    payload["entry"][0]["id"] = 201234567890123
    (event,) = parse_delivery(payload)
    assert event.waba_id == "201234567890123"


def test_empty_changes_list_yields_nothing():
    payload = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": []}]}
    assert parse_delivery(payload) == []


@pytest.mark.parametrize(
    ("mutate", "path", "problem"),
    [
        (lambda v: v["messages"][0].pop("id"), f"{MSG}.id", "is required"),
        (lambda v: v["messages"][0].update(id=None), f"{MSG}.id", "is required"),
        (lambda v: v["messages"][0].update(id=12), f"{MSG}.id", "must be a string, got a number"),
        (lambda v: v["messages"][0].pop("timestamp"), f"{MSG}.timestamp", "is required"),
        (lambda v: v["messages"][0].update(timestamp="2026-11-07"), f"{MSG}.timestamp",
         "must be unix seconds (a string of digits), got a string"),
        (lambda v: v["messages"][0].update(timestamp=True), f"{MSG}.timestamp",
         "must be unix seconds (a string of digits), got a boolean"),
        (lambda v: v["messages"][0].update(timestamp="99999999999999999999"), f"{MSG}.timestamp",
         "unix time 99999999999999999999 is out of range"),
        (lambda v: v["messages"][0].pop("type"), f"{MSG}.type", "is required"),
        (lambda v: v["messages"][0].update(type=["text"]), f"{MSG}.type",
         "must be a string, got an array"),
        (lambda v: v["messages"][0].update(**{"from": 819012345678}), f"{MSG}.from",
         "must be a string, got a number"),
        (lambda v: v.update(messages={"id": "x"}), f"{VALUE}.messages",
         "must be an array, got an object"),
        (lambda v: v.update(messages=[[]]), MSG, "must be an object, got an array"),
        (lambda v: v.pop("metadata"), f"{VALUE}.metadata", "is required"),
        (lambda v: v["metadata"].pop("phone_number_id"), f"{VALUE}.metadata.phone_number_id",
         "is required"),
        (lambda v: v.update(contacts="taro"), f"{VALUE}.contacts",
         "must be an array, got a string"),
        (lambda v: v["contacts"][0].update(profile="Taro"), f"{VALUE}.contacts[0].profile",
         "must be an object, got a string"),
    ],
)  # fmt: skip
def test_malformed_message_value_names_the_exact_path(mutate, path, problem):
    payload = load("message_text.json")
    mutate(payload["entry"][0]["changes"][0]["value"])
    error = format_error(payload)
    assert (error.path, error.problem) == (path, problem)


def test_a_message_naming_nobody_is_a_format_error():
    payload = load("message_text.json")
    value = payload["entry"][0]["changes"][0]["value"]
    del value["contacts"]
    del value["messages"][0]["from"], value["messages"][0]["from_user_id"]
    assert format_error(payload).path == MSG


def test_the_path_counts_entries_changes_and_messages():
    payload = load("multi_delivery.json")
    payload["entry"][0]["changes"][0]["value"]["messages"][2]["timestamp"] = "soon"
    assert format_error(payload).path == "entry[0].changes[0].value.messages[2].timestamp"
    payload = load("multi_delivery.json")
    del payload["entry"][0]["changes"][1]["value"]["statuses"][1]["status"]
    assert format_error(payload).path == "entry[0].changes[1].value.statuses[1].status"
