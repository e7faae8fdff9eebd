import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from madoguchi.whatsapp.updates import (
    AccountEvent,
    AccountUpdate,
    BusinessCapabilityUpdate,
    CallEvent,
    PhoneNumberNameUpdate,
    PhoneNumberQualityUpdate,
    TemplateQualityUpdate,
    TemplateStatusUpdate,
    UnknownFieldEvent,
    UserIdUpdate,
    UserPreferencesUpdate,
    WebhookErrors,
    WebhookFormatError,
    parse_delivery,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "webhooks"
WABA = "201234567890123"
T0 = datetime(2026, 11, 7, 8, 0, tzinfo=UTC)
VALUE = "entry[0].changes[0].value"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def value_of(payload: dict) -> dict:
    return payload["entry"][0]["changes"][0]["value"]


def one_event(payload: dict, cls: type) -> AccountEvent:
    (event,) = parse_delivery(payload)
    assert type(event) is cls
    assert isinstance(event, AccountEvent)
    assert event.waba_id == WABA
    assert event.value == value_of(payload)
    return event


def test_template_status_update():
    event = one_event(load("template_status_update.json"), TemplateStatusUpdate)
    assert event.field == "message_template_status_update"
    assert event.timestamp == T0 + timedelta(seconds=2000)
    assert event.event == "REJECTED"
    assert event.message_template_id == "1689556908129832"  # numeric id kept as a string
    assert event.message_template_name == "winter_sale_2026"
    assert event.message_template_language == "ja"
    assert event.reason == "INVALID_FORMAT"
    assert event.message_template_category == "MARKETING"
    assert event.value["rejection_info"]["recommendation"].startswith("Add sample")


def test_template_quality_update():
    event = one_event(load("template_quality_update.json"), TemplateQualityUpdate)
    assert (event.previous_quality_score, event.new_quality_score) == ("GREEN", "YELLOW")
    assert event.message_template_id == "806312974732579"
    assert event.message_template_name == "order_shipped"


def test_phone_number_quality_update():
    event = one_event(load("phone_number_quality_update.json"), PhoneNumberQualityUpdate)
    assert event.display_phone_number == "815055501234"
    assert event.event == "UPGRADE"
    assert (event.old_limit, event.current_limit) == ("TIER_2K", "TIER_10K")
    assert event.max_daily_conversations_per_business == "TIER_10K"


def test_phone_number_name_update():
    event = one_event(load("phone_number_name_update.json"), PhoneNumberNameUpdate)
    assert event.decision == "APPROVED"
    assert event.requested_verified_name == "Madoguchi Tea Shop"
    assert event.rejection_reason is None


def test_account_update_restriction():
    event = one_event(load("account_update.json"), AccountUpdate)
    assert event.event == "ACCOUNT_RESTRICTION"
    assert event.phone_number == "815055501234"
    assert [r["restriction_type"] for r in event.restriction_info] == [
        "RESTRICTED_BIZ_INITIATED_MESSAGING"
    ]
    assert event.ban_info is None and event.violation_info is None


def test_account_update_single_restriction_object_is_accepted():
    payload = load("account_update.json")
    value_of(payload)["restriction_info"] = {"restriction_type": "RESTRICTED_ADD_PHONE_NUMBER"}
    event = one_event(payload, AccountUpdate)
    assert event.restriction_info == ({"restriction_type": "RESTRICTED_ADD_PHONE_NUMBER"},)


def test_business_capability_update():
    event = one_event(load("business_capability_update.json"), BusinessCapabilityUpdate)
    assert event.max_daily_conversation_per_phone == 1000
    assert event.max_phone_numbers_per_business == 20
    assert event.max_phone_numbers_per_waba == 25
    assert event.max_daily_conversations_per_business == "TIER_2K"


def test_user_preferences_stop():
    event = one_event(load("user_preferences.json"), UserPreferencesUpdate)
    assert event.preference == "stop"
    assert event.category == "marketing_messages"
    assert event.detail == "User requested to stop marketing messages"
    assert event.user.wa_id == "819012345678"
    assert event.user.user_id == "JP.70211330012345"
    assert event.user.profile_name == "Taro Yamada"
    assert event.phone_number_id == "301234567890123"
    assert event.timestamp == T0 + timedelta(seconds=2360)


def test_user_preferences_one_event_per_user_in_order():
    payload = load("user_preferences.json")
    value = value_of(payload)
    value["contacts"] = []
    value["user_preferences"].append(
        {"user_id": "JP.80311440023456", "category": "marketing_messages", "value": "resume",
         "detail": "User requested to resume marketing messages", "timestamp": 1794040800}
    )  # fmt: skip
    events = parse_delivery(payload)
    assert [type(e) for e in events] == [UserPreferencesUpdate, UserPreferencesUpdate]
    assert [(e.user.key, e.preference) for e in events] == [
        ("JP.70211330012345", "stop"),
        ("JP.80311440023456", "resume"),
    ]


def test_user_preferences_naming_nobody_is_a_format_error():
    payload = load("user_preferences.json")
    value = value_of(payload)
    value["contacts"] = []
    del value["user_preferences"][0]["wa_id"], value["user_preferences"][0]["user_id"]
    with pytest.raises(WebhookFormatError) as caught:
        parse_delivery(payload)
    assert caught.value.path == f"{VALUE}.user_preferences[0]"


def test_user_id_update():
    event = one_event(load("user_id_update.json"), UserIdUpdate)
    assert event.field == "user_id_update"
    assert event.previous_user_id == "JP.90411550034567"
    assert event.user_id == "JP.90411550099999"
    assert event.wa_id == "818098765432"
    assert event.phone_number_id == "301234567890123"
    assert event.timestamp == T0 + timedelta(seconds=2420)


def test_user_id_change_field_with_flat_value_and_old_new_names():
    payload = load("user_id_update.json")
    change = payload["entry"][0]["changes"][0]
    change["field"] = "user_id_change"
    change["value"] = {"old_user_id": "JP.1", "new_user_id": "JP.2"}
    event = one_event(payload, UserIdUpdate)
    assert event.field == "user_id_change"
    assert (event.previous_user_id, event.user_id) == ("JP.1", "JP.2")
    assert event.phone_number_id is None


def test_calls_connect_carries_the_sdp_offer():
    event = one_event(load("calls_connect.json"), CallEvent)
    assert event.field == "calls"
    assert event.call_id.startswith("wacid.")
    assert event.event == "connect"
    assert event.direction == "USER_INITIATED"
    assert event.from_ == "819012345678"
    assert event.from_user_id == "JP.70211330012345"
    assert event.to == "815055501234"
    assert event.session["sdp_type"] == "offer"
    assert event.session["sdp"].startswith("v=0")
    assert event.timestamp == T0 + timedelta(seconds=2480)
    assert event.phone_number_id == "301234567890123"


def test_calls_terminate():
    event = one_event(load("calls_terminate.json"), CallEvent)
    assert event.event == "terminate"
    assert event.status == "COMPLETED"
    assert event.duration == 110
    assert event.end_time - event.start_time == timedelta(seconds=110)


def test_call_statuses_are_call_events():
    payload = load("calls_connect.json")
    value = value_of(payload)
    del value["calls"]
    value["statuses"] = [
        {"id": "wacid.ABC", "timestamp": "1794041000", "type": "call", "status": "RINGING",
         "recipient_id": "819012345678"}
    ]  # fmt: skip
    event = one_event(payload, CallEvent)
    assert (event.event, event.status, event.to) == ("status", "RINGING", "819012345678")


def test_call_without_id_is_a_format_error():
    payload = load("calls_connect.json")
    del value_of(payload)["calls"][0]["id"]
    with pytest.raises(WebhookFormatError) as caught:
        parse_delivery(payload)
    assert caught.value.path == f"{VALUE}.calls[0].id"


def test_value_level_errors():
    event = one_event(load("errors_value.json"), WebhookErrors)
    assert event.field == "messages"
    assert event.phone_number_id == "301234567890123"
    (error,) = event.errors
    assert error.code == 130429
    assert error.details.startswith("Message failed to send")


def test_unknown_field_is_kept_not_refused():
    event = one_event(load("unknown_field.json"), UnknownFieldEvent)
    assert event.field == "security"
    assert event.value["event"] == "PIN_CHANGED"
    assert event.timestamp == T0 + timedelta(seconds=2700)


def test_unknown_field_with_any_value_shape_inside_is_kept():
    payload = load("unknown_field.json")
    payload["entry"][0]["changes"][0] = {"field": "flows", "value": {"anything": [1, {"x": None}]}}
    event = one_event(payload, UnknownFieldEvent)
    assert event.field == "flows"


def test_messages_value_with_nothing_we_model_is_kept_as_unknown():
    payload = load("errors_value.json")
    del value_of(payload)["errors"]
    event = one_event(payload, UnknownFieldEvent)
    assert event.field == "messages"


@pytest.mark.parametrize(
    ("fixture", "key", "bad", "path"),
    [
        ("template_status_update.json", "event", ["APPROVED"], f"{VALUE}.event"),
        ("template_status_update.json", "message_template_id", True,
         f"{VALUE}.message_template_id"),
        ("business_capability_update.json", "max_phone_numbers_per_waba", "many",
         f"{VALUE}.max_phone_numbers_per_waba"),
        ("account_update.json", "ban_info", "DISABLE", f"{VALUE}.ban_info"),
        ("account_update.json", "restriction_info", ["x"], f"{VALUE}.restriction_info[0]"),
    ],
)  # fmt: skip
def test_typed_account_fields_of_the_wrong_type_name_the_path(fixture, key, bad, path):
    payload = load(fixture)
    value_of(payload)[key] = bad
    with pytest.raises(WebhookFormatError) as caught:
        parse_delivery(payload)
    assert caught.value.path == path


def test_entry_time_of_the_wrong_type_is_a_format_error():
    payload = load("template_status_update.json")
    payload["entry"][0]["time"] = "soon"
    with pytest.raises(WebhookFormatError) as caught:
        parse_delivery(payload)
    assert caught.value.path == "entry[0].time"
