"""Templates as rules: validation names every field, parameters come out in Meta's order,
the preview shows what the phone will, and a send gets Meta's component shape."""

from __future__ import annotations

import pytest

from madoguchi.domain.templates import (
    MissingValues,
    TemplateInvalid,
    canonical_values,
    render_preview,
    resolve_values,
    send_components,
    template_parameters,
    template_shape,
    validate_template,
)

ORDER_SHIPPED = [
    {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["A1"]}},
    {
        "type": "BODY",
        "text": "Hello {{1}}, your order {{2}} has shipped.",
        "example": {"body_text": [["Taro", "A-1001"]]},
    },
    {"type": "FOOTER", "text": "ACME Shop"},
    {
        "type": "BUTTONS",
        "buttons": [
            {
                "type": "URL",
                "text": "Track",
                "url": "https://acme.test/track/{{1}}",
                "example": ["https://acme.test/track/A-1001"],
            },
            {"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+15550100"},
        ],
    },
]

NAMED = [
    {
        "type": "body",
        "text": "Hi {{first_name}}, {{discount}} off today!",
        "example": {
            "body_text_named_params": [
                {"param_name": "first_name", "example": "Taro"},
                {"param_name": "discount", "example": "20%"},
            ]
        },
    },
    {
        "type": "buttons",
        "buttons": [
            {"type": "quick_reply", "text": "Stop promotions"},
            {"type": "copy_code", "example": "SAVE20"},
        ],
    },
]


def problems(**kwargs) -> dict[str, str]:
    base = {"name": "ok_name", "language": "en_US", "category": "UTILITY", "components": []}
    base.update(kwargs)
    with pytest.raises(TemplateInvalid) as info:
        validate_template(**base)
    found: dict[str, str] = {}
    for p in info.value.problems:
        found[p.field] = f"{found[p.field]} | {p.message}" if p.field in found else p.message
    return found


def test_a_valid_template_comes_back_normalized():
    out = validate_template(
        name="order_shipped", language="en_US", category="utility", components=ORDER_SHIPPED
    )
    assert out["category"] == "UTILITY" and out["parameter_format"] == "POSITIONAL"
    named = validate_template(name="promo", language="ja", category="MARKETING", components=NAMED)
    assert named["parameter_format"] == "NAMED"
    assert [c["type"] for c in named["components"]] == ["BODY", "BUTTONS"]
    assert named["components"][1]["buttons"][1]["type"] == "COPY_CODE"


def test_name_language_and_category_are_checked():
    found = problems(
        name="Order Shipped!", language="english", category="PROMO", components=[{"type": "BODY"}]
    )
    assert "lowercase letters, digits and underscores" in found["name"]
    assert "en_US" in found["language"]
    assert "MARKETING, UTILITY, AUTHENTICATION" in found["category"]
    assert found["components[0].text"] == "components[0].text is required"


def test_lengths_are_named_with_their_limits():
    found = problems(
        components=[
            {"type": "HEADER", "format": "TEXT", "text": "h" * 61},
            {"type": "BODY", "text": "b" * 1025},
            {"type": "FOOTER", "text": "f" * 61},
        ]
    )
    assert found["components[0].text"].endswith("61 characters; WhatsApp allows at most 60")
    assert found["components[1].text"].endswith("1,025 characters; WhatsApp allows at most 1,024")
    assert found["components[2].text"].endswith("WhatsApp allows at most 60")
    assert "BODY" not in "".join(found)  # a body was given


def test_parameters_need_examples_in_sequence_and_not_mixed():
    found = problems(components=[{"type": "BODY", "text": "Hi {{1}} and {{2}}"}])
    assert "needs 2 sample value(s)" in found["components[0].example.body_text"]
    found = problems(
        components=[
            {"type": "BODY", "text": "Hi {{1}} {{3}}", "example": {"body_text": [["a", "b"]]}}
        ]
    )
    assert "in sequence" in found["components[0].text"]
    found = problems(components=[{"type": "BODY", "text": "Hi {{1}} {{name}}"}])
    assert "mixes numbered and named" in found["components[0].text"]
    found = problems(components=[{"type": "BODY", "text": "Hi {{First Name}}"}])
    assert "is not a parameter" in found["components[0].text"]
    found = problems(
        components=[
            {
                "type": "BODY",
                "text": "Hi {{first_name}}",
                "example": {"body_text_named_params": [{"param_name": "other", "example": "x"}]},
            }
        ]
    )
    assert "missing: first_name" in found["components[0].example.body_text_named_params"]
    found = problems(
        components=[
            {
                "type": "HEADER",
                "format": "TEXT",
                "text": "{{1}} {{2}}",
                "example": {"header_text": ["a", "b"]},
            },
            {"type": "BODY", "text": "x"},
        ]
    )
    assert "at most 1 parameter" in found["components[0].text"]


