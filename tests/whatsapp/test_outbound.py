import copy
from typing import Any

import pytest
from pydantic import ValidationError

from madoguchi.whatsapp.outbound import (
    LIMITS,
    ButtonAction,
    ButtonInteractive,
    InteractiveBody,
    InteractiveMessage,
    OutboundValidationError,
    Recipient,
    ReplyButton,
    ReplyButtonBody,
    TemplateMessage,
    TextBody,
    TextMessage,
    build_mark_read_body,
    build_send_body,
    parse_outbound,
    pricing_category_hint,
    render_text,
    validate_outbound,
)

PHONE = Recipient(wa_id="16505551234", user_id="US.13491208655302741918")
BSUID_ONLY = Recipient(wa_id=None, user_id="JP.70211330012345")

ENVELOPE = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505551234"}


def body_for(message: dict, **kwargs: Any) -> dict:
    return build_send_body(validate_outbound(message), PHONE, **kwargs)


def expected(type_: str, obj: Any) -> dict:
    return {**ENVELOPE, "type": type_, type_: obj}


BUTTONS = {
    "type": "button",
    "header": {"type": "text", "text": "Your order"},
    "body": {"text": "Did it arrive?"},
    "footer": {"text": "Tap one"},
    "action": {
        "buttons": [
            {"type": "reply", "reply": {"id": "yes", "title": "Yes"}},
            {"type": "reply", "reply": {"id": "no", "title": "No"}},
        ]
    },
}

LIST = {
    "type": "list",
    "header": {"type": "text", "text": "Menu"},
    "body": {"text": "What can we help with?"},
    "action": {
        "button": "Choose",
        "sections": [
            {
                "title": "Orders",
                "rows": [
                    {"id": "track", "title": "Track an order", "description": "Where is it?"},
                    {"id": "return", "title": "Return an item"},
                ],
            },
            {"title": "Account", "rows": [{"id": "login", "title": "Log-in trouble"}]},
        ],
    },
}

CTA = {
    "type": "cta_url",
    "header": {"type": "image", "image": {"link": "https://example.com/banner.png"}},
    "body": {"text": "See available dates"},
    "footer": {"text": "Dates may change"},
    "action": {
        "name": "cta_url",
        "parameters": {"display_text": "See Dates", "url": "https://example.com/dates?x=1"},
    },
}

TEMPLATE = {
    "name": "order_update",
    "language": {"code": "en_US"},
    "components": [
        {
            "type": "header",
            "parameters": [{"type": "image", "image": {"id": "1234567890"}}],
        },
        {
            "type": "body",
            "parameters": [
                {"type": "text", "text": "Pablo"},
                {
                    "type": "currency",
                    "currency": {"fallback_value": "$100.99", "code": "USD", "amount_1000": 100990},
                },
                {"type": "date_time", "date_time": {"fallback_value": "February 25, 1977"}},
            ],
        },
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": "0",
            "parameters": [{"type": "payload", "payload": "STOP"}],
        },
        {
            "type": "button",
            "sub_type": "url",
            "index": 1,
            "parameters": [{"type": "text", "text": "order/123"}],
        },
    ],
}

CONTACT = {
    "name": {"formatted_name": "Ana García", "first_name": "Ana", "last_name": "García"},
    "phones": [{"phone": "+34 600 000 000", "type": "CELL", "wa_id": "34600000000"}],
    "emails": [{"email": "ana@example.com", "type": "WORK"}],
    "urls": [{"url": "https://example.com", "type": "WORK"}],
    "addresses": [{"street": "Calle 1", "city": "Madrid", "country_code": "ES", "type": "HOME"}],
    "org": {"company": "Acme", "title": "Buyer"},
    "birthday": "1990-01-31",
}

