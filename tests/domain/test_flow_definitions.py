"""Flow documents: shape errors, every validation problem (naming widget and field),
``{{variables}}``, answer checks and condition rules."""

from __future__ import annotations

import copy

import pytest

from madoguchi.domain.flows import (
    DefinitionError,
    ValidationContext,
    parse_definition,
    templating,
    validate,
)
from madoguchi.domain.flows.answers import check_answer, normalize
from madoguchi.domain.flows.conditions import choose_exit, holds
from madoguchi.domain.flows.definition import Choice, Rule
from madoguchi.domain.flows.examples import guide_flow
from madoguchi.services.flows.definitions import all_problems

NUMBER = "301234567890123"


def problems(doc: dict, context: ValidationContext | None = None) -> set[tuple]:
    """The domain's checks plus WhatsApp's limits on the messages (``services.flows``)."""
    found = all_problems(parse_definition(doc), context or ValidationContext())
    return {(p.node, p.field, p.message) for p in found}


def where(doc: dict, context: ValidationContext | None = None) -> set[tuple]:
    return {(n, f) for n, f, _ in problems(doc, context)}


def guide() -> dict:
    return guide_flow([NUMBER])


def node(doc: dict, node_id: str) -> dict:
    return next(n for n in doc["nodes"] if n["id"] == node_id)


CONTEXT = ValidationContext(
    queues=frozenset({"Sales", "Support"}),
    agents=frozenset({"aiko@acme.test"}),
    flows=frozenset({"Billing"}),
    numbers=frozenset({NUMBER, "301234567890999"}),
    numbers_taken={"301234567890999": "Other flow"},
    flow_name="Guide",
)


def test_the_guides_flow_is_valid_in_english_and_japanese():
    assert problems(guide(), CONTEXT) == set()
    assert problems(guide_flow([NUMBER], language="ja"), CONTEXT) == set()


def test_shape_errors_name_the_widget_and_the_field():
    doc = guide()
    node(doc, "Ask_Department")["retries"] = "twice"
    node(doc, "Welcome")["colour"] = "red"
    doc["nodes"].append({"id": "Mystery", "type": "teleport"})
    with pytest.raises(DefinitionError) as caught:
        parse_definition(doc)
    found = {(p.node, p.field) for p in caught.value.problems}
    assert ("Ask_Department", "retries") in found
    assert ("Welcome", "colour") in found
    assert ("Mystery", "type") in found
    mystery = next(p for p in caught.value.problems if p.node == "Mystery")
    assert "unknown widget type" in mystery.message and "collect_input" in mystery.message


def test_unreachable_widgets():
    doc = guide()
    doc["nodes"].append({"id": "Orphan", "type": "end", "message": "bye"})
    assert ("Orphan", "id", "unreachable: no exit leads here from the Start") in problems(doc)


def test_exits_not_connected_and_bad_edges():
    doc = guide()
    doc["edges"] = [
        e for e in doc["edges"] if not (e["from"] == "Ask_Department" and e["exit"] == "invalid")
    ]
    doc["edges"].append({"from": "Welcome", "exit": "oops", "to": "Ask_Department"})
    doc["edges"].append({"from": "Welcome", "exit": "next", "to": "Route_to_Sales"})
    doc["edges"].append({"from": "Check_Department", "exit": "sales", "to": "Nowhere"})
    doc["edges"].append({"from": "Ghost", "exit": "next", "to": "Welcome"})
    doc["edges"].append({"from": "Route_to_Sales", "exit": "next", "to": "Start"})
    found = problems(doc)
    assert ("Ask_Department", "exits.invalid", "exit 'invalid' is not connected") in found
    messages = {(n, f): m for n, f, m in found}
    assert "has no exit 'oops'" in messages[("Welcome", "exits.oops")]
    assert "connected twice" in messages[("Welcome", "exits.next")]
    assert "leads to no widget 'Nowhere'" in messages[("Check_Department", "exits.sales")]
    assert "no widget 'Ghost'" in messages[(None, f"edges[{len(doc['edges']) - 2}].from")]
    assert "has no exit 'next'" in messages[("Route_to_Sales", "exits.next")]


def test_timeout_exit_exists_only_with_a_timeout():
    doc = guide_flow([NUMBER], timeout_seconds=None)
    assert problems(doc) == set()
    node(doc, "Ask_Department")["timeout_seconds"] = 60
    assert ("Ask_Department", "exits.timeout") in where(doc)