def test_button_rules():
    buttons = [
        {"type": "QUICK_REPLY", "text": "Yes"},
        {"type": "URL", "text": "Site", "url": "https://a.test/{{1}}/x"},
        {"type": "QUICK_REPLY", "text": "No, this label is far too long"},
        {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "call me"},
        {"type": "COPY_CODE"},
        {"type": "URL", "text": "Two", "url": "https://a.test/2"},
        {"type": "URL", "text": "Three", "url": "https://a.test/3"},
        {"type": "OTP", "otp_type": "COPY_CODE"},
    ]
    found = problems(
        components=[{"type": "BODY", "text": "x"}, {"type": "BUTTONS", "buttons": buttons}]
    )
    assert "one parameter, {{1}}, at its very end" in found["components[1].buttons[1].url"]
    assert "at most 25" in found["components[1].buttons[2].text"]
    assert "country code" in found["components[1].buttons[3].phone_number"]
    assert "sample code" in found["components[1].buttons[4].example"]
    assert "only for AUTHENTICATION" in found["components[1].buttons[7].type"]
    assert (
        "grouped together" in found["components[1].buttons"]
        or "URL buttons" in (found["components[1].buttons"])
    )
    too_many = [{"type": "QUICK_REPLY", "text": f"B{i}"} for i in range(11)]
    found = problems(
        components=[{"type": "BODY", "text": "x"}, {"type": "BUTTONS", "buttons": too_many}]
    )
    assert "11 buttons; WhatsApp allows at most 10" in found["components[1].buttons"]
    url_without_example = [{"type": "URL", "text": "Go", "url": "https://a.test/{{1}}"}]
    found = problems(
        components=[
            {"type": "BODY", "text": "x"},
            {"type": "BUTTONS", "buttons": url_without_example},
        ]
    )
    assert "sample full URL" in found["components[1].buttons[0].example"]


def test_authentication_templates_have_fixed_text_and_one_otp_button():
    ok = validate_template(
        name="login_code",
        language="en",
        category="AUTHENTICATION",
        components=[
            {"type": "BODY", "add_security_recommendation": True},
            {"type": "FOOTER", "code_expiration_minutes": 10},
            {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]},
        ],
    )
    assert ok["category"] == "AUTHENTICATION"
    found = problems(
        category="AUTHENTICATION",
        components=[
            {"type": "BODY", "text": "Your code is {{1}}"},
            {"type": "FOOTER", "code_expiration_minutes": 99},
        ],
    )
    assert "fixed text" in found["components[0].text"]
    assert "1 to 90" in found["components[1].code_expiration_minutes"]
    assert "BUTTONS" in found["components"]


def test_parameters_come_out_in_order_with_their_examples():
    params = template_parameters(ORDER_SHIPPED)
    assert [(p.key, p.kind, p.example) for p in params] == [
        ("header.1", "text", "A1"),
        ("body.1", "text", "Taro"),
        ("body.2", "text", "A-1001"),
        ("button.0", "url", "A-1001"),
    ]
    named = template_parameters(NAMED)
    assert [(p.key, p.required) for p in named] == [
        ("body.first_name", True),
        ("body.discount", True),
        ("button.0", False),
        ("button.1", True),
    ]
    assert canonical_values(named, {"first_name": "Hana", "buttons.1": "X", "junk": 1}) == {
        "body.first_name": "Hana",
        "button.1": "X",
    }


def test_preview_fills_values_and_lists_what_is_missing():
    shown = render_preview(ORDER_SHIPPED, {"1": "Hana", "header.1": "B2", "button.0": "B2"})
    assert shown.header == {"type": "text", "text": "Order B2"}
    assert shown.body == "Hello Hana, your order {{2}} has shipped."
    assert shown.footer == "ACME Shop"
    assert shown.buttons[0]["url"] == "https://acme.test/track/B2"
    assert shown.buttons[1] == {
        "type": "PHONE_NUMBER",
        "text": "Call us",
        "phone_number": "+15550100",
    }
    assert shown.missing == ["body.2"]
    with_examples = render_preview(ORDER_SHIPPED, {}, use_examples=True)
    assert with_examples.body == "Hello Taro, your order A-1001 has shipped."