# (message as an API client sends it, the type object Meta must receive)
SHAPES: list[tuple[dict, Any]] = [
    (
        {"type": "text", "text": {"body": "Hello"}},
        {"body": "Hello", "preview_url": False},
    ),
    (
        {"type": "text", "text": {"body": "See https://example.com", "preview_url": True}},
        {"body": "See https://example.com", "preview_url": True},
    ),
    (
        {"type": "image", "image": {"id": "1479537139650973", "caption": "Receipt"}},
        {"id": "1479537139650973", "caption": "Receipt"},
    ),
    (
        {"type": "image", "image": {"link": "https://example.com/a.png"}},
        {"link": "https://example.com/a.png"},
    ),
    (
        {"type": "video", "video": {"link": "https://example.com/a.mp4", "caption": "How to"}},
        {"link": "https://example.com/a.mp4", "caption": "How to"},
    ),
    ({"type": "audio", "audio": {"id": "4242"}}, {"id": "4242"}),
    (
        {
            "type": "document",
            "document": {"id": "77", "caption": "Invoice", "filename": "invoice.pdf"},
        },
        {"id": "77", "caption": "Invoice", "filename": "invoice.pdf"},
    ),
    ({"type": "sticker", "sticker": {"id": "55"}}, {"id": "55"}),
    (
        {
            "type": "location",
            "location": {
                "latitude": 35.6812,
                "longitude": 139.7671,
                "name": "Tokyo Station",
                "address": "1 Chome Marunouchi",
            },
        },
        {
            "latitude": 35.6812,
            "longitude": 139.7671,
            "name": "Tokyo Station",
            "address": "1 Chome Marunouchi",
        },
    ),
    (
        {"type": "location", "location": {"latitude": 0, "longitude": 0}},
        {"latitude": 0.0, "longitude": 0.0},
    ),
    ({"type": "contacts", "contacts": [CONTACT]}, [CONTACT]),
    ({"type": "interactive", "interactive": BUTTONS}, BUTTONS),
    ({"type": "interactive", "interactive": LIST}, LIST),
    ({"type": "interactive", "interactive": CTA}, CTA),
    (
        {
            "type": "interactive",
            "interactive": {
                "type": "call_permission_request",
                "body": {"text": "May we call you about order 12853?"},
            },
        },
        {
            "type": "call_permission_request",
            "body": {"text": "May we call you about order 12853?"},
            "action": {"name": "call_permission_request"},
        },
    ),
    (
        {
            "type": "interactive",
            "interactive": {"type": "location_request_message", "body": {"text": "Where are you?"}},
        },
        {
            "type": "location_request_message",
            "body": {"text": "Where are you?"},
            "action": {"name": "send_location"},
        },
    ),
    ({"type": "template", "template": TEMPLATE}, TEMPLATE),
    (
        {"type": "template", "template": {"name": "hello_world", "language": {"code": "ja"}}},
        {"name": "hello_world", "language": {"code": "ja"}},
    ),
    (
        {"type": "reaction", "reaction": {"message_id": "wamid.HBgL", "emoji": "👍"}},
        {"message_id": "wamid.HBgL", "emoji": "👍"},
    ),
    (
        {"type": "reaction", "reaction": {"message_id": "wamid.HBgL", "emoji": ""}},
        {"message_id": "wamid.HBgL", "emoji": ""},
    ),
]


@pytest.mark.parametrize(("message", "meta_object"), SHAPES)
def test_request_body_matches_meta_shape(message: dict, meta_object: Any) -> None:
    original = copy.deepcopy(message)
    assert body_for(message) == expected(message["type"], meta_object)
    assert message == original


def test_buttons_without_type_get_reply_type() -> None:
    message = {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "Pick"},
            "action": {"buttons": [{"reply": {"id": "a", "title": "A"}}]},
        },
    }
    assert body_for(message)["interactive"]["action"]["buttons"] == [
        {"type": "reply", "reply": {"id": "a", "title": "A"}}
    ]