def test_unknown_variables_in_texts_and_rules():
    doc = guide()
    node(doc, "Welcome")["text"] = "Hi {{contact.name}}, your order {{order.id | ?}} {{ 1bad }}"
    node(doc, "Check_Department")["rules"][0]["variable"] = "departmnt"
    found = problems(doc)
    assert ("Welcome", "text", "unknown variable {{order.id}}") in found
    assert ("Welcome", "text", "{{ 1bad }} is not a variable reference") in found
    assert ("Check_Department", "rules[0].variable", "unknown variable 'departmnt'") in found
    # Declared, set by a widget, or built in: all known.
    doc = guide()
    doc["variables"] = {"order.id": ""}
    node(doc, "Welcome")["text"] = (
        "{{contact.name}} {{order.id}} {{department}} {{referral.headline}}"
    )
    assert problems(doc) == set()


def test_widgets_may_not_write_built_in_namespaces():
    doc = guide()
    node(doc, "Ask_Department")["variable"] = "contact.name"
    assert ("Ask_Department", "variable") in where(doc)


def test_route_to_targets_must_exist():
    doc = guide()
    node(doc, "Route_to_Sales")["queue"] = "Salez"
    doc["nodes"].append(
        {
            "id": "To_Agent",
            "type": "route_to",
            "target": "agent",
            "agent": "nobody@acme.test",
            "queue": "Support",
        }
    )
    doc["nodes"].append({"id": "To_Flow", "type": "route_to", "target": "flow", "flow": "Nope"})
    doc["nodes"].append({"id": "To_Self", "type": "route_to", "target": "flow", "flow": "Guide"})
    doc["nodes"].append({"id": "Hours", "type": "business_hours", "queue": "Night"})
    doc["nodes"].append({"id": "No_Queue", "type": "route_to", "target": "queue"})
    found = {(n, f): m for n, f, m in problems(doc, CONTEXT)}
    assert found[("Route_to_Sales", "queue")] == "no queue named 'Salez'"
    assert found[("To_Agent", "agent")] == "no user 'nobody@acme.test' in this workspace"
    assert found[("To_Flow", "flow")] == "no published flow named 'Nope'"
    assert "cannot route to itself" in found[("To_Self", "flow")]
    assert found[("Hours", "queue")] == "no queue named 'Night'"
    assert found[("No_Queue", "queue")] == "the queue is required"
    # Without a context, references are not checked (a draft being edited offline).
    assert ("Route_to_Sales", "queue") not in where(doc)


def test_start_needs_a_number_it_may_use():
    doc = guide()
    node(doc, "Start")["numbers"] = []
    assert ("Start", "numbers") in where(doc)
    node(doc, "Start")["callable"] = True  # started by other flows only
    assert ("Start", "numbers") not in where(doc)
    node(doc, "Start")["numbers"] = ["301234567890999", "555000000000001", "abc"]
    found = {(n, f): m for n, f, m in problems(doc, CONTEXT)}
    assert "already starts the flow 'Other flow'" in found[("Start", "numbers[0]")]
    assert found[("Start", "numbers[1]")] == "no WhatsApp number 555000000000001 in this workspace"
    assert "not a Meta phone number id" in found[("Start", "numbers[2]")]


def test_one_start_and_unique_ids():
    doc = guide()
    doc["nodes"].append({"id": "Start2", "type": "start", "numbers": [NUMBER]})
    doc["nodes"].append({"id": "Welcome", "type": "end"})
    found = where(doc)
    assert ("Start2", "type") in found and ("Welcome", "id") in found
    doc = guide()
    doc["nodes"] = [n for n in doc["nodes"] if n["type"] != "start"]
    doc["edges"] = [e for e in doc["edges"] if e["from"] != "Start"]
    assert (None, "nodes", "the flow has no Start widget") in problems(doc)