def test_send_components_in_metas_shape():
    components = send_components(
        ORDER_SHIPPED, {"header.1": "B2", "body.1": "Hana", "body.2": "B-2", "button.0": "B-2"}
    )
    assert components == [
        {"type": "header", "parameters": [{"type": "text", "text": "B2"}]},
        {
            "type": "body",
            "parameters": [{"type": "text", "text": "Hana"}, {"type": "text", "text": "B-2"}],
        },
        {
            "type": "button",
            "sub_type": "url",
            "index": "0",
            "parameters": [{"type": "text", "text": "B-2"}],
        },
    ]
    named = send_components(
        NAMED, {"first_name": "Hana", "discount": "30%", "button.1": "SAVE30", "button.0": "STOP"}
    )
    assert named[0]["parameters"][0] == {
        "type": "text",
        "text": "Hana",
        "parameter_name": "first_name",
    }
    assert named[1] == {
        "type": "button",
        "sub_type": "quick_reply",
        "index": "0",
        "parameters": [{"type": "payload", "payload": "STOP"}],
    }
    assert named[2]["parameters"] == [{"type": "coupon_code", "coupon_code": "SAVE30"}]
    with pytest.raises(MissingValues) as missing:
        send_components(ORDER_SHIPPED, {"body.1": "Hana"})
    assert missing.value.keys == ["header.1", "body.2", "button.0"]
    with pytest.raises(TemplateInvalid) as too_long:
        send_components(
            ORDER_SHIPPED, {"header.1": "x" * 60, "body.1": "a", "body.2": "b", "button.0": "c"}
        )
    assert too_long.value.problems[0].field == "header"


def test_one_shape_serves_many_sends_each_with_its_own_values():
    """A campaign builds every recipient's send from one shape: each send carries its
    own values, and a send that fails leaves the next one unaffected."""
    shape = template_shape(NAMED)
    first = {"first_name": "Hana", "discount": "30%", "button.1": "SAVE30"}
    second = {"first_name": "Taro", "discount": "5%", "button.1": "SAVE5", "button.0": "STOP"}
    with pytest.raises(MissingValues):
        shape.send_components({"discount": "1%"})
    assert shape.send_components(first) == send_components(NAMED, first)
    assert shape.send_components(second) == send_components(NAMED, second)
    assert shape.send_components(first)[0]["parameters"][0]["text"] == "Hana"
    assert shape.send_components(second)[0]["parameters"][0]["text"] == "Taro"
    assert shape.preview(second).body == render_preview(NAMED, second).body


def test_media_header_and_authentication_sends():
    image = [
        {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::abc"]}},
        {"type": "BODY", "text": "New arrivals"},
    ]
    assert send_components(image, {"header": "https://cdn.test/a.jpg"}) == [
        {
            "type": "header",
            "parameters": [{"type": "image", "image": {"link": "https://cdn.test/a.jpg"}}],
        }
    ]
    assert send_components(image, {"header": "1234567"})[0]["parameters"][0]["image"] == {
        "id": "1234567"
    }
    auth = [
        {"type": "BODY", "add_security_recommendation": True},
        {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]},
    ]
    assert send_components(auth, {"1": "482913"}, category="AUTHENTICATION") == [
        {"type": "body", "parameters": [{"type": "text", "text": "482913"}]},
        {
            "type": "button",
            "sub_type": "url",
            "index": "0",
            "parameters": [{"type": "text", "text": "482913"}],
        },
    ]
    shown = render_preview(auth, {"1": "482913"}, category="AUTHENTICATION")
    assert shown.body == "482913 is your verification code."


def test_values_resolve_from_contact_conversation_and_flow_variables():
    context = {
        "contact": {"name": "Taro", "wa_id": "8190"},
        "conversation": {"id": 7},
        "vars": {"order_number": "A-77"},
    }
    values, unresolved = resolve_values(
        {
            "1": {"from": "contact.name"},
            "2": {"from": "vars.order_number"},
            "header.1": "literal",
            "button.0": {"from": "vars.tracking", "default": "none"},
            "x": {"from": "vars.absent"},
        },
        context,
    )
    assert values == {"1": "Taro", "2": "A-77", "header.1": "literal", "button.0": "none"}
    assert unresolved == ["x"]