def test_bsuid_only_contact_goes_to_recipient() -> None:
    body = build_send_body(validate_outbound(SHAPES[0][0]), BSUID_ONLY)
    assert body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "recipient": "JP.70211330012345",
        "type": "text",
        "text": {"body": "Hello", "preview_url": False},
    }


def test_phone_wins_over_bsuid() -> None:
    body = build_send_body(validate_outbound(SHAPES[0][0]), PHONE)
    assert body["to"] == "16505551234"
    assert "recipient" not in body


def test_no_recipient_is_refused() -> None:
    with pytest.raises(ValueError, match="neither a phone"):
        build_send_body(validate_outbound(SHAPES[0][0]), Recipient(wa_id=None, user_id=None))
    with pytest.raises(ValueError):
        build_send_body(validate_outbound(SHAPES[0][0]), Recipient(wa_id="", user_id=""))


def test_reply_adds_context() -> None:
    body = body_for({"type": "text", "text": {"body": "Yes"}}, reply_to_wamid="wamid.ABC")
    assert body == {
        **ENVELOPE,
        "context": {"message_id": "wamid.ABC"},
        "type": "text",
        "text": {"body": "Yes", "preview_url": False},
    }


def test_reaction_never_gets_context() -> None:
    body = body_for(
        {"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": "❤️"}},
        reply_to_wamid="wamid.X",
    )
    assert "context" not in body


def test_build_accepts_a_plain_dict() -> None:
    assert build_send_body({"type": "text", "text": {"body": "Hi"}}, PHONE)["text"]["body"] == "Hi"
    with pytest.raises(OutboundValidationError):
        build_send_body({"type": "text", "text": {"body": ""}}, PHONE)


def test_biz_opaque_callback_data_is_top_level() -> None:
    body = body_for(
        {"type": "text", "text": {"body": "Hi"}, "biz_opaque_callback_data": "campaign-7"}
    )
    assert body["biz_opaque_callback_data"] == "campaign-7"
    assert "biz_opaque_callback_data" not in body["text"]


def test_models_built_in_python() -> None:
    message = InteractiveMessage(
        interactive=ButtonInteractive(
            body=InteractiveBody(text="Pick"),
            action=ButtonAction(buttons=[ReplyButton(reply=ReplyButtonBody(id="a", title="A"))]),
        )
    )
    assert build_send_body(message, PHONE)["interactive"] == {
        "type": "button",
        "body": {"text": "Pick"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "A"}}]},
    }
    with pytest.raises(ValidationError, match="4,096"):
        TextMessage(text=TextBody(body="x" * 4097))


def test_mark_read_body() -> None:
    assert build_mark_read_body("wamid.IN") == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.IN",
    }
    assert build_mark_read_body("wamid.IN", typing_indicator=True) == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.IN",
        "typing_indicator": {"type": "text"},
    }


# --------------------------------------------------------------------------- limits


def interactive(**fields: Any) -> dict:
    return {"type": "interactive", "interactive": fields}


def buttons(*pairs: tuple[str, str], **extra: Any) -> dict:
    return interactive(
        type="button",
        body={"text": "Pick one"},
        action={"buttons": [{"type": "reply", "reply": {"id": i, "title": t}} for i, t in pairs]},
        **extra,
    )


def listing(sections: list[dict], button: str = "Choose", **extra: Any) -> dict:
    return interactive(
        type="list",
        body={"text": "Pick one"},
        action={"button": button, "sections": sections},
        **extra,
    )


def rows(n: int, prefix: str = "r") -> list[dict]:
    return [{"id": f"{prefix}{i}", "title": f"Row {i}"} for i in range(n)]


def cta(display_text: str = "Open", url: str = "https://example.com", **extra: Any) -> dict:
    return interactive(
        type="cta_url",
        body=extra.pop("body", {"text": "Tap"}),
        action={"name": "cta_url", "parameters": {"display_text": display_text, "url": url}},
        **extra,
    )


def template(**fields: Any) -> dict:
    base = {"name": "order_update", "language": {"code": "en"}}
    return {"type": "template", "template": {**base, **fields}}


