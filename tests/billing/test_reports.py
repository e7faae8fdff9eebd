"""Cost reports against a hand-computed set: totals, series by day/week/month in the
workspace's time zone, breakdowns, CSV; the monthly budget and its alerts."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from madoguchi.domain.events import BudgetAlert
from madoguchi.services.access.tokens import create_token
from madoguchi.services.billing.budgets import check_budgets
from madoguchi.store.models import (
    Conversation,
    Message,
    MessageCost,
    Queue,
    User,
    Workspace,
)
from tests.billing.costing import approve_templates, customer_writes, import_card, template

D = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday

# (priced_at, template, category, market, queue, agent, estimate, actual or None if unsettled)
ROWS = [
    (D + timedelta(hours=1), "spring_sale", "marketing", "JP", "sales", "aiko", 109700, 109700),
    (D + timedelta(hours=2), "spring_sale", "marketing", "JP", "sales", "aiko", 109700, 109700),
    (D + timedelta(hours=16), "order_shipped", "utility", "JP", "support", "ben", 0, 10600),
    (
        D + timedelta(days=1, hours=3),
        "order_shipped",
        "utility",
        "IN",
        "support",
        "ben",
        1400,
        None,
    ),
    (D + timedelta(days=8), "spring_sale", "marketing", "IN", "sales", None, 10700, 0),
    (D + timedelta(days=30), "login_code", "authentication", "BR", None, None, 7700, 7700),
]


async def seed_costs(stack) -> dict:
    conversation = await customer_writes(stack)
    async with stack.runtime.db.write() as session:
        ws = await session.scalar(select(Workspace.id))
        conv = await session.get(Conversation, conversation)
        queues = {n: Queue(workspace_id=ws, name=n.title()) for n in ("sales", "support")}
        agents = {
            n: User(workspace_id=ws, email=f"{n}@acme.test", name=n.title(), role="agent")
            for n in ("aiko", "ben")
        }
        session.add_all([*queues.values(), *agents.values()])
        await session.flush()
        for at, name, category, market, queue, agent, estimate, actual in ROWS:
            message = Message(
                workspace_id=ws,
                conversation_id=conversation,
                direction="outbound",
                type="template",
                status="delivered",
                content={},
                timestamp=at,
            )
            session.add(message)
            await session.flush()
            session.add(
                MessageCost(
                    workspace_id=ws,
                    message_id=message.id,
                    conversation_id=conversation,
                    phone_number_id=conv.phone_number_id,
                    queue_id=queues[queue].id if queue else None,
                    agent_id=agents[agent].id if agent else None,
                    template_name=name,
                    market=market,
                    currency="USD",
                    priced_at=at,
                    estimated_category=category,
                    estimated_billable=estimate > 0,
                    estimated_type="regular",
                    estimated_model="PMP",
                    estimated_micros=estimate,
                    actual_category=None if actual is None else category,
                    actual_billable=None if actual is None else actual > 0,
                    actual_micros=actual,
                    settlement=None if actual is None else "delivered",
                    settled_at=None if actual is None else at,
                )
            )
        # the unsettled one is still on its way (not delivered): the report keeps it so
        await session.execute(
            update(Message).where(Message.timestamp == ROWS[3][0]).values(status="sent")
        )
    return {"queues": {n: q.id for n, q in queues.items()}}


async def report(stack, **params):
    response = await stack.api("GET", "/api/v1/costs/report", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_report_totals_and_breakdowns_match_a_hand_computed_set(stack):
    ids = await seed_costs(stack)
    result = await report(stack, **{"from": "2026-11-01", "to": "2026-11-30", "by": "category"})
    # the login_code row is on 2 December: outside
    assert result["currency"] == "USD"
    assert result["total"] == {
        "key": "total",
        "label": None,
        "messages": 5,
        "billable": 4,
        "free": 1,
        "unsettled": 1,
        "unpriced": 0,
        "estimated": "0.2315",  # 0.1097 × 2 + 0 + 0.0014 + 0.0107
        "actual": "0.23",  # 0.1097 × 2 + 0.0106 + 0 (settled only)
        "difference": "-0.0001",  # actual − the estimates of settled messages (0.2301)
        "cost": "0.2314",  # actual where settled, else estimate: 0.23 + 0.0014
    }
    by_category = {line["key"]: line["cost"] for line in result["breakdown"]}
    assert by_category == {"marketing": "0.2194", "utility": "0.012"}
    days = {line["key"]: line["cost"] for line in result["series"]}
    assert len(days) == 30 and days["2026-11-02"] == "0.23" and days["2026-11-03"] == "0.0014"
    assert days["2026-11-10"] == "0" and days["2026-11-01"] == "0"

    weeks = await report(
        stack, **{"from": "2026-11-01", "to": "2026-12-06", "group": "week", "by": "market"}
    )
    assert [(w["key"], w["cost"]) for w in weeks["series"]] == [
        ("2026-10-26", "0"),
        ("2026-11-02", "0.2314"),
        ("2026-11-09", "0"),
        ("2026-11-16", "0"),
        ("2026-11-23", "0"),
        ("2026-11-30", "0.0077"),
    ]
    assert {m["key"]: m["messages"] for m in weeks["breakdown"]} == {"JP": 3, "IN": 2, "BR": 1}

    by_queue = await report(
        stack, **{"from": "2026-11-01", "to": "2026-12-31", "by": "queue", "group": "month"}
    )
    assert {q["label"]: q["cost"] for q in by_queue["breakdown"]} == {
        "Sales": "0.2194",
        "Support": "0.012",
        None: "0.0077",
    }
    assert [m["key"] for m in by_queue["series"]] == ["2026-11-01", "2026-12-01"]
    only_sales = await report(
        stack,
        **{
            "from": "2026-11-01",
            "to": "2026-12-31",
            "queue_id": ids["queues"]["sales"],
            "by": "agent",
        },
    )
    assert {a["label"]: a["messages"] for a in only_sales["breakdown"]} == {"Aiko": 2, None: 1}
    by_template = await report(
        stack,
        **{"from": "2026-11-01", "to": "2026-12-31", "by": "template", "category": "MARKETING"},
    )
    assert [(t["key"], t["messages"]) for t in by_template["breakdown"]] == [("spring_sale", 3)]


async def test_the_period_is_read_in_the_workspace_time_zone(stack):
    await seed_costs(stack)
    async with stack.runtime.db.write() as session:
        await session.execute(update(Workspace).values(timezone="Asia/Tokyo"))
    result = await report(stack, **{"from": "2026-11-02", "to": "2026-11-02"})
    # 16:00 UTC on the 2nd is 01:00 on the 3rd in Tokyo: only the two morning sends count
    assert (result["total"]["messages"], result["total"]["cost"]) == (2, "0.2194")


async def test_csv_with_bom_header_and_values(stack):
    await seed_costs(stack)
    response = await stack.api(
        "GET",
        "/api/v1/costs/report.csv",
        params={"from": "2026-11-01", "to": "2026-11-30", "by": "market"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "costs-market-2026-11-01-2026-11-30.csv" in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == [
        "market",
        "label",
        "messages",
        "billable",
        "free",
        "unsettled",
        "unpriced",
        "estimated",
        "actual",
        "difference",
        "cost",
        "currency",
    ]
    assert rows[1] == [
        "JP",
        "JP",
        "3",
        "3",
        "0",
        "0",
        "0",
        "0.2194",
        "0.23",
        "0.0106",
        "0.23",
        "USD",
    ]
    assert rows[-1][0] == "total" and rows[-1][-2] == "0.2314"
    series = await stack.api(
        "GET",
        "/api/v1/costs/report.csv",
        params={"from": "2026-11-01", "to": "2026-11-03", "rows": "series"},
    )
    lines = list(csv.reader(io.StringIO(series.content.decode("utf-8-sig"))))
    assert [line[0] for line in lines] == [
        "period",
        "2026-11-01",
        "2026-11-02",
        "2026-11-03",
        "total",
    ]


async def test_bad_report_requests_are_explained(stack):
    cases = [
        ({"from": "2026-11-05", "to": "2026-11-01"}, "invalid_period"),
        ({"from": "2020-01-01", "to": "2026-11-01"}, "invalid_period"),
    ]
    for params, code in cases:
        response = await stack.api("GET", "/api/v1/costs/report", params=params)
        assert response.status_code == 422 and response.json()["detail"]["code"] == code
    for params in ({"group": "year"}, {"by": "colour"}, {"from": "yesterday"}):
        assert (await stack.api("GET", "/api/v1/costs/report", params=params)).status_code == 422


async def test_differences_between_estimate_and_actual_are_listed(stack):
    await seed_costs(stack)
    response = await stack.api("GET", "/api/v1/costs/messages", params={"differences": "true"})
    rows = response.json()
    assert [(r["template_name"], r["estimated"], r["actual"]) for r in rows] == [
        ("spring_sale", "0.0107", "0"),
        ("order_shipped", "0", "0.0106"),
    ]
    assert all(r["differs"] for r in rows)


async def test_agents_see_no_costs(stack):
    async with stack.runtime.db.write() as session:
        ws = await session.scalar(select(Workspace.id))
        token = await create_token(session, ws, "agent", "agent")
    headers = {"Authorization": f"Bearer {token}"}
    for path in (
        "/api/v1/costs/report",
        "/api/v1/costs/report.csv",
        "/api/v1/costs/messages",
        "/api/v1/costs/budget",
    ):
        assert (await stack.client.get(path, headers=headers)).status_code == 403, path


async def test_budget_alerts_at_80_and_100_percent_once(stack):
    await import_card(stack)
    await approve_templates(stack)
    conversation = await customer_writes(stack)
    assert (await stack.api("GET", "/api/v1/costs/budget")).json() is None
    put = await stack.api(
        "PUT", "/api/v1/costs/budget", json={"monthly": "0.25", "currency": "usd"}
    )
    assert put.status_code == 200, put.text
    assert put.json() | {"month": None} == {
        "monthly": "0.25",
        "currency": "USD",
        "hard_limit": False,
        "month": None,
        "spent": "0",
        "percent": 0,
        "alerts_sent": [],
    }
    sends = []
    for _ in range(3):  # 0.1097 each: 43.9 %, 87.8 %, 131.6 %
        sends.append(
            await stack.api(
                "POST",
                f"/api/v1/conversations/{conversation}/messages",
                json=template("spring_sale"),
            )
        )
        sends.append(await check_budgets(stack.runtime.db))
    assert all(r.status_code == 202 for r in sends[::2])  # no hard limit: nothing blocked
    alerts = sends[1::2]
    assert alerts[0] == []
    assert [(a.threshold, a.spent, a.budget, a.currency) for a in alerts[1]] == [
        (80, "0.2194", "0.25", "USD")
    ]
    assert [(a.threshold, a.spent) for a in alerts[2]] == [(100, "0.3291")]
    assert all(isinstance(a, BudgetAlert) for a in alerts[1] + alerts[2])
    assert await check_budgets(stack.runtime.db) == []  # once per month and threshold
    state = (await stack.api("GET", "/api/v1/costs/budget")).json()
    assert (state["spent"], state["percent"], state["alerts_sent"]) == ("0.3291", 131.6, [80, 100])


async def test_a_hard_limit_refuses_templates_over_budget_but_not_free_messages(stack):
    await import_card(stack)
    await approve_templates(stack)
    conversation = await customer_writes(stack)
    await stack.api(
        "PUT",
        "/api/v1/costs/budget",
        json={"monthly": "0.15", "currency": "USD", "hard_limit": True},
    )
    send = f"/api/v1/conversations/{conversation}/messages"
    assert (await stack.api("POST", send, json=template("spring_sale"))).status_code == 202
    refused = await stack.api("POST", send, json=template("spring_sale"))
    assert refused.status_code == 409
    assert refused.json()["detail"]["code"] == "budget_exhausted"
    assert "0.15 USD" in refused.json()["detail"]["message"]
    # free in the service window: still sent
    assert (await stack.api("POST", send, json=template("order_shipped"))).status_code == 202
    text = {"message": {"type": "text", "text": {"body": "hi"}}}
    assert (await stack.api("POST", send, json=text)).status_code == 202
    async with stack.runtime.db.read() as session:
        assert len(list(await session.scalars(select(MessageCost)))) == 3  # nothing half-kept


async def test_budget_input_is_checked(stack):
    for body, code in [
        ({"monthly": "0", "currency": "USD"}, "invalid_budget"),
        ({"monthly": "lots", "currency": "USD"}, "invalid_budget"),
        ({"monthly": "10", "currency": "dollars"}, "invalid_currency"),
    ]:
        response = await stack.api("PUT", "/api/v1/costs/budget", json=body)
        assert response.status_code == 422 and response.json()["detail"]["code"] == code
    assert (await stack.api("DELETE", "/api/v1/costs/budget")).status_code == 404