def test_loops_without_a_wait_are_refused_and_loops_with_one_are_fine():
    doc = guide()
    doc["nodes"].append(
        {
            "id": "Count",
            "type": "set_variable",
            "assignments": [{"variable": "n", "value": "{{n}}1"}],
        }
    )
    doc["nodes"].append(
        {
            "id": "Again",
            "type": "condition",
            "rules": [{"variable": "n", "op": "not_empty", "exit": "loop"}],
        }
    )
    doc["edges"] = [
        e for e in doc["edges"] if not (e["from"] == "Check_Department" and e["exit"] == "else")
    ]
    doc["edges"] += [
        {"from": "Check_Department", "exit": "else", "to": "Count"},
        {"from": "Count", "exit": "next", "to": "Again"},
        {"from": "Again", "exit": "loop", "to": "Count"},
        {"from": "Again", "exit": "else", "to": "Route_to_Support"},
    ]
    found = {(n, f): m for n, f, m in problems(doc)}
    assert "loop without a wait: Again → Count → Again" in found[("Again", "exits")]
    # The guide's own loop (Condition else → ask again) waits at the Collect Input.
    doc = guide()
    for edge in doc["edges"]:
        if edge["from"] == "Check_Department" and edge["exit"] == "else":
            edge["to"] = "Ask_Department"
    assert problems(doc) == set()


def test_widget_settings_are_checked():
    doc = guide()
    doc["nodes"] += [
        {"id": "Pic", "type": "send_media", "kind": "image"},
        {
            "id": "Voice",
            "type": "send_media",
            "kind": "audio",
            "media_url": "https://x.test/a.ogg",
            "text": "hi",
        },
        {"id": "Where", "type": "send_media", "kind": "location", "latitude": 35.6},
        {
            "id": "Plain",
            "type": "send_media",
            "kind": "image",
            "media_url": "http://insecure.test/a.png",
        },
        {
            "id": "Ask",
            "type": "collect_input",
            "input": "buttons",
            "variable": "v",
            "prompt": "?",
            "choices": [{"id": str(i), "title": f"Choice {i}"} for i in range(4)],
        },
        {
            "id": "Long",
            "type": "collect_input",
            "input": "buttons",
            "variable": "w",
            "prompt": "?",
            "choices": [{"id": "a", "title": "A title far too long for a button"}],
        },
        {
            "id": "Rx",
            "type": "collect_input",
            "variable": "x",
            "prompt": "?",
            "validation": "regex",
            "pattern": "([",
        },
        {
            "id": "Cond",
            "type": "condition",
            "rules": [
                {"variable": "department", "op": "gt", "value": "abc", "exit": "big"},
                {"variable": "department", "op": "like", "value": "1", "exit": "x"},
                {"variable": "department", "op": "one_of", "value": "1", "exit": "y"},
            ],
        },
        {"id": "Api", "type": "http_request", "url": "ftp://x.test"},
        {"id": "Tpl", "type": "send_template", "name": "Bad Name"},
        {"id": "Bye", "type": "end", "message": "x" * 5000},
    ]
    found = {(n, f): m for n, f, m in problems(doc)}
    assert found[("Pic", "media_url")] == "a image needs a media_url (https://) or a media_id"
    assert found[("Voice", "text")] == "WhatsApp shows no caption on audio messages"
    assert found[("Where", "longitude")] == "a location's longitude is required"
    assert found[("Plain", "media_url")] == "image.link must be an https:// URL"
    assert "WhatsApp allows 1 to 3" in found[("Ask", "choices")]
    assert "at most 20" in found[("Long", "choices[0].title")]
    assert found[("Rx", "pattern")].startswith("not a valid regular expression")
    assert "compares numbers" in found[("Cond", "rules[0].value")]
    assert "unknown operator 'like'" in found[("Cond", "rules[1].op")]
    assert found[("Cond", "rules[2].value")] == "one_of needs a list of values"
    assert "http:// or https://" in found[("Api", "url")]
    assert "lowercase letters" in found[("Tpl", "name")]
    assert "at most 4,096" in found[("Bye", "message")]


def test_the_domain_alone_checks_the_graph_and_settings():
    doc = guide()
    node(doc, "Welcome")["text"] = ""
    node(doc, "Route_to_Sales")["queue"] = "Nope"
    found = {(p.node, p.field) for p in validate(parse_definition(doc), CONTEXT)}
    assert found == {("Welcome", "text"), ("Route_to_Sales", "queue")}


# --------------------------------------------------------------------------- templating