LIMIT_CASES: list[tuple[str, dict, str, str]] = [
    (
        "text body",
        {"type": "text", "text": {"body": "x" * 4120}},
        "text.body",
        "text.body is 4,120 characters; WhatsApp allows at most 4,096",
    ),
    ("empty text", {"type": "text", "text": {"body": "  "}}, "text.body", "must not be empty"),
    (
        "image caption",
        {"type": "image", "image": {"id": "1", "caption": "c" * 1025}},
        "image.caption",
        "image.caption is 1,025 characters; WhatsApp allows at most 1,024",
    ),
    (
        "video caption",
        {"type": "video", "video": {"id": "1", "caption": "c" * 2000}},
        "video.caption",
        "video.caption is 2,000 characters; WhatsApp allows at most 1,024",
    ),
    (
        "document caption",
        {"type": "document", "document": {"id": "1", "caption": "c" * 1025}},
        "document.caption",
        "at most 1,024",
    ),
    (
        "audio caption",
        {"type": "audio", "audio": {"id": "1", "caption": "hi"}},
        "audio.caption",
        "audio.caption is not allowed",
    ),
    (
        "sticker caption",
        {"type": "sticker", "sticker": {"id": "1", "caption": "hi"}},
        "sticker.caption",
        "sticker.caption is not allowed",
    ),
    (
        "media without id or link",
        {"type": "image", "image": {"caption": "where?"}},
        "image",
        "image needs an id (uploaded media) or a link",
    ),
    (
        "media with id and link",
        {"type": "audio", "audio": {"id": "1", "link": "https://example.com/a.mp3"}},
        "audio",
        "exactly one",
    ),
    (
        "http link",
        {"type": "document", "document": {"link": "http://example.com/a.pdf"}},
        "document.link",
        "document.link must be an https:// URL",
    ),
    (
        "latitude",
        {"type": "location", "location": {"latitude": 91, "longitude": 0}},
        "location.latitude",
        "between -90 and 90",
    ),
    (
        "longitude",
        {"type": "location", "location": {"latitude": 0, "longitude": -181}},
        "location.longitude",
        "between -180 and 180",
    ),
    ("no contacts", {"type": "contacts", "contacts": []}, "contacts", "at least one contact"),
    (
        "contact birthday",
        {"type": "contacts", "contacts": [{"name": {"formatted_name": "A"}, "birthday": "31/1"}]},
        "contacts[0].birthday",
        "YYYY-MM-DD",
    ),
    (
        "no buttons",
        buttons(),
        "interactive.action.buttons",
        "interactive.action.buttons has 0 buttons; WhatsApp allows 1 to 3",
    ),
    (
        "four buttons",
        buttons(("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")),
        "interactive.action.buttons",
        "has 4 buttons; WhatsApp allows 1 to 3",
    ),
    (
        "button title",
        buttons(("a", "A"), ("b", "x" * 21)),
        "interactive.action.buttons[1].reply.title",
        "interactive.action.buttons[1].reply.title is 21 characters; WhatsApp allows at most 20",
    ),
    (
        "button id",
        buttons(("a" * 257, "A")),
        "interactive.action.buttons[0].reply.id",
        "is 257 characters; WhatsApp allows at most 256",
    ),
    (
        "duplicate button id",
        buttons(("a", "A"), ("a", "B")),
        "interactive.action.buttons[1].reply.id",
        "repeats buttons[0]",
    ),
    (
        "duplicate button title",
        buttons(("a", "Same"), ("b", "Same")),
        "interactive.action.buttons[1].reply.title",
        "repeats buttons[0]",
    ),
    (
        "interactive body",
        interactive(
            type="button",
            body={"text": "b" * 1025},
            action={"buttons": [{"reply": {"id": "a", "title": "A"}}]},
        ),
        "interactive.body.text",
        "interactive.body.text is 1,025 characters; WhatsApp allows at most 1,024",
    ),
    (
        "missing body",
        interactive(type="button", action={"buttons": [{"reply": {"id": "a", "title": "A"}}]}),
        "interactive.body.text",
        "required for button messages",
    ),
    (
        "header text",
        buttons(("a", "A"), header={"type": "text", "text": "h" * 61}),
        "interactive.header.text",
        "interactive.header.text is 61 characters; WhatsApp allows at most 60",
    ),
    (
        "header media",
        buttons(("a", "A"), header={"type": "video", "video": {"link": "ftp://x/y.mp4"}}),
        "interactive.header.video.link",
        "https",
    ),
    (
        "footer",
        buttons(("a", "A"), footer={"text": "f" * 61}),
        "interactive.footer.text",
        "interactive.footer.text is 61 characters; WhatsApp allows at most 60",
    ),
    (
        "list button label",
        listing([{"rows": rows(1)}], button="b" * 21),
        "interactive.action.button",
        "interactive.action.button is 21 characters; WhatsApp allows at most 20",
    ),
    (
        "list sections",
        listing([{"title": f"S{i}", "rows": rows(1, f"s{i}-")} for i in range(11)]),
        "interactive.action.sections",
        "has 11 sections; WhatsApp allows 1 to 10",
    ),
    (
        "no sections",
        listing([]),
        "interactive.action.sections",
        "has 0 sections; WhatsApp allows 1 to 10",
    ),
    (
        "list rows in total",
        listing([{"title": "A", "rows": rows(6, "a")}, {"title": "B", "rows": rows(5, "b")}]),
        "interactive.action.sections",
        "hold 11 rows in total; WhatsApp allows at most 10",
    ),
    (
        "row title",
        listing([{"rows": [{"id": "1", "title": "t" * 25}]}]),
        "interactive.action.sections[0].rows[0].title",
        "is 25 characters; WhatsApp allows at most 24",
    ),
    (
        "row description",
        listing([{"rows": [{"id": "1", "title": "t", "description": "d" * 73}]}]),
        "interactive.action.sections[0].rows[0].description",
        "is 73 characters; WhatsApp allows at most 72",
    ),
    (
        "row id",
        listing([{"rows": [{"id": "i" * 201, "title": "t"}]}]),
        "interactive.action.sections[0].rows[0].id",
        "is 201 characters; WhatsApp allows at most 200",
    ),
    (
        "section title",
        listing([{"title": "s" * 25, "rows": rows(1)}]),
        "interactive.action.sections[0].title",
        "is 25 characters; WhatsApp allows at most 24",
    ),
    (
        "untitled section among several",
        listing([{"title": "A", "rows": rows(1, "a")}, {"rows": rows(1, "b")}]),
        "interactive.action.sections[1].title",
        "required when a list has more than one section",
    ),
    (
        "empty section",
        listing([{"rows": []}]),
        "interactive.action.sections[0].rows",
        "at least one row",
    ),
    (
        "duplicate row id",
        listing([{"title": "A", "rows": rows(1)}, {"title": "B", "rows": rows(1)}]),
        "interactive.action.sections[1].rows[0].id",
        "repeats sections[0].rows[0]",
    ),
    (
        "list media header",
        listing(
            [{"rows": rows(1)}],
            header={"type": "image", "image": {"link": "https://example.com/a.png"}},
        ),
        "interactive.header.type",
        "text",
    ),
    (
        "cta display text",
        cta(display_text="d" * 21),
        "interactive.action.parameters.display_text",
        "is 21 characters; WhatsApp allows at most 20",
    ),
    (
        "cta url",
        cta(url="http://example.com"),
        "interactive.action.parameters.url",
        "must be an https:// URL",
    ),
    (
        "cta body",
        cta(body={"text": ""}),
        "interactive.body.text",
        "must not be empty",
    ),
    (
        "template name",
        template(name="Order Update"),
        "template.name",
        "only lowercase letters, digits and underscores",
    ),
    (
        "template name length",
        template(name="a" * 513),
        "template.name",
        "is 513 characters; WhatsApp allows at most 512",
    ),
    (
        "template language",
        template(language={"code": ""}),
        "template.language.code",
        "must not be empty",
    ),
    (
        "template header text parameter",
        template(
            components=[{"type": "header", "parameters": [{"type": "text", "text": "h" * 61}]}]
        ),
        "template.components[0].parameters[0].text",
        "is 61 characters; WhatsApp allows at most 60",
    ),
    (
        "template button without index",
        template(components=[{"type": "button", "sub_type": "quick_reply", "parameters": []}]),
        "template.components[0].index",
        "index is required",
    ),
    (
        "template button without sub_type",
        template(components=[{"type": "button", "index": 0}]),
        "template.components[0].sub_type",
        "sub_type is required",
    ),
    (
        "payload in body",
        template(
            components=[{"type": "body", "parameters": [{"type": "payload", "payload": "x"}]}]
        ),
        "template.components[0].parameters[0].type",
        "payload is not allowed in a body component",
    ),
    (
        "currency code",
        template(
            components=[
                {
                    "type": "body",
                    "parameters": [
                        {
                            "type": "currency",
                            "currency": {"fallback_value": "1", "code": "usd", "amount_1000": 1},
                        }
                    ],
                }
            ]
        ),
        "template.components[0].parameters[0].currency.code",
        "ISO 4217",
    ),
    (
        "coupon code",
        template(
            components=[
                {
                    "type": "button",
                    "sub_type": "copy_code",
                    "index": 0,
                    "parameters": [{"type": "coupon_code", "coupon_code": "C" * 16}],
                }
            ]
        ),
        "template.components[0].parameters[0].coupon_code",
        "is 16 characters; WhatsApp allows at most 15",
    ),
    (
        "duplicate body component",
        template(components=[{"type": "body"}, {"type": "body"}]),
        "template.components[1]",
        "repeats components[0]",
    ),
    (
        "reaction emoji",
        {"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": "ok"}},
        "reaction.emoji",
        "single emoji",
    ),
    (
        "reaction target",
        {"type": "reaction", "reaction": {"message_id": "", "emoji": "👍"}},
        "reaction.message_id",
        "must not be empty",
    ),
    (
        "callback data",
        {"type": "text", "text": {"body": "x"}, "biz_opaque_callback_data": "d" * 513},
        "biz_opaque_callback_data",
        "is 513 characters; WhatsApp allows at most 512",
    ),
]


