"""The Classify widget: intents defined by example messages send a conversation down the
exit of its intent (``other`` when none matches) and store the intent for routing and
reports. The definition's checks, the engine's walk, and the runner on both databases
with the offline classifier (English and Japanese)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from madoguchi.domain.flows import engine as fe
from madoguchi.domain.flows import parse_definition, validate
from madoguchi.services.assist.intent import classify
from tests.flows.flow_kit import (
    close_stack,
    flow_stack,
    new_customer,
    queue_name,
    says,
    wait_status,
)
from tests.flows.test_flow_runner import doc, runs

INTENTS = [
    {
        "name": "billing",
        "examples": ["I was charged twice", "my invoice is wrong", "請求が間違っています"],
    },
    {
        "name": "delivery",
        "examples": ["where is my parcel", "my order has not arrived", "荷物が届きません"],
    },
]


def classify_flow() -> dict:
    return doc(
        {"id": "Topic", "type": "classify", "intents": INTENTS},
        {"id": "To_Sales", "type": "route_to", "queue": "Sales"},
        {"id": "To_Support", "type": "route_to", "queue": "Support"},
        {"id": "To_Night", "type": "route_to", "queue": "Night"},
        edges=[
            ("Start", "next", "Topic"),
            ("Topic", "billing", "To_Sales"),
            ("Topic", "delivery", "To_Support"),
            ("Topic", "other", "To_Night"),
        ],
    )


def test_a_valid_classify_and_its_exits():
    definition = parse_definition(classify_flow())
    assert validate(definition) == []
    assert definition.node("Topic").exits() == ["billing", "delivery", "other"]


@pytest.mark.parametrize(
    ("intents", "field", "message"),
    [
        ([], "intents", "at least one intent"),
        ([{"name": "other", "examples": ["x"]}], "intents[0].name", "'other'"),
        ([{"name": "bad name", "examples": ["x"]}], "intents[0].name", "letters, digits"),
        ([{"name": "a", "examples": [" "]}], "intents[0].examples", "at least one example"),
        (
            [{"name": "a", "examples": ["x"]}, {"name": "a", "examples": ["y"]}],
            "intents[1].name",
            "named twice",
        ),
        ([{"name": "a", "examples": ["x"] * 201}], "intents", "at most 200"),
    ],
)
def test_bad_classify_settings_name_the_field(intents, field, message):
    definition = classify_flow()
    definition["nodes"][1]["intents"] = intents
    problems = [p for p in validate(parse_definition(definition)) if p.node == "Topic"]
    assert any(p.field == field and message in p.message for p in problems), problems


def test_the_engine_follows_the_intent_and_stores_it():
    definition = parse_definition(classify_flow())

    def walk(text: str, classifier) -> fe.Advance:
        context = fe.Context(now=datetime.now(UTC), classify=classifier)
        return fe.advance(definition, fe.RunState(), fe.Begin({"message.text": text}), context)

    routed = walk("my parcel never came", classify)
    assert routed.state.variables["intent"] == "delivery"
    assert [a.queue for a in routed.actions if isinstance(a, fe.RouteToQueue)] == ["Support"]
    # No classifier, an unknown answer, or nothing in common: "other".
    assert walk("my parcel never came", None).state.variables["intent"] == "other"
    assert walk("x", lambda text, intents: "nope").state.variables["intent"] == "other"
    assert walk("good morning", classify).state.variables["intent"] == "other"


def test_offline_classifier_in_both_languages():
    intents = {i["name"]: i["examples"] for i in INTENTS}
    assert classify("You charged me twice this month!", intents) == "billing"
    assert classify("注文した荷物がまだ届きません", intents) == "delivery"
    assert classify("請求書が間違っているようです", intents) == "billing"
    assert classify("", intents) is None
    assert classify("hello there", intents) is None


async def test_the_runner_routes_by_intent(db_url, tmp_path):
    s = await flow_stack(
        db_url, tmp_path, flows=[{"name": "Intent", "definition": classify_flow()}]
    )
    try:
        cases = [
            ("I think you charged me twice", "Sales"),
            ("荷物がまだ届きません", "Support"),
            ("hello", "Night"),
        ]
        for text, queue in cases:
            customer = new_customer()
            await says(s, customer, text)
            conversation = await wait_status(s, customer, "queued")
            assert await queue_name(s, conversation) == queue, text
            [run] = await runs(s, conversation.id)
            expected = {"Sales": "billing", "Support": "delivery", "Night": "other"}[queue]
            assert run.variables["intent"] == expected
    finally:
        await close_stack(s)
