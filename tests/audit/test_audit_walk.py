"""Every route that changes something leaves an audit entry — checked on the route table.

The routes are read from the application itself (as in ``tests/access/test_isolation.py``,
whose world and samples this test reuses), so a route added later is covered the day it is
added: each ``POST``/``PUT``/``PATCH``/``DELETE`` is called with an admin's credentials
against the simulator, and a successful call must add an entry to the audit log — unless
the route is in ``NOT_AUDITED`` below, with the reason it is not a change of configuration
or of someone else's work (a message an agent sends is itself the record). A route that is
neither must succeed here: if it does not, fix its sample below (or in the isolation test).

Secrets sent along (passwords, Meta's access tokens) must never appear in any entry.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from madoguchi.simulator.config import SimNumber
from madoguchi.store.models import AuditEntry, Conversation, RateCard
from tests.access import test_isolation as iso
from tests.access.people import PASSWORD
from tests.conftest import SIM_NUMBER, WABA_ID, start_sim_stack

# (method, path) -> why a successful call needs no audit entry.
CONVERSATION_WORK = (
    "an agent's work on a conversation: recorded by the conversation itself (its messages, "
    "lifecycle rows in conversation_events, calls), not a configuration change"
)
NOT_AUDITED: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/auth/login"): "signing in changes nothing of anyone's configuration",
    ("POST", "/api/v1/auth/logout"): "signing out ends the caller's own session",
    ("PUT", "/api/v1/agents/me/presence"): "the caller's own availability",
    ("POST", "/api/v1/conversations/{conversation_id}/messages"): CONVERSATION_WORK,
    ("POST", "/api/v1/conversations/{conversation_id}/read"): CONVERSATION_WORK,
    ("POST", "/api/v1/contacts/{contact_id}/messages"): CONVERSATION_WORK,
    ("POST", "/api/v1/outbound"): CONVERSATION_WORK,
    ("POST", "/api/v1/media"): "an attachment uploaded for a message (the message records it)",
    ("POST", "/api/v1/conversations/{conversation_id}/queue"): CONVERSATION_WORK,
    ("POST", "/api/v1/conversations/{conversation_id}/accept"): CONVERSATION_WORK,
    ("POST", "/api/v1/conversations/{conversation_id}/decline"): CONVERSATION_WORK,
    ("POST", "/api/v1/conversations/{conversation_id}/transfer"): CONVERSATION_WORK,
    ("POST", "/api/v1/conversations/{conversation_id}/wrap-up"): CONVERSATION_WORK,
    ("POST", "/api/v1/conversations/{conversation_id}/close"): CONVERSATION_WORK,
    ("POST", "/api/v1/conversations/{conversation_id}/notes"): CONVERSATION_WORK,
    ("PUT", "/api/v1/conversations/{conversation_id}/tags"): CONVERSATION_WORK,
    ("PUT", "/api/v1/conversations/{conversation_id}/summary"): CONVERSATION_WORK,
    ("POST", "/api/v1/conversations/{conversation_id}/draft-answer"): "a suggestion, nothing kept",
    ("POST", "/api/v1/calls/{call_id}/accept"): CONVERSATION_WORK,
    ("POST", "/api/v1/calls/{call_id}/decline"): CONVERSATION_WORK,
    ("POST", "/api/v1/calls/{call_id}/hangup"): CONVERSATION_WORK,
    ("POST", "/api/v1/conversations/{conversation_id}/calls"): CONVERSATION_WORK,
    ("POST", "/api/v1/conversations/{conversation_id}/call-permission"): CONVERSATION_WORK,
    ("POST", "/api/v1/conversations/{conversation_id}/video-links"): CONVERSATION_WORK,
    ("DELETE", "/api/v1/conversations/{conversation_id}/monitor"): (
        "ends the caller's own monitoring (its start is audited; its end is a lifecycle row)"
    ),
    ("POST", "/api/v1/flows/validate"): "checks a definition, keeps nothing",
    ("POST", "/api/v1/flows/{flow_id}/validate"): "checks the draft, keeps nothing",
    ("POST", "/api/v1/templates/{template_id}/preview"): "renders a template, keeps nothing",
    ("POST", "/api/v1/costs/estimate"): "computes a price, keeps nothing",
    ("POST", "/api/v1/phone-numbers/{number_id}/health/check"): (
        "reads the number's state from Meta and keeps Meta's answers; changes no setting"
    ),
}

# A route whose call may legitimately change nothing, and so record nothing.
NOTHING_TO_DO = {
    ("POST", "/api/v1/supervision/agents/{agent_id}/release-offers"): (
        lambda response: response.json().get("released") == []
    ),
}

CONNECTED = SimNumber(
    phone_number_id="301234567890555",
    display_phone_number="+1 555 0155",
    waba_id=WABA_ID,
    access_token="sim-token-audited-spare",
    verified_name="ACME Spare",
)
NEW_PASSWORD = "an audited new password"
EXISTING_PIN = "246810"  # the signup fails at registration, and its retry gives this PIN
PUBLISHABLE = {
    "variables": {},
    "nodes": [
        {"id": "Start", "type": "start", "numbers": [iso.PHONE_NUMBER_ID]},
        {"id": "Done", "type": "end"},
    ],
    "edges": [{"from": "Start", "exit": "next", "to": "Done"}],
}

# Samples that differ from the isolation test's: there, another workspace's admin must be
# refused; here, the workspace's own admin must succeed (and change something).
OWN_SAMPLES = {
    ("POST", "/api/v1/flows/import"): lambda w: {
        "json": {"name": w.unique("Imported "), "definition": {"nodes": [], "edges": []}}
    },
    ("PUT", "/api/v1/flows/{flow_id}"): lambda w: {
        "json": {"name": "Alpha Flow, edited", "definition": PUBLISHABLE}
    },
    ("POST", "/api/v1/conversations/{conversation_id}/barge"): lambda w: {
        "json": {
            "message": {
                "type": "template",
                "template": {"name": "alpha_promo", "language": {"code": "en"}},
            }
        }
    },
    ("POST", "/api/v1/onboarding/signups/{signup_id}/retry"): lambda w: {
        "json": {"pin": EXISTING_PIN}
    },
    ("PUT", "/api/v1/supervision/agents/{agent_id}/presence"): lambda w: {
        "json": {"status": "offline"}
    },
    ("PATCH", "/api/v1/users/{user_id}"): lambda w: {
        "json": {"name": "Renamed Agent", "password": NEW_PASSWORD}
    },
    ("POST", "/api/v1/phone-numbers"): lambda w: {
        "json": {
            "waba_id": WABA_ID,
            "phone_number_id": CONNECTED.phone_number_id,
            "display_phone_number": CONNECTED.display_phone_number,
            "access_token": CONNECTED.access_token,
        }
    },
    ("POST", "/api/v1/onboarding/signups"): lambda w: {
        "json": {
            "code": w.ids["popup"]["code"],
            "waba_id": w.ids["popup"]["waba_id"],
            "phone_number_id": w.ids["popup"]["phone_number_id"],
            "pin": "123456",
        }
    },
    ("PUT", "/api/v1/assist/settings"): lambda w: {
        "json": {"llm_enabled": False, "negative_alert_queue_ids": [w.ids["queue"]]}
    },
    ("PUT", "/api/v1/campaigns/{campaign_id}"): lambda w: {
        "json": {
            "name": "Alpha Campaign, renamed",
            "phone_number_id": iso.PHONE_NUMBER_ID,
            "template_id": w.ids["template"],
        }
    },
    ("PUT", "/api/v1/costs/budget"): lambda w: {"json": {"monthly": "500.00", "currency": "USD"}},
}

# What a successful call leaves for the routes after it.
AFTER = {
    ("POST", "/api/v1/onboarding/signups"): lambda w, r: w.ids.update(signup=r.json()["id"]),
    ("POST", "/api/v1/phone-numbers"): lambda w, r: w.ids.update(spare_number=r.json()["id"]),
}

# The order matters for a few. First: the agent leaves the queue before the queue's
# members are replaced. Last (in this order): after everything that still needs the
# number, the queue, the campaign's draft, the flow; the number removed is the spare one
# connected during the walk (the workspace's own has conversations, and stays).
FIRST = [("DELETE", "/api/v1/supervision/agents/{agent_id}/queues/{queue_id}")]
LAST = [
    ("PUT", "/api/v1/contacts/{contact_id}/marketing"),
    ("POST", "/api/v1/flows/{flow_id}/versions/{number}/restore"),
    ("POST", "/api/v1/campaigns/{campaign_id}/schedule"),
    ("POST", "/api/v1/campaigns/{campaign_id}/pause"),
    ("POST", "/api/v1/campaigns/{campaign_id}/resume"),
    ("POST", "/api/v1/campaigns/{campaign_id}/stop"),
    ("DELETE", "/api/v1/flows/{flow_id}/test"),
    ("DELETE", "/api/v1/queues/{queue_id}"),
    ("POST", "/api/v1/phone-numbers/{number_id}/disconnect"),
    ("DELETE", "/api/v1/phone-numbers/{number_id}"),
]


async def audit_count(db) -> int:
    async with db.read() as session:
        return await session.scalar(select(func.count()).select_from(AuditEntry))


async def test_every_change_by_a_person_is_audited(db_url, tmp_path):
    stack = await start_sim_stack(db_url, tmp_path, workers=False, numbers=[SIM_NUMBER, CONNECTED])
    try:
        await walk(stack)
    finally:
        await stack.client.aclose()
        await stack.sim_client.aclose()
        await stack.served.stop()
        await stack.sim.stop()


async def walk(stack) -> None:
    eps = [e for e in iso.endpoints(stack.served.app) if e.method != "GET"]
    problems = iso.coverage_problems(eps)
    assert not problems, "\n".join(problems)
    world = await iso.build_world(stack)
    db = stack.runtime.db
    # A card not yet in force (one in force cannot be deleted), a popup's signup session.
    async with db.write() as session:
        card = RateCard(
            workspace_id=world.a,
            name="Next year's card",
            currency="USD",
            effective_from=datetime.now(UTC) + timedelta(days=365),
        )
        session.add(card)
        await session.flush()
        world.ids["rate_card"] = card.id
    popup = await stack.sim_client.post(
        "/_sim/signup/finish",
        json={
            "display_phone_number": "+1 555 0142",
            "business_name": "Kobe Bakery",
            "existing_pin": EXISTING_PIN,
        },
    )
    assert popup.status_code == 200, popup.text
    world.ids["popup"] = popup.json()
    # The conversation is an agent's (a supervisor whispers to and barges in beside them).
    async with db.write() as session:
        conversation = await session.get(Conversation, world.ids["conversation"])
        conversation.status = "active"
        conversation.assigned_agent_id = world.ids["agent"]

    first, last = set(FIRST), {key: i for i, key in enumerate(LAST)}

    def order(e: iso.Endpoint) -> tuple[int, int]:
        key = (e.method, e.path)
        if key in first:
            return (0, 0)
        if key in last:
            return (2, last[key])
        return (3 if e.method == "DELETE" else 1, 0)

    eps.sort(key=order)
    headers = {"Authorization": f"Bearer {world.a_admin_token}"}
    failures: list[str] = []
    for ep in eps:
        key = (ep.method, ep.path)
        if key in NOT_AUDITED:
            continue
        if order(ep)[0] == 2 and "spare_number" in world.ids:
            world.ids["number"] = world.ids["spare_number"]
        url = iso.url_of(ep, world)
        sample = OWN_SAMPLES.get(key) or iso.SAMPLES.get(key)
        kwargs = sample(world) if sample else {}
        before = await audit_count(db)
        response = await stack.client.request(ep.method, url, headers=headers, **kwargs)
        where = f"{ep.method} {url} -> {response.status_code}: {response.text[:300]}"
        if not response.is_success:
            failures.append(
                f"{where}\n   an admin's call must succeed here: fix its sample in "
                "tests/audit/test_audit_walk.py (OWN_SAMPLES, LAST), or add the route to "
                "NOT_AUDITED with the reason it changes no configuration"
            )
            continue
        if key in AFTER:
            AFTER[key](world, response)
        added = await audit_count(db) - before
        nothing = NOTHING_TO_DO.get(key)
        if added < 1 and not (nothing and nothing(response)):
            failures.append(
                f"{where}\n   changed something but left no audit entry: call "
                "madoguchi.services.audit.record.record(...) in its transaction (or add the "
                "route to NOT_AUDITED with the reason it is not a change to record)"
            )
    assert not failures, "\n".join(failures)

    # Secrets sent along never reach the log.
    log = await stack.client.get("/api/v1/audit-log", headers=headers, params={"limit": 500})
    assert log.status_code == 200
    text = json.dumps(log.json())
    for secret in (PASSWORD, NEW_PASSWORD, CONNECTED.access_token, "a password of mine"):
        assert secret not in text, secret
    actions = {e["action"] for e in log.json()}
    for expected in (
        "rate_card.create",
        "rate_card.import",
        "rate_card.delete",
        "budget.update",
        "knowledge.import",
        "assist.settings_update",
        "campaign.schedule",
        "campaign.stop",
        "signup.start",
        "number.disconnect",
        "number.calling_update",
    ):
        assert expected in actions, (expected, sorted(actions))