@pytest.mark.parametrize(
    ("message", "field", "fragment"),
    [case[1:] for case in LIMIT_CASES],
    ids=[case[0] for case in LIMIT_CASES],
)
def test_limit_refused_with_named_message(message: dict, field: str, fragment: str) -> None:
    with pytest.raises(OutboundValidationError) as caught:
        validate_outbound(message)
    assert caught.value.field == field
    assert fragment in caught.value.message
    assert isinstance(caught.value, ValueError)
    with pytest.raises(ValidationError):
        parse_outbound(message)


@pytest.mark.parametrize(
    "message",
    [
        {"type": "text", "text": {"body": "x" * 4096}},
        {"type": "image", "image": {"id": "1", "caption": "c" * 1024}},
        buttons(("a", "A"), ("b", "B"), ("c", "x" * 20)),
        listing([{"title": f"S{i}", "rows": rows(1, f"s{i}-")} for i in range(10)]),
        listing([{"rows": [{"id": "i" * 200, "title": "t" * 24, "description": "d" * 72}]}]),
        cta(display_text="d" * 20, header={"type": "text", "text": "h" * 60}),
        interactive(type="call_permission_request"),
        {"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": "👨‍👩‍👧‍👦"}},
        {"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": "🇯🇵"}},
    ],
)
def test_values_at_the_limit_are_accepted(message: dict) -> None:
    validate_outbound(message)