def test_templating_fills_variables_with_fallbacks_and_types():
    variables = {"contact.name": "Aiko", "n": 3.0, "ok": True, "order": {"id": 7}, "empty": ""}
    text = (
        "Hi {{contact.name}}! {{n}} {{ok}} {{order}} [{{missing}}] {{empty|none}} "
        "{{ missing | friend }}"
    )
    assert templating.render(text, variables) == 'Hi Aiko! 3 true {"id":7} [] none friend'
    assert templating.references(text) == [
        "contact.name",
        "n",
        "ok",
        "order",
        "missing",
        "empty",
        "missing",
    ]
    assert templating.render_json({"n": "{{n}}", "s": "#{{n}}", "l": ["{{ok}}"]}, variables) == {
        "n": 3.0,
        "s": "#3",
        "l": [True],
    }
    data = {"order": {"items": [{"name": "Tea"}]}}
    assert templating.lookup(data, "order.items[0].name") == "Tea"
    assert templating.lookup(data, "order.items.0.name") == "Tea"
    assert templating.lookup(data, "order.nothing.here") is None
    assert templating.lookup(data, "$") == data


# --------------------------------------------------------------------------- answers


CHOICES = [Choice(id="1", title="Sales", aliases=["営業"]), Choice(id="2", title="Support")]


@pytest.mark.parametrize("text", ["1", " 1 ", "1️⃣", "１", "sales", "SALES", "営業"])
def test_choice_answers_people_really_type(text):
    assert check_answer("choices", text, choices=CHOICES).value == "1"


def test_choice_by_button_id_and_by_position():
    assert check_answer("choices", "Support", reply_id="2", choices=CHOICES).value == "2"
    lettered = [Choice(id="a", title="Apples"), Choice(id="b", title="Bananas")]
    assert check_answer("choices", "2", choices=lettered).value == "b"
    assert not check_answer("choices", "3", choices=CHOICES).ok
    assert check_answer("choices", "", choices=CHOICES).reason == "empty answer"


def test_number_regex_email_and_date_answers():
    assert check_answer("number", "1,234").value == 1234
    assert check_answer("number", "２.５").value == 2.5
    assert check_answer("number", "12", minimum=1, maximum=10).reason == "more than 10"
    assert not check_answer("number", "twelve").ok
    assert check_answer("regex", "AB-1234", pattern=r"[A-Z]{2}-\d{4}").ok
    assert not check_answer("regex", "AB-12345", pattern=r"[A-Z]{2}-\d{4}").ok
    assert check_answer("email", " Aiko@Example.COM ").value == "Aiko@example.com"
    assert not check_answer("email", "aiko@").ok
    assert check_answer("date", "2026-12-24").value == "2026-12-24"
    assert check_answer("date", "24/12/2026").value == "2026-12-24"
    assert check_answer("date", "2026年12月24日").value == "2026-12-24"
    assert not check_answer("date", "tomorrow").ok
    assert check_answer("none", "anything").value == "anything"
    assert normalize("  a  b ") == "a b"


# --------------------------------------------------------------------------- conditions


def rule(op, value=None, **kw):
    return Rule(variable="v", op=op, value=value, exit="hit", **kw)


@pytest.mark.parametrize(
    ("op", "value", "variable", "expected"),
    [
        ("equals", "1", "1", True),
        ("equals", "1", "1.0", True),
        ("equals", "yes", "YES", True),
        ("not_equals", "1", "2", True),
        ("one_of", ["a", "b"], "B", True),
        ("one_of", ["a", "b"], "c", False),
        ("contains", "refund", "I want a REFUND now", True),
        ("regex", r"^\d{3}$", "123", True),
        ("regex", r"^\d{3}$", "1234", False),
        ("lt", "10", "9", True),
        ("lte", "10", "10", True),
        ("gt", "10", "abc", False),
        ("gte", "{{limit}}", "5", True),
        ("is_empty", None, "", True),
        ("is_empty", None, None, True),
        ("not_empty", None, "x", True),
    ],
)
def test_condition_operators(op, value, variable, expected):
    assert holds(rule(op, value), {"v": variable, "limit": 5}) is expected


def test_case_sensitive_rules_and_first_match_wins():
    assert not holds(rule("equals", "yes", case_sensitive=True), {"v": "YES"})
    rules = [
        Rule(variable="v", op="gt", value="100", exit="big"),
        Rule(variable="v", op="gt", value="10", exit="medium"),
    ]
    assert choose_exit(rules, {"v": "500"}) == ("big", 0)
    assert choose_exit(rules, {"v": "50"}) == ("medium", 1)
    assert choose_exit(rules, {"v": "5"}) == ("else", None)


def test_definition_round_trips_through_json():
    doc = guide()
    parsed = parse_definition(doc)
    again = parse_definition(copy.deepcopy(parsed.to_json()))
    assert again.to_json() == parsed.to_json()
    assert parsed.to_json()["edges"][0] == {"from": "Start", "exit": "next", "to": "Welcome"}
