import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from madoguchi.whatsapp.updates import (
    InboundMessage,
    MediaRef,
    UserIdentity,
    WebhookFormatError,
    parse_delivery,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "webhooks"
WABA = "201234567890123"
PNID = "301234567890123"
TARO = UserIdentity("JP.70211330012345", "819012345678", None, "Taro Yamada", None)
MSG = "entry[0].changes[0].value.messages[0]"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def one_message(payload: dict) -> InboundMessage:
    updates = parse_delivery(payload)
    assert len(updates) == 1
    (message,) = updates
    assert isinstance(message, InboundMessage)
    return message


def raw_message(payload: dict) -> dict:
    return payload["entry"][0]["changes"][0]["value"]["messages"][0]


def test_text():
    payload = load("message_text.json")
    message = one_message(payload)
    assert message.waba_id == WABA
    assert message.phone_number_id == PNID
    assert message.display_phone_number == "815055501234"
    assert message.wamid.endswith("TEXT01")
    assert message.timestamp == datetime(2026, 11, 7, 8, 0, tzinfo=UTC)
    assert message.timestamp.tzinfo is UTC
    assert message.type == "text"
    assert message.text == "こんにちは、注文の件で質問があります。"
    assert message.content == {"body": "こんにちは、注文の件で質問があります。"}
    assert message.sender == TARO
    assert message.media is None
    assert message.context is None
    assert message.referral is None
    assert message.errors == ()
    assert message.identity_change is None
    assert message.raw == raw_message(payload)


def test_text_reply_has_context():
    message = one_message(load("message_text_reply.json"))
    assert message.context is not None
    assert message.context.from_ == "815055501234"
    assert message.context.message_id is not None and message.context.message_id.endswith("OUT001")
    assert message.context.forwarded is False
    assert message.context.frequently_forwarded is False


def test_forwarded_flags():
    message = one_message(load("message_text_forwarded.json"))
    assert message.context is not None
    assert message.context.forwarded is True
    assert message.context.frequently_forwarded is True
    assert message.context.message_id is None


def test_referral_is_kept_as_received():
    payload = load("message_text_referral.json")
    message = one_message(payload)
    assert message.referral == raw_message(payload)["referral"]
    assert message.referral["source_type"] == "ad"
    assert message.referral["ctwa_clid"].startswith("ARAk")


@pytest.mark.parametrize(
    ("fixture", "kind", "media_id", "caption", "filename", "voice", "animated"),
    [
        ("message_image.json", "image", "1234567890123451", "Scratch on the box",
         None, False, False),
        ("message_audio_voice.json", "audio", "1234567890123452", None, None, True, False),
        ("message_video.json", "video", "1234567890123453", "How it looks when switched on",
         None, False, False),
        ("message_document.json", "document", "1234567890123454", "My receipt",
         "receipt-2026-11-01.pdf", False, False),
        ("message_sticker.json", "sticker", "1234567890123455", None, None, False, True),
    ],
)  # fmt: skip
def test_media(fixture, kind, media_id, caption, filename, voice, animated):
    payload = load(fixture)
    message = one_message(payload)
    assert message.type == kind
    assert message.content == raw_message(payload)[kind]
    assert isinstance(message.media, MediaRef)
    assert message.media.media_id == media_id
    assert message.media.mime_type == raw_message(payload)[kind]["mime_type"]
    assert message.media.sha256 == raw_message(payload)[kind]["sha256"]
    assert message.media.caption == caption
    assert message.media.filename == filename
    assert message.media.voice is voice
    assert message.media.animated is animated
    assert message.text == caption


def test_location_with_name_renders_name_and_address():
    message = one_message(load("message_location.json"))
    assert message.type == "location"
    assert message.text == "Tokyo Station, 1 Chome Marunouchi, Chiyoda City, Tokyo"
    assert message.content["latitude"] == 35.681236
    assert message.media is None


def test_location_pin_renders_coordinates():
    message = one_message(load("message_location_pin.json"))
    assert message.text == "34.702485,135.495951"


def test_contacts_content_wraps_the_list_and_text_lists_names():
    payload = load("message_contacts.json")
    message = one_message(payload)
    assert message.type == "contacts"
    assert message.content == {"contacts": raw_message(payload)["contacts"]}
    assert len(message.content["contacts"]) == 2
    assert message.text == "Ichiro Suzuki, Yuki Tanaka"
    # The sender is still the user, not one of the shared cards.
    assert message.sender == TARO


def test_interactive_button_reply():
    message = one_message(load("message_interactive_button_reply.json"))
    assert message.type == "interactive"
    assert message.content["type"] == "button_reply"
    assert message.content["button_reply"]["id"] == "talk_to_agent"
    assert message.text == "Talk to an agent"
    assert message.context is not None and message.context.message_id.endswith("OUT002")


def test_interactive_list_reply():
    message = one_message(load("message_interactive_list_reply.json"))
    assert message.content["list_reply"]["id"] == "billing"
    assert message.text == "Billing"


def test_interactive_nfm_reply_keeps_the_flow_answer():
    message = one_message(load("message_interactive_nfm_reply.json"))
    assert message.content["type"] == "nfm_reply"
    answer = json.loads(message.content["nfm_reply"]["response_json"])
    assert answer["party_size"] == "4"
    assert message.text == "Sent"


def test_template_quick_reply_button():
    message = one_message(load("message_button.json"))
    assert message.type == "button"
    assert message.content == {"payload": "CONFIRM_DELIVERY", "text": "Confirm delivery"}
    assert message.text == "Confirm delivery"


def test_reaction():
    message = one_message(load("message_reaction.json"))
    assert message.type == "reaction"
    assert message.text == "👍"
    assert message.content["message_id"].endswith("OUT006")


def test_reaction_without_emoji_is_a_removal():
    message = one_message(load("message_reaction_removed.json"))
    assert message.text is None
    assert message.content["message_id"].endswith("OUT006")


def test_reaction_with_empty_emoji_is_a_removal_too():
    payload = load("message_reaction.json")
    raw_message(payload)["reaction"]["emoji"] = ""
    assert one_message(payload).text is None


def test_order():
    message = one_message(load("message_order.json"))
    assert message.type == "order"
    assert message.text == "Please deliver on Saturday"
    assert [item["product_retailer_id"] for item in message.content["product_items"]] == [
        "SKU-TEA-001",
        "SKU-CUP-014",
    ]


def test_request_welcome_has_empty_content():
    message = one_message(load("message_request_welcome.json"))
    assert message.type == "request_welcome"
    assert message.content == {}
    assert message.text is None
    assert message.sender == TARO


def test_system_user_changed_number():
    message = one_message(load("message_system_user_changed_number.json"))
    assert message.type == "system"
    assert message.text == "User Taro Yamada changed from 819012345678 to 819087654321"
    # No contacts array: the sender is the identity being left behind.
    assert message.sender.wa_id == "819012345678"
    assert message.sender.user_id == "JP.70211330012345"
    assert message.sender.profile_name is None
    change = message.identity_change
    assert change is not None
    assert change.kind == "user_changed_number"
    assert change.previous_wa_id == "819012345678"
    assert change.new_wa_id == "819087654321"
    assert change.previous_user_id == "JP.70211330012345"
    assert change.new_user_id == "JP.70211330099999"


def test_system_legacy_new_wa_id_is_read_when_wa_id_is_absent():
    payload = load("message_system_user_changed_number.json")
    system = raw_message(payload)["system"]
    del system["wa_id"]
    system["new_wa_id"] = "819011112222"
    assert one_message(payload).identity_change.new_wa_id == "819011112222"


def test_system_user_changed_user_id_without_from():
    message = one_message(load("message_system_user_changed_user_id.json"))
    assert message.sender.user_id == "JP.80311440023456"  # the id we knew them by
    assert message.sender.wa_id is None
    change = message.identity_change
    assert change is not None
    assert change.kind == "user_changed_user_id"
    assert change.previous_user_id == "JP.80311440023456"
    assert change.new_user_id == "JP.80311440098765"
    assert change.previous_parent_user_id == "JP.ENT.11815799212886840000"
    assert change.new_parent_user_id == "JP.ENT.11815799212886844830"
    assert change.previous_wa_id is None and change.new_wa_id is None


def test_a_bsuid_change_with_a_phone_keeps_the_phone_as_it_was():
    payload = load("message_system_user_changed_user_id.json")
    raw_message(payload)["from"] = "818055556666"
    message = one_message(payload)
    assert message.sender.wa_id == "818055556666"
    assert message.identity_change.previous_wa_id is None
    assert message.identity_change.new_wa_id is None


def test_unsupported_keeps_original_type_and_errors():
    message = one_message(load("message_unsupported.json"))
    assert message.type == "unsupported"
    assert message.content == {"type": "edit"}
    assert message.text is None
    (error,) = message.errors
    assert error.code == 131051
    assert error.title == "Message type unknown"
    assert error.message == "Message type unknown"
    assert error.details == "Message type is currently not supported."
    assert error.href is not None


def test_legacy_unknown_is_normalised_to_unsupported():
    message = one_message(load("message_unknown_legacy.json"))
    assert message.type == "unsupported"
    assert message.content == {"type": None}
    assert message.raw["type"] == "unknown"
    assert [e.code for e in message.errors] == [131051]
    # Older payloads put "details" at the top level, not in error_data: not invented.
    assert message.errors[0].details is None


def test_username_only_user():
    message = one_message(load("message_username_only.json"))
    assert message.sender == UserIdentity(
        user_id="JP.80311440023456",
        wa_id=None,
        username="hanako.s",
        profile_name="Hanako",
        parent_user_id=None,
    )
    assert message.sender.key == "JP.80311440023456"
    assert "from" not in message.raw


def test_a_type_newer_than_the_parser_is_kept_not_refused():
    payload = load("message_text.json")
    message_obj = raw_message(payload)
    del message_obj["text"]
    message_obj["type"] = "hologram"
    message_obj["hologram"] = {"id": "42", "depth": 3}
    message = one_message(payload)
    assert message.type == "hologram"
    assert message.content == {"id": "42", "depth": 3}
    assert message.text is None
    assert message.media is None


def test_unknown_interactive_kind_is_kept_without_text():
    payload = load("message_interactive_button_reply.json")
    raw_message(payload)["interactive"] = {"type": "product_reply", "product_reply": {"x": 1}}
    message = one_message(payload)
    assert message.content["type"] == "product_reply"
    assert message.text is None


@pytest.mark.parametrize(
    "fixture",
    [
        "message_text.json",
        "message_image.json",
        "message_audio_voice.json",
        "message_video.json",
        "message_document.json",
        "message_sticker.json",
        "message_location.json",
        "message_interactive_button_reply.json",
        "message_button.json",
        "message_reaction.json",
        "message_order.json",
        "message_system_user_changed_number.json",
    ],
)
def test_a_known_type_without_its_object_is_a_format_error(fixture):
    payload = load(fixture)
    message_obj = raw_message(payload)
    kind = message_obj["type"]
    del message_obj[kind]
    with pytest.raises(WebhookFormatError) as caught:
        parse_delivery(payload)
    assert caught.value.path == f"{MSG}.{kind}"


def test_contacts_type_without_its_list_is_a_format_error():
    payload = load("message_contacts.json")
    raw_message(payload)["contacts"] = {"name": "not a list"}
    with pytest.raises(WebhookFormatError) as caught:
        parse_delivery(payload)
    assert caught.value.path == f"{MSG}.contacts"
    assert "array" in caught.value.problem


@pytest.mark.parametrize(
    ("fixture", "mutate", "path"),
    [
        ("message_text.json", lambda m: m["text"].pop("body"), f"{MSG}.text.body"),
        ("message_text.json", lambda m: m["text"].update(body=["hi"]), f"{MSG}.text.body"),
        ("message_image.json", lambda m: m["image"].pop("id"), f"{MSG}.image.id"),
        ("message_audio_voice.json", lambda m: m["audio"].update(voice="yes"),
         f"{MSG}.audio.voice"),
        ("message_reaction.json", lambda m: m["reaction"].pop("message_id"),
         f"{MSG}.reaction.message_id"),
        ("message_interactive_list_reply.json", lambda m: m["interactive"].pop("list_reply"),
         f"{MSG}.interactive.list_reply"),
        ("message_interactive_list_reply.json", lambda m: m["interactive"].pop("type"),
         f"{MSG}.interactive.type"),
        ("message_location_pin.json", lambda m: m["location"].update(latitude="north"),
         f"{MSG}.location.latitude"),
        ("message_text_reply.json", lambda m: m["context"].update(forwarded="true"),
         f"{MSG}.context.forwarded"),
        ("message_text_reply.json", lambda m: m.update(context="reply"), f"{MSG}.context"),
        ("message_text_referral.json", lambda m: m.update(referral=[1]), f"{MSG}.referral"),
        ("message_unsupported.json", lambda m: m["errors"][0].pop("code"), f"{MSG}.errors[0].code"),
        ("message_unsupported.json", lambda m: m.update(errors={}), f"{MSG}.errors"),
    ],
)  # fmt: skip
def test_malformed_type_objects_name_the_exact_path(fixture, mutate, path):
    payload = load(fixture)
    mutate(raw_message(payload))
    with pytest.raises(WebhookFormatError) as caught:
        parse_delivery(payload)
    assert caught.value.path == path
    assert str(caught.value) == f"{path}: {caught.value.problem}"


def test_parsing_does_not_mutate_the_payload():
    payload = load("message_system_user_changed_user_id.json")
    before = copy.deepcopy(payload)
    parse_delivery(payload)
    assert payload == before