@pytest.mark.parametrize(
    ("message", "field", "fragment"),
    [
        ({"text": {"body": "x"}}, "type", "type is required"),
        ({"type": "fax"}, "type", "must be one of"),
        ({"type": "text"}, "text", "Field required"),
        ({"type": "text", "text": {}}, "text.body", "Field required"),
        ({"type": "text", "text": {"body": "x"}, "to": "123"}, "to", "Extra inputs"),
        ({"type": "image", "image": {"id": "1", "bogus": 1}}, "image.bogus", "Extra inputs"),
        (
            interactive(type="button", body={"text": "b"}),
            "interactive.action",
            "Field required",
        ),
        (
            buttons(("a", "A"), header={"type": "text", "text": 5}),
            "interactive.header.text",
            "valid string",
        ),
        (
            template(components=[{"type": "body", "parameters": [{"type": "text", "text": 5}]}]),
            "template.components[0].parameters[0].text",
            "valid string",
        ),
        (
            template(components=[{"type": "footer"}]),
            "template.components[0].type",
            "Input should be",
        ),
    ],
)
def test_shape_errors_name_the_field(message: dict, field: str, fragment: str) -> None:
    with pytest.raises(OutboundValidationError) as caught:
        validate_outbound(message)
    assert caught.value.field == field
    assert fragment in caught.value.message


