"""The guide's flow, as a flow document: the demo seeds it, the docs show it, the tests
and the benchmark run it.

Start (bound to a WhatsApp number) → Send Media (the welcome) → Collect Input ("for sales
press 1, for support press 2") → Condition (1 → Route_to_Sales, 2 → Route_to_Support)
→ Route To (a queue). An answer that is not 1 or 2 is asked again twice, then goes to
Support, as does a customer who does not answer within the timeout.
"""

from __future__ import annotations

from typing import Any

TEXTS = {
    "en": {
        "welcome": (
            "Hi! 👋 We're here 24/7 to help as best we can, and we'll connect you to a "
            "human agent if needed."
        ),
        "ask": "For sales 🧾 press 1️⃣ — for support 🙋🏼‍♂️ press 2️⃣",
        "retry": "Sorry, I didn't get that. For sales 🧾 press 1️⃣ — for support 🙋🏼‍♂️ press 2️⃣",
        "sales": "Sales",
        "support": "Support",
    },
    "ja": {
        "welcome": (
            "こんにちは！👋 24時間365日、できる限りお手伝いします。必要に応じて担当者に"
            "おつなぎします。"
        ),
        "ask": "営業 🧾 は 1️⃣ を、サポート 🙋🏼‍♂️ は 2️⃣ を押してください",
        "retry": "すみません、もう一度お願いします。営業 🧾 は 1️⃣、サポート 🙋🏼‍♂️ は 2️⃣ です",
        "sales": "営業",
        "support": "サポート",
    },
}


def guide_flow(
    numbers: list[str] | None = None,
    *,
    language: str = "en",
    sales_queue: str = "Sales",
    support_queue: str = "Support",
    timeout_seconds: int | None = 900,
) -> dict[str, Any]:
    """The guide's flow; ``numbers`` are the Meta phone number ids that start it."""
    text = TEXTS[language]
    ask: dict[str, Any] = {
        "id": "Ask_Department",
        "type": "collect_input",
        "prompt": text["ask"],
        "input": "text",
        "variable": "department",
        "validation": "choices",
        "choices": [
            {"id": "1", "title": text["sales"], "aliases": ["sales", "営業"]},
            {"id": "2", "title": text["support"], "aliases": ["support", "サポート"]},
        ],
        "retries": 2,
        "retry_prompt": text["retry"],
    }
    edges = [
        ("Start", "next", "Welcome"),
        ("Welcome", "next", "Ask_Department"),
        ("Ask_Department", "success", "Check_Department"),
        ("Ask_Department", "invalid", "Route_to_Support"),
        ("Check_Department", "sales", "Route_to_Sales"),
        ("Check_Department", "support", "Route_to_Support"),
        ("Check_Department", "else", "Route_to_Support"),
    ]
    if timeout_seconds:
        ask["timeout_seconds"] = timeout_seconds
        edges.insert(4, ("Ask_Department", "timeout", "Route_to_Support"))
    return {
        "nodes": [
            {"id": "Start", "type": "start", "numbers": list(numbers or [])},
            {"id": "Welcome", "type": "send_media", "kind": "text", "text": text["welcome"]},
            ask,
            {
                "id": "Check_Department",
                "type": "condition",
                "rules": [
                    {"variable": "department", "op": "equals", "value": "1", "exit": "sales"},
                    {"variable": "department", "op": "equals", "value": "2", "exit": "support"},
                ],
            },
            {"id": "Route_to_Sales", "type": "route_to", "target": "queue", "queue": sales_queue},
            {
                "id": "Route_to_Support",
                "type": "route_to",
                "target": "queue",
                "queue": support_queue,
            },
        ],
        "edges": [{"from": a, "exit": e, "to": b} for a, e, b in edges],
    }
