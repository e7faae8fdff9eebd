"""The flow engine, widget by widget: every exit (timeouts and invalid answers too),
stale events, and the loop guard — pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime

from madoguchi.domain.business_hours import BusinessHours
from madoguchi.domain.flows import engine as fe
from madoguchi.domain.flows import parse_definition
from madoguchi.domain.flows.examples import guide_flow

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # Wednesday 12:00 in Tokyo


def flow(*nodes: dict, edges: list[tuple[str, str, str]], first: str | None = None):
    start = {"id": "Start", "type": "start", "numbers": ["301234567890123"]}
    all_edges = [("Start", "next", first or nodes[0]["id"]), *edges]
    return parse_definition(
        {
            "nodes": [start, *nodes],
            "edges": [{"from": a, "exit": e, "to": b} for a, e, b in all_edges],
        }
    )


def run(definition, event, state=None, **context):
    return fe.advance(definition, state or fe.RunState(), event, fe.Context(now=NOW, **context))


def sends(result) -> list[dict]:
    return [a.message for a in result.actions if isinstance(a, fe.Send)]


def results(result) -> list[tuple[str, str]]:
    return [(s.node, s.result) for s in result.steps]


END = {"id": "Done", "type": "end"}
SALES = {"id": "Sales", "type": "route_to", "queue": "Sales", "priority": 5}
SUPPORT = {"id": "Support", "type": "route_to", "queue": "Support"}


def test_the_guides_flow_greets_asks_and_routes():
    definition = parse_definition(guide_flow(["301234567890123"]))
    first = run(definition, fe.Begin({"contact.name": "Aiko"}))
    assert [m["text"]["body"] for m in sends(first)] == [
        "Hi! 👋 We're here 24/7 to help as best we can, and we'll connect you to a human "
        "agent if needed.",
        "For sales 🧾 press 1️⃣ — for support 🙋🏼‍♂️ press 2️⃣",
    ]
    assert first.state.status == "waiting" and first.state.node == "Ask_Department"
    wait = next(a for a in first.actions if isinstance(a, fe.WaitForInput))
    assert (wait.seq, wait.timeout_seconds) == (1, 900)
    assert results(first) == [("Start", "next"), ("Welcome", "next"), ("Ask_Department", "waiting")]

    second = run(definition, fe.Inbound("2"), first.state)
    assert second.actions == [fe.RouteToQueue("Route_to_Support", "Support", None)]
    assert second.state.status == "routed" and second.state.variables["department"] == "2"
    assert results(second) == [
        ("Ask_Department", "success"),
        ("Check_Department", "support"),
        ("Route_to_Support", "routed"),
    ]


def test_collect_input_re_prompts_then_takes_the_invalid_exit():
    definition = parse_definition(guide_flow(["301234567890123"]))
    state = run(definition, fe.Begin()).state
    first = run(definition, fe.Inbound("3"), state)
    assert results(first) == [("Ask_Department", "retry")]
    assert sends(first)[0]["text"]["body"].startswith("Sorry, I didn't get that.")
    assert first.state.retries == 1 and first.state.seq == 2
    second = run(definition, fe.Inbound("maybe"), first.state)
    assert results(second) == [("Ask_Department", "retry")]
    third = run(definition, fe.Inbound("no idea"), second.state)
    assert results(third)[0] == ("Ask_Department", "invalid")
    assert third.actions == [fe.RouteToQueue("Route_to_Support", "Support", None)]
    assert third.steps[0].detail == {"answer": "no idea", "reason": "not one of the choices"}


def test_collect_input_timeout_exit_and_stale_timeouts():
    definition = parse_definition(guide_flow(["301234567890123"]))
    state = run(definition, fe.Begin()).state
    retried = run(definition, fe.Inbound("?"), state).state  # wait 2 replaces wait 1
    stale = run(definition, fe.Timeout(seq=1), retried)
    assert stale.steps == [] and stale.actions == [] and stale.state == retried
    fired = run(definition, fe.Timeout(seq=2), retried)
    assert results(fired) == [("Ask_Department", "timeout"), ("Route_to_Support", "routed")]


def test_buttons_and_lists_send_interactive_messages_and_take_the_tapped_id():
    ask = {
        "id": "Ask",
        "type": "collect_input",
        "prompt": "Hello {{contact.name}}, how can we help?",
        "input": "buttons",
        "variable": "topic",
        "choices": [{"id": "billing", "title": "Billing"}, {"id": "tech", "title": "Technical"}],
    }
    definition = flow(
        ask, SUPPORT, edges=[("Ask", "success", "Support"), ("Ask", "invalid", "Support")]
    )
    first = run(definition, fe.Begin({"contact.name": "Ren"}))
    assert sends(first) == [
        {
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": "Hello Ren, how can we help?"},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": "billing", "title": "Billing"}},
                        {"type": "reply", "reply": {"id": "tech", "title": "Technical"}},
                    ]
                },
            },
        }
    ]
    tapped = run(definition, fe.Inbound("Technical", "interactive", reply_id="tech"), first.state)
    assert tapped.state.variables["topic"] == "tech"

    listed = flow(
        {
            **ask,
            "input": "list",
            "list_button": "Topics",
            "choices": [
                *ask["choices"],
                {"id": "x", "title": "Other", "description": "Anything else"},
            ],
        },
        SUPPORT,
        edges=[("Ask", "success", "Support"), ("Ask", "invalid", "Support")],
    )
    message = sends(run(listed, fe.Begin()))[0]["interactive"]
    assert message["type"] == "list" and message["action"]["button"] == "Topics"
    assert message["action"]["sections"][0]["rows"][2] == {
        "id": "x",
        "title": "Other",
        "description": "Anything else",
    }


def test_send_media_kinds():
    media = [
        {"id": "T", "type": "send_media", "text": "Order {{order}}"},
        {
            "id": "I",
            "type": "send_media",
            "kind": "image",
            "media_url": "https://cdn.test/{{order}}.png",
            "text": "cap",
        },
        {
            "id": "D",
            "type": "send_media",
            "kind": "document",
            "media_id": "123",
            "filename": "invoice.pdf",
        },
        {
            "id": "S",
            "type": "send_media",
            "kind": "sticker",
            "media_url": "https://cdn.test/s.webp",
        },
        {
            "id": "L",
            "type": "send_media",
            "kind": "location",
            "latitude": 35.68,
            "longitude": 139.76,
            "location_name": "Tokyo",
        },
    ]
    edges = [(a["id"], "next", b["id"]) for a, b in zip(media, [*media[1:], END], strict=True)]
    definition = flow(*media, END, edges=edges)
    result = run(definition, fe.Begin({"order": "A7"}))
    assert sends(result) == [
        {"type": "text", "text": {"body": "Order A7", "preview_url": False}},
        {"type": "image", "image": {"link": "https://cdn.test/A7.png", "caption": "cap"}},
        {"type": "document", "document": {"id": "123", "filename": "invoice.pdf"}},
        {"type": "sticker", "sticker": {"link": "https://cdn.test/s.webp"}},
        {"type": "location", "location": {"latitude": 35.68, "longitude": 139.76, "name": "Tokyo"}},
    ]
    assert result.actions[-1] == fe.EndConversation("Done")
    assert result.state.status == "ended"


def test_condition_set_variable_and_else():
    nodes = [
        {
            "id": "Set",
            "type": "set_variable",
            "assignments": [
                {"variable": "tier", "value": "{{contact.name}}-gold"},
                {"variable": "limit", "value": 3},
            ],
        },
        {
            "id": "Check",
            "type": "condition",
            "rules": [{"variable": "tier", "op": "contains", "value": "gold", "exit": "vip"}],
        },
        SALES,
        SUPPORT,
    ]
    edges = [("Set", "next", "Check"), ("Check", "vip", "Sales"), ("Check", "else", "Support")]
    result = run(flow(*nodes, edges=edges), fe.Begin({"contact.name": "Mei"}))
    assert result.state.variables["tier"] == "Mei-gold" and result.state.variables["limit"] == 3
    assert result.actions == [fe.RouteToQueue("Sales", "Sales", 5)]
    other = run(flow(*nodes, edges=edges), fe.Begin({"contact.name": None}))
    assert other.actions == [fe.RouteToQueue("Sales", "Sales", 5)]  # "-gold" still contains gold
    nodes[0] = {
        "id": "Set",
        "type": "set_variable",
        "assignments": [{"variable": "tier", "value": "basic"}],
    }
    assert run(flow(*nodes, edges=edges), fe.Begin()).actions == [
        fe.RouteToQueue("Support", "Support", None)
    ]


def test_http_request_success_failure_and_stale_answers():
    api = {
        "id": "Lookup",
        "type": "http_request",
        "method": "POST",
        "url": "https://api.test/orders/{{order}}",
        "headers": {"X-Customer": "{{contact.wa_id}}"},
        "body": {"order": "{{order}}", "note": "from {{contact.wa_id}}"},
        "timeout_seconds": 2,
        "map": {"status": "order.status", "eta": "order.eta"},
    }
    say = {"id": "Say", "type": "send_media", "text": "Your order is {{status}}"}
    definition = flow(
        api,
        say,
        END,
        SUPPORT,
        edges=[
            ("Lookup", "success", "Say"),
            ("Lookup", "failure", "Support"),
            ("Say", "next", "Done"),
        ],
    )
    first = run(definition, fe.Begin({"order": 42, "contact.wa_id": "8190"}))
    [call] = first.actions
    assert call == fe.CallHttp(
        "Lookup",
        1,
        "POST",
        "https://api.test/orders/42",
        {"X-Customer": "8190"},
        {"order": 42, "note": "from 8190"},
        2,
    )
    assert first.state.wait == "http" and results(first) == [("Start", "next")]

    ok = run(definition, fe.HttpResult(1, 200, {"order": {"status": "shipped"}}), first.state)
    assert sends(ok)[0]["text"]["body"] == "Your order is shipped"
    assert ok.state.variables["eta"] is None and ok.state.variables["http.status"] == 200
    assert results(ok)[0] == ("Lookup", "success")

    for answer, error in [
        (fe.HttpResult(1, 500, {"error": "boom"}), "HTTP 500"),
        (fe.HttpResult(1, error="no answer within 2 s"), "no answer within 2 s"),
        (fe.HttpResult(1, 200, None), "the answer is not a JSON object or list"),
    ]:
        failed = run(definition, answer, first.state)
        assert results(failed)[0] == ("Lookup", "failure")
        assert failed.state.variables["http.error"] == error
        assert failed.actions == [fe.RouteToQueue("Support", "Support", None)]

    stale = run(definition, fe.HttpResult(0, 200, {}), first.state)
    assert stale.actions == [] and stale.state == first.state


def test_business_hours_open_and_closed_by_the_queues_calendar():
    hours = {"id": "Hours", "type": "business_hours", "queue": "Sales"}
    definition = flow(
        hours, SALES, SUPPORT, edges=[("Hours", "open", "Sales"), ("Hours", "closed", "Support")]
    )
    weekdays = BusinessHours.parse("Asia/Tokyo", {"wed": [["09:00", "18:00"]]}, [])
    assert run(definition, fe.Begin(), calendars={"Sales": weekdays}).actions[0].node == "Sales"
    holiday = BusinessHours.parse("Asia/Tokyo", {"wed": [["09:00", "18:00"]]}, ["2026-11-25"])
    assert run(definition, fe.Begin(), calendars={"Sales": holiday}).actions[0].node == "Support"
    missing = run(definition, fe.Begin(), calendars={})
    assert missing.state.status == "failed" and "no queue named 'Sales'" in missing.state.error


def test_route_to_agent_flow_and_send_template():
    nodes = [
        {
            "id": "Tpl",
            "type": "send_template",
            "name": "order_update",
            "language": "ja",
            "parameters": ["{{contact.name}}", ""],
        },
        {
            "id": "Agent",
            "type": "route_to",
            "target": "agent",
            "agent": "aiko@acme.test",
            "queue": "Support",
            "priority": 9,
        },
    ]
    result = run(flow(*nodes, edges=[("Tpl", "next", "Agent")]), fe.Begin({"contact.name": "Sora"}))
    assert sends(result) == [
        {
            "type": "template",
            "template": {
                "name": "order_update",
                "language": {"code": "ja"},
                "components": [
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "text": "Sora"},
                            {"type": "text", "text": "-"},
                        ],
                    }
                ],
            },
        }
    ]
    assert result.actions[-1] == fe.RouteToAgent("Agent", "aiko@acme.test", "Support", 9)
    handoff = run(
        flow({"id": "Next", "type": "route_to", "target": "flow", "flow": "Billing"}, edges=[]),
        fe.Begin(),
    )
    assert handoff.actions == [fe.RouteToFlow("Next", "Billing")]
    assert handoff.state.status == "handed_off"


def test_end_says_goodbye_and_closes():
    definition = flow({"id": "Bye", "type": "end", "message": "Thanks {{contact.name}}!"}, edges=[])
    result = run(definition, fe.Begin({"contact.name": "Yui"}))
    assert result.actions == [
        fe.Send("Bye", {"type": "text", "text": {"body": "Thanks Yui!"}}),
        fe.EndConversation("Bye"),
    ]
    assert result.state.status == "ended" and results(result) == [
        ("Start", "next"),
        ("Bye", "ended"),
    ]


def test_the_loop_guard_stops_a_flow_that_never_waits():
    # Validation refuses this flow; the engine must still never spin on it.
    nodes = [
        {"id": "A", "type": "set_variable", "assignments": [{"variable": "n", "value": "x"}]},
        {
            "id": "B",
            "type": "condition",
            "rules": [{"variable": "n", "op": "not_empty", "exit": "again"}],
        },
    ]
    definition = flow(
        *nodes, END, edges=[("A", "next", "B"), ("B", "again", "A"), ("B", "else", "Done")]
    )
    result = run(definition, fe.Begin(), budget=50)
    assert result.state.status == "failed"
    assert result.executed == 50
    assert isinstance(result.actions[-1], fe.Fail)
    assert "without waiting for the customer" in result.actions[-1].error
    assert result.steps[-1].result == "error"


def test_an_exit_leading_nowhere_fails_the_run_instead_of_guessing():
    definition = flow({"id": "Hi", "type": "send_media", "text": "hi"}, edges=[])
    result = run(definition, fe.Begin())
    assert result.state.status == "failed" and "leads nowhere" in result.state.error


def test_events_for_a_finished_or_non_waiting_run_change_nothing():
    definition = parse_definition(guide_flow(["301234567890123"]))
    done = fe.RunState(node="Route_to_Sales", status="routed")
    assert run(definition, fe.Inbound("1"), done).steps == []
    busy = fe.RunState(node="Ask_Department", status="waiting", wait="http", seq=3)
    assert run(definition, fe.Inbound("1"), busy).steps == []


def test_advance_leaves_the_given_state_and_its_nested_variables_untouched():
    """The runner keeps the run's stored state until the walk's is committed: a walk
    that changes variables (here an HTTP answer mapped over nested ones) works on a copy."""
    api = {
        "id": "Lookup",
        "type": "http_request",
        "method": "GET",
        "url": "https://api.test/orders",
        "timeout_seconds": 2,
        "map": {"status": "order.status"},
    }
    set_ = {
        "id": "Set",
        "type": "set_variable",
        "assignments": [{"variable": "tier", "value": "gold"}],
    }
    definition = flow(
        api, set_, SUPPORT, edges=[("Lookup", "success", "Set"), ("Set", "next", "Support")]
    )
    nested = {"items": [{"sku": "A", "tags": ["x"]}], "n": 1}
    first = run(definition, fe.Begin({"order": nested, "list": [1, [2]]}))
    before = repr(first.state)
    done = run(definition, fe.HttpResult(1, 200, {"order": {"status": "shipped"}}), first.state)
    assert done.state.variables["tier"] == "gold" and done.state.variables["status"] == "shipped"
    assert repr(first.state) == before and "tier" not in first.state.variables
    copied = done.state.variables["order"]
    assert copied == nested and copied is not nested
    assert copied["items"][0] is not nested["items"][0]
    assert copied["items"][0]["tags"] is not nested["items"][0]["tags"]
    copied["items"][0]["tags"].append("y")
    assert nested["items"][0]["tags"] == ["x"] and first.state.variables["list"] == [1, [2]]