def test_limits_table_matches_whatsapp() -> None:
    assert LIMITS["text_body"] == 4096
    assert LIMITS["caption"] == 1024
    assert LIMITS["reply_button_title"] == 20
    assert LIMITS["list_row_title"] == 24


# --------------------------------------------------------------------------- summaries


@pytest.mark.parametrize(
    ("message", "text"),
    [
        ({"type": "text", "text": {"body": "Hello"}}, "Hello"),
        ({"type": "image", "image": {"id": "1", "caption": "Receipt"}}, "Receipt"),
        ({"type": "image", "image": {"id": "1"}}, None),
        ({"type": "video", "video": {"id": "1", "caption": "Clip"}}, "Clip"),
        ({"type": "document", "document": {"id": "1", "filename": "a.pdf"}}, "a.pdf"),
        (
            {"type": "document", "document": {"id": "1", "caption": "Bill", "filename": "a.pdf"}},
            "Bill",
        ),
        ({"type": "audio", "audio": {"id": "1"}}, None),
        ({"type": "sticker", "sticker": {"id": "1"}}, None),
        ({"type": "location", "location": {"latitude": 1, "longitude": 2, "name": "Shop"}}, "Shop"),
        ({"type": "contacts", "contacts": [CONTACT]}, "Ana García"),
        ({"type": "interactive", "interactive": BUTTONS}, "Did it arrive?"),
        ({"type": "interactive", "interactive": {"type": "call_permission_request"}}, None),
        ({"type": "template", "template": TEMPLATE}, "[template order_update]"),
        ({"type": "reaction", "reaction": {"message_id": "w", "emoji": "👍"}}, "👍"),
        ({"type": "reaction", "reaction": {"message_id": "w", "emoji": ""}}, None),
    ],
)
def test_render_text(message: dict, text: str | None) -> None:
    assert render_text(validate_outbound(message)) == text


def test_pricing_category_hint() -> None:
    assert pricing_category_hint(validate_outbound(SHAPES[0][0])) == "service"
    buttons_message = {"type": "interactive", "interactive": BUTTONS}
    assert pricing_category_hint(validate_outbound(buttons_message)) == "service"
    template_message = validate_outbound({"type": "template", "template": TEMPLATE})
    assert isinstance(template_message, TemplateMessage)
    assert pricing_category_hint(template_message) is None


def test_models_are_immutable() -> None:
    message = validate_outbound({"type": "text", "text": {"body": "Hi"}})
    with pytest.raises(ValidationError):
        message.text.body = "changed"  # type: ignore[misc]
