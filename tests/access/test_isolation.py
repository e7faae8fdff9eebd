"""Workspace isolation and role policy, checked on EVERY ``/api/v1`` route of the real app.

The routes are read from the app itself, so a route added later is checked too: nothing of
workspace A may be visible or changeable from workspace B, and every route must declare who
may call it. When you add a route, this module may ask you for two things:

- a FILLER for each new path parameter: an id (or key) of a workspace-A object, so the test
  can show that workspace B gets 404/403 for it (build the object in ``build_world``);
- a SAMPLE request body for each (method, path) that takes a body, valid enough to reach
  the handler's scoping (a 422 proves nothing).

Websocket routes authenticate at connect time and are covered by ``test_realtime.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from sqlalchemy import select
from starlette.routing import WebSocketRoute

from madoguchi.services.access.tokens import ROLES, issue_token
from madoguchi.services.access.workspaces import get_or_create_workspace
from madoguchi.simulator import payloads
from madoguchi.store.models import (
    ApiToken,
    Base,
    Call,
    Campaign,
    CannedResponse,
    Contact,
    Conversation,
    ConversationTag,
    Flow,
    FlowVersion,
    KnowledgeArticle,
    Media,
    Message,
    MessageTemplate,
    Note,
    PhoneNumber,
    Queue,
    QueueMember,
    RateCard,
    Signup,
    User,
    WhatsAppAccount,
)
from madoguchi.web.deps import admin_only, any_role, current_principal, supervisor_or_admin
from tests.access.people import CSRF, PASSWORD, add_token, add_user, signed_in
from tests.conftest import PHONE_NUMBER_ID, WABA_ID, fixture_payload, seed_workspace

B_WABA = "209999999999999"
B_NUMBER = "309999999999999"
B_FILE = f"""
workspace: {{slug: beta, name: Beta}}
whatsapp:
  accounts:
    - waba_id: "{B_WABA}"
      name: Beta
      phone_numbers:
        - phone_number_id: "{B_NUMBER}"
          display_phone_number: "+1 555 0999"
          access_token: ${{WA_TOKEN}}
"""
B_CUSTOMER = {"wa_id": "447700900123", "name": "Bruno Beta"}


@dataclass
class World:
    """Two workspaces with data; ``a`` is the one B must never reach."""

    a: int
    b: int
    ids: dict[str, Any]  # workspace A's objects, by filler name
    a_admin_token: str
    a_agent_token: str
    a_supervisor_token: str
    b_admin_token: str
    markers: list[str]  # strings only workspace A's data contains
    counter: list[int] = field(default_factory=lambda: [0])

    def unique(self, prefix: str) -> str:
        self.counter[0] += 1
        return f"{prefix}{self.counter[0]}"


# ----------------------------------------------------------------------------- fillers
# path parameter -> (model, column, value): the value names a workspace-A row of the model
# (checked). A parameter that only means something under another one (a version number
# under its flow) has no model of its own.

FILLERS: dict[str, tuple[type | None, str, Callable[[World], Any]]] = {
    "conversation_id": (Conversation, "id", lambda w: w.ids["conversation"]),
    "contact_id": (Contact, "id", lambda w: w.ids["contact"]),
    "message_id": (Message, "id", lambda w: w.ids["message"]),
    "media_id": (Media, "id", lambda w: w.ids["media"]),
    "queue_id": (Queue, "id", lambda w: w.ids["queue"]),
    "user_id": (User, "id", lambda w: w.ids["agent"]),
    "agent_id": (User, "id", lambda w: w.ids["agent"]),
    "token_id": (ApiToken, "id", lambda w: w.ids["token"]),
    "template_id": (MessageTemplate, "id", lambda w: w.ids["template"]),
    "flow_id": (Flow, "id", lambda w: w.ids["flow"]),
    "number": (None, "version", lambda w: 1),  # GET /flows/{flow_id}/versions/{number}
    "canned_id": (CannedResponse, "id", lambda w: w.ids["canned"]),
    "number_id": (PhoneNumber, "id", lambda w: w.ids["number"]),
    "call_id": (Call, "id", lambda w: w.ids["call"]),
    "signup_id": (Signup, "id", lambda w: w.ids["signup"]),
    "campaign_id": (Campaign, "id", lambda w: w.ids["campaign"]),
    "article_id": (KnowledgeArticle, "id", lambda w: w.ids["article"]),
    "card_id": (RateCard, "id", lambda w: w.ids["rate_card"]),
}

# (method, path) -> httpx keyword arguments. Ids in bodies point at workspace A as well.
TEXT = {"type": "text", "text": {"body": "hello from the test"}}
TEMPLATE = {"type": "template", "template": {"name": "hello_world", "language": {"code": "en"}}}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"

SAMPLES: dict[tuple[str, str], Callable[[World], dict[str, Any]]] = {
    ("POST", "/api/v1/calls/{call_id}/accept"): lambda w: {"json": {"sdp": SDP}},
    ("POST", "/api/v1/conversations/{conversation_id}/calls"): lambda w: {"json": {"sdp": SDP}},
    ("POST", "/api/v1/conversations/{conversation_id}/call-permission"): lambda w: {"json": {}},
    ("PUT", "/api/v1/numbers/{number_id}/calling"): lambda w: {"json": {"status": "DISABLED"}},
    ("POST", "/api/v1/conversations/{conversation_id}/messages"): lambda w: {
        "json": {"message": TEXT}
    },
    ("POST", "/api/v1/conversations/{conversation_id}/read"): lambda w: {
        "json": {"typing_indicator": False}
    },
    ("POST", "/api/v1/contacts/{contact_id}/messages"): lambda w: {
        "json": {"phone_number_id": PHONE_NUMBER_ID, "message": TEMPLATE}
    },
    ("POST", "/api/v1/media"): lambda w: {
        "data": {"phone_number_id": PHONE_NUMBER_ID},
        "files": {"file": ("a.png", PNG, "image/png")},
    },
    ("POST", "/api/v1/queues"): lambda w: {"json": {"name": w.unique("queue ")}},
    ("PUT", "/api/v1/queues/{queue_id}"): lambda w: {"json": {"name": "Taken over"}},
    ("PUT", "/api/v1/agents/me/presence"): lambda w: {"json": {"status": "available"}},
    ("PUT", "/api/v1/agents/{user_id}/presence"): lambda w: {"json": {"status": "away"}},
    ("POST", "/api/v1/conversations/{conversation_id}/queue"): lambda w: {
        "json": {"queue_id": w.ids["queue"]}
    },
    ("POST", "/api/v1/conversations/{conversation_id}/transfer"): lambda w: {
        "json": {"queue_id": w.ids["queue"]}
    },
    ("POST", "/api/v1/conversations/{conversation_id}/close"): lambda w: {"json": {}},
    ("POST", "/api/v1/conversations/{conversation_id}/whispers"): lambda w: {
        "json": {"body": "whispered from elsewhere"}
    },
    ("POST", "/api/v1/conversations/{conversation_id}/barge"): lambda w: {
        "json": {"message": TEXT}
    },
    ("PUT", "/api/v1/supervision/agents/{agent_id}/presence"): lambda w: {
        "json": {"status": "away"}
    },
    ("POST", "/api/v1/conversations/{conversation_id}/notes"): lambda w: {
        "json": {"body": "written from elsewhere"}
    },
    ("PUT", "/api/v1/conversations/{conversation_id}/tags"): lambda w: {
        "json": {"tags": ["elsewhere"]}
    },
    ("PUT", "/api/v1/conversations/{conversation_id}/summary"): lambda w: {
        "json": {"text": "written from elsewhere"}
    },
    ("POST", "/api/v1/auth/login"): lambda w: {
        "json": {"email": "beta-admin@beta.test", "password": PASSWORD}
    },
    ("POST", "/api/v1/users"): lambda w: {
        "json": {
            "email": w.unique("new") + "@beta.test",
            "name": "New",
            "role": "agent",
            "password": PASSWORD,
        }
    },
    ("PATCH", "/api/v1/users/me"): lambda w: {"json": {"name": "Renamed"}},
    ("PATCH", "/api/v1/users/{user_id}"): lambda w: {
        "json": {"name": "Taken over", "role": "admin", "password": "a password of mine"}
    },
    ("POST", "/api/v1/tokens"): lambda w: {"json": {"name": w.unique("token "), "role": "admin"}},
    ("POST", "/api/v1/templates"): lambda w: {
        "json": {
            "waba_id": WABA_ID,
            "name": w.unique("new_template_"),
            "language": "en",
            "category": "UTILITY",
            "components": [{"type": "BODY", "text": "Your order has shipped"}],
        }
    },
    ("POST", "/api/v1/templates/sync"): lambda w: {"json": {"waba_id": WABA_ID}},
    ("POST", "/api/v1/templates/{template_id}/preview"): lambda w: {
        "json": {"values": {}, "use_examples": True}
    },
    ("PUT", "/api/v1/contacts/{contact_id}/marketing"): lambda w: {"json": {"opted_out": True}},
    ("POST", "/api/v1/flows"): lambda w: {"json": {"name": w.unique("flow ")}},
    ("POST", "/api/v1/flows/validate"): lambda w: {
        "json": {"definition": {"nodes": [], "edges": []}}
    },
    ("POST", "/api/v1/flows/import"): lambda w: {
        "params": {"replace": "true"},
        "json": {"name": "Alpha Flow", "definition": {"nodes": [], "edges": []}},
    },
    ("PUT", "/api/v1/flows/{flow_id}"): lambda w: {"json": {"name": "Taken over"}},
    ("POST", "/api/v1/flows/{flow_id}/versions/{number}/restore"): lambda w: {"json": {}},
    ("POST", "/api/v1/flows/{flow_id}/test"): lambda w: {
        "json": {"phone_number_id": PHONE_NUMBER_ID, "customer": "+81 90 5555 0001"}
    },
    ("POST", "/api/v1/outbound"): lambda w: {
        "json": {
            "phone_number_id": PHONE_NUMBER_ID,
            "to": {"contact_id": w.ids["contact"]},
            "template": {"id": w.ids["template"]},
        }
    },
    ("POST", "/api/v1/canned-responses"): lambda w: {
        "json": {"shortcut": w.unique("new"), "title": "New", "body": "A new reply"}
    },
    ("PUT", "/api/v1/canned-responses/{canned_id}"): lambda w: {
        "json": {"shortcut": "taken-over", "title": "Taken over", "body": "Taken over"}
    },
    # B tries to connect A's number: refused (409) before Meta is ever asked.
    ("POST", "/api/v1/phone-numbers"): lambda w: {
        "json": {
            "waba_id": WABA_ID,
            "account_name": "Taken over",
            "phone_number_id": PHONE_NUMBER_ID,
            "display_phone_number": "+1 555 6666",
            "access_token": "EAAG-beta-token",
        }
    },
    ("PATCH", "/api/v1/phone-numbers/{number_id}"): lambda w: {
        "json": {"display_phone_number": "+1 555 6666", "rate_limit_per_second": 1}
    },
    # B finishes a signup for A's WABA: refused (409) before Meta is ever asked.
    ("POST", "/api/v1/onboarding/signups"): lambda w: {
        "json": {
            "code": "sim-code-beta",
            "waba_id": WABA_ID,
            "phone_number_id": "301234567890777",
            "pin": "123456",
        }
    },
    ("POST", "/api/v1/onboarding/signups/{signup_id}/retry"): lambda w: {"json": {"pin": "123456"}},
    ("POST", "/api/v1/campaigns"): lambda w: {
        "json": {
            "name": "Taken over",
            "phone_number_id": PHONE_NUMBER_ID,
            "template_id": w.ids["template"],
        }
    },
    ("PUT", "/api/v1/campaigns/{campaign_id}"): lambda w: {
        "json": {
            "name": "Taken over",
            "phone_number_id": PHONE_NUMBER_ID,
            "template_id": w.ids["template"],
        }
    },
    ("POST", "/api/v1/campaigns/{campaign_id}/audience"): lambda w: {
        "files": {"file": ("a.csv", b"phone,name\n+447700900999,Bruno\n", "text/csv")}
    },
    ("POST", "/api/v1/campaigns/{campaign_id}/audience/tags"): lambda w: {
        "json": {"tags": ["alpha-vip"]}
    },
    ("POST", "/api/v1/campaigns/{campaign_id}/schedule"): lambda w: {"json": {}},
    ("POST", "/api/v1/knowledge"): lambda w: {
        "json": {"title": w.unique("Article "), "body": "Taken over", "language": "en"}
    },
    ("PUT", "/api/v1/knowledge/{article_id}"): lambda w: {
        "json": {"title": "Taken over", "body": "Taken over", "language": "en"}
    },
    ("POST", "/api/v1/knowledge/import"): lambda w: {
        "files": {"files": ("taken.md", b"# Taken over\n\nA body.\n", "text/markdown")}
    },
    ("PUT", "/api/v1/assist/settings"): lambda w: {
        "json": {"llm_enabled": False, "negative_alert_queue_ids": []}
    },
    ("POST", "/api/v1/rate-cards"): lambda w: {
        "json": {
            "name": w.unique("card "),
            "currency": "USD",
            "rates": [{"market": "*", "category": "marketing", "rate": "0.0250"}],
        }
    },
    ("POST", "/api/v1/rate-cards/import"): lambda w: {
        "params": {"name": w.unique("sheet "), "currency": "USD"},
        "content": b"market,currency,marketing,utility,authentication,service\n"
        b"*,USD,0.06,0.01,0.01,0\n",
    },
    ("POST", "/api/v1/costs/estimate"): lambda w: {
        "json": {"conversation_id": w.ids["conversation"], "category": "MARKETING"}
    },
    ("PUT", "/api/v1/costs/budget"): lambda w: {"json": {"monthly": "500.00", "currency": "USD"}},
    ("PATCH", "/api/v1/workspace"): lambda w: {
        "json": {"name": "Beta renamed", "timezone": "Asia/Tokyo"}
    },
}

# Routes anyone may call (they authenticate the caller themselves).
PUBLIC = {("POST", "/api/v1/auth/login"), ("POST", "/api/v1/auth/logout")}


# ----------------------------------------------------------------------------- routes


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    params: tuple[str, ...]
    has_body: bool
    route: Any  # fastapi RouteContext

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def endpoints(app) -> list[Endpoint]:
    """Every HTTP method of every ``/api/v1`` route, auth routes last (login rotates the
    session, logout ends it)."""
    found = []
    for ctx in iter_route_contexts(app.routes):
        path = ctx.path or ""
        if not path.startswith("/api/v1"):
            continue
        if isinstance(ctx.original_route, APIWebSocketRoute | WebSocketRoute):
            continue
        assert isinstance(ctx.original_route, APIRoute), f"{path}: unexpected route kind"
        params = tuple(p.name for p in ctx.dependant.path_params)
        for method in sorted(set(ctx.methods or ()) - {"HEAD", "OPTIONS"}):
            found.append(Endpoint(method, path, params, ctx.body_field is not None, ctx))
    assert len(found) > 20, "route enumeration found too little: has FastAPI's routing changed?"
    order = {"/api/v1/auth/login": 1, "/api/v1/auth/logout": 2}
    return sorted(found, key=lambda e: (order.get(e.path, 0), e.method == "DELETE"))


def coverage_problems(eps: list[Endpoint]) -> list[str]:
    problems = []
    for ep in eps:
        for name in ep.params:
            if name not in FILLERS:
                problems.append(
                    f"{ep}: path parameter {name!r} has no filler — add one to FILLERS in "
                    "tests/access/test_isolation.py (the id of a workspace-A object, created in "
                    "build_world) so the isolation test can show workspace B cannot reach it"
                )
        if ep.has_body and (ep.method, ep.path) not in SAMPLES:
            problems.append(
                f"{ep}: takes a request body but has no sample — add a valid one to SAMPLES "
                "in tests/access/test_isolation.py"
            )
    return problems


def url_of(ep: Endpoint, world: World) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: str(FILLERS[m.group(1)][2](world)), ep.path)


def request_kwargs(ep: Endpoint, world: World) -> dict[str, Any]:
    sample = SAMPLES.get((ep.method, ep.path))
    return sample(world) if sample else {}


def dependency_calls(dependant) -> list[Any]:
    calls = []
    for sub in dependant.dependencies:
        calls.append(sub.call)
        calls.extend(dependency_calls(sub))
    return calls


def declared_roles(ep: Endpoint) -> frozenset[str] | None:
    """The roles a route's dependencies admit; None for a route that authenticates no one."""
    calls = dependency_calls(ep.route.dependant)
    role_sets = [c.allowed_roles for c in calls if hasattr(c, "allowed_roles")]
    if role_sets:
        return frozenset.intersection(*role_sets)
    if current_principal in calls:
        return frozenset(ROLES)
    return None


# ----------------------------------------------------------------------------- world


async def build_world(stack) -> World:
    db = stack.runtime.db
    b_admin_token = await seed_workspace(db, B_FILE, slug="beta")
    for name in ("message_text.json", "message_image.json", "message_username_only.json"):
        assert (await stack.post_webhook(fixture_payload(name))).status_code == 200
    b_number = {"phone_number_id": B_NUMBER, "display_phone_number": "15550999", "waba_id": B_WABA}
    for message in (
        payloads.inbound_message(B_CUSTOMER, "text", payloads.text("beta hello")),
        payloads.inbound_message(
            B_CUSTOMER, "image", payloads.media("8880001", "image/png", "c2hhMjU2")
        ),
    ):
        response = await stack.post_webhook(payloads.message_webhook(b_number, B_CUSTOMER, message))
        assert response.status_code == 200

    ids: dict[str, Any] = {}
    ids["admin"] = await add_user(db, "alpha-admin@alpha.test", "admin")
    ids["supervisor"] = await add_user(db, "alpha-sup@alpha.test", "supervisor")
    ids["agent"] = await add_user(db, "alpha-agent@alpha.test", "agent")
    await add_user(db, "beta-admin@beta.test", "admin", workspace="beta")
    await add_user(db, "beta-agent@beta.test", "agent", workspace="beta")
    _, a_agent_token = await add_token(db, "agent", user_id=ids["agent"])
    _, a_supervisor_token = await add_token(db, "supervisor", user_id=ids["supervisor"])
    _, a_admin_token = await add_token(db, "admin", user_id=ids["admin"])

    async with db.write() as session:
        a, _ = await get_or_create_workspace(session, "acme")
        b, _ = await get_or_create_workspace(session, "beta")
        spare, _ = await issue_token(session, a.id, "agent", "alpha-integration")
        ids["token"] = spare.id
        conversation = await session.scalar(
            select(Conversation)
            .where(Conversation.workspace_id == a.id)
            .join(Contact)
            .where(Contact.profile_name == "Taro Yamada")
        )
        ids["conversation"] = conversation.id
        ids["contact"] = conversation.contact_id
        ids["message"] = await session.scalar(
            select(Message.id).where(Message.conversation_id == conversation.id)
        )
        ids["media"] = await session.scalar(select(Media.id).where(Media.workspace_id == a.id))
        ids["number"] = await session.scalar(
            select(PhoneNumber.id).where(PhoneNumber.workspace_id == a.id)
        )
        queue = Queue(workspace_id=a.id, name="Alpha Support")
        session.add_all([queue, Queue(workspace_id=b.id, name="Beta Desk")])
        await session.flush()
        ids["queue"] = queue.id
        template = MessageTemplate(
            workspace_id=a.id,
            account_id=await session.scalar(
                select(WhatsAppAccount.id).where(WhatsAppAccount.workspace_id == a.id)
            ),
            name="alpha_promo",
            language="en",
            category="MARKETING",
            status="APPROVED",
            components=[{"type": "BODY", "text": "Alpha exclusive offer"}],
        )
        session.add(template)
        await session.flush()
        ids["template"] = template.id
        campaign = Campaign(
            workspace_id=a.id,
            name="Alpha Campaign",
            phone_number_id=ids["number"],
            template_id=template.id,
            values={},
            columns=[],
        )
        session.add(campaign)
        await session.flush()
        ids["campaign"] = campaign.id
        empty = {"nodes": [], "edges": []}
        flow = Flow(workspace_id=a.id, name="Alpha Flow", draft=empty, published_version=1)
        session.add(flow)
        await session.flush()
        session.add(FlowVersion(workspace_id=a.id, flow_id=flow.id, version=1, definition=empty))
        ids["flow"] = flow.id
        canned = CannedResponse(
            workspace_id=a.id, shortcut="alpha", title="Alpha reply", body="alpha canned body"
        )
        session.add(canned)
        await session.flush()
        ids["canned"] = canned.id
        article = KnowledgeArticle(
            workspace_id=a.id,
            slug="alpha-returns",
            title="Alpha returns policy",
            body="alpha knowledge body",
            language="en",
            tags=[],
        )
        card = RateCard(
            workspace_id=a.id,
            name="Alpha rate card",
            currency="USD",
            effective_from=datetime(2026, 1, 1, tzinfo=UTC),
        )
        session.add_all([article, card])
        await session.flush()
        ids["article"] = article.id
        ids["rate_card"] = card.id
        call = Call(
            workspace_id=a.id,
            phone_number_id=ids["number"],
            conversation_id=conversation.id,
            contact_id=conversation.contact_id,
            meta_call_id="wacid.alpha-call",
            direction="inbound",
            status="ringing",
            ringing_agent_ids=[ids["agent"]],
            declined_agent_ids=[],
            offer_sdp="v=0 alpha-offer-sdp",
        )
        session.add(call)
        await session.flush()
        ids["call"] = call.id
        signup = Signup(
            workspace_id=a.id,
            waba_id=WABA_ID,
            phone_number_id=PHONE_NUMBER_ID,
            state="failed",
            steps={"exchange": {"state": "failed", "message": "alpha signup"}},
            options={},
        )
        session.add(signup)
        await session.flush()
        ids["signup"] = signup.id
        session.add_all(
            [
                QueueMember(workspace_id=a.id, queue_id=queue.id, user_id=ids["agent"]),
                Note(workspace_id=a.id, conversation_id=conversation.id, body="alpha secret note"),
                ConversationTag(
                    workspace_id=a.id, conversation_id=conversation.id, tag="alpha-vip"
                ),
            ]
        )
        a_text = await session.scalar(select(Message.text).where(Message.id == ids["message"]))
        a_wamid = await session.scalar(select(Message.wamid).where(Message.id == ids["message"]))
    assert None not in ids.values(), ids
    return World(
        a=a.id,
        b=b.id,
        ids=ids,
        a_admin_token=a_admin_token,
        a_agent_token=a_agent_token,
        a_supervisor_token=a_supervisor_token,
        b_admin_token=b_admin_token,
        markers=[
            "alpha.test",
            "Taro Yamada",
            "JP.70211330012345",
            "819012345678",
            PHONE_NUMBER_ID,
            "Alpha Support",
            "alpha secret note",
            "alpha-vip",
            "alpha-integration",
            "alpha_promo",
            "Alpha Flow",
            "Alpha exclusive offer",
            "alpha canned body",
            "alpha knowledge body",
            "Alpha rate card",
            "alpha-offer-sdp",
            "Alpha Campaign",
            WABA_ID,
            a_text,
            a_wamid,
        ],
    )


async def snapshot(db, workspace_id: int) -> dict[str, list[str]]:
    """Every row of every table that belongs to the workspace."""
    out = {}
    async with db.read() as session:
        for table in Base.metadata.sorted_tables:
            if "workspace_id" not in table.c:
                continue
            rows = await session.execute(select(table).where(table.c.workspace_id == workspace_id))
            out[table.name] = sorted(repr(tuple(row)) for row in rows)
    return out


async def validate_fillers(db, world: World, eps: list[Endpoint]) -> None:
    async with db.read() as session:
        for name in {p for ep in eps for p in ep.params}:
            model, column, value = FILLERS[name]
            if model is None:
                continue
            found = await session.scalar(
                select(model.workspace_id).where(getattr(model, column) == value(world))
            )
            assert found == world.a, f"filler {name!r} does not name a workspace-A {model.__name__}"


def leaks(response: httpx.Response, world: World, sent: str) -> list[str]:
    """A-only strings in the response (not counting ones B's own requests carried)."""
    return [m for m in world.markers if m in response.text and m not in sent]


# ----------------------------------------------------------------------------- tests


async def test_nothing_of_workspace_a_is_visible_or_changeable_from_b(stack):
    eps = endpoints(stack.served.app)
    problems = coverage_problems(eps)
    assert not problems, "\n".join(problems)
    world = await build_world(stack)
    await validate_fillers(stack.runtime.db, world, eps)
    before = await snapshot(stack.runtime.db, world.a)

    failures: list[str] = []

    async def sweep(
        mode: str, client: httpx.AsyncClient, headers: dict[str, str], reads: bool
    ) -> None:
        sent: list[str] = []
        for ep in eps:
            if (ep.method == "GET") != reads:
                continue
            url = url_of(ep, world)
            kwargs = request_kwargs(ep, world)
            # Reads are checked against A's markers strictly; a write may echo what B itself
            # wrote in this phase (e.g. B naming its own flow like A's, to try replacing it).
            sent = [*sent, url + json.dumps(kwargs, default=str)] if not reads else [url]
            response = await client.request(ep.method, url, headers=headers, **kwargs)
            status = response.status_code
            where = f"[B admin by {mode}] {ep.method} {url} -> {status}: {response.text[:300]}"
            if status >= 500 or status == 401:
                failures.append(where)
            elif ep.params and status not in (403, 404):
                failures.append(
                    f"{where}\n   expected 404 (or 403) for a workspace-A object; if the "
                    "sample body is invalid, fix SAMPLES"
                )
            elif status == 422 and isinstance(response.json().get("detail"), list):
                failures.append(f"{where}\n   the request was not valid: fix SAMPLES")
            leaked = leaks(response, world, "\n".join(sent))
            if leaked:
                failures.append(f"{where}\n   workspace A's data leaked: {leaked}")

    # All reads first (both ways of signing in), then all writes: what B writes cannot
    # blur what B reads.
    for reads in (True, False):
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
            token = {"Authorization": f"Bearer {world.b_admin_token}"}
            await sweep("token", client, token, reads)
        async with signed_in(stack.url, "beta-admin@beta.test") as client:
            await sweep("session", client, CSRF, reads)

    assert not failures, "\n".join(failures)
    after = await snapshot(stack.runtime.db, world.a)
    changed = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
    assert not changed, f"workspace B changed workspace A's rows: {changed}"

    # Control: the same URLs do reach A's objects for A's own admin.
    headers = {"Authorization": f"Bearer {world.a_admin_token}"}
    for ep in eps:
        if ep.method != "GET":
            continue
        response = await stack.client.get(url_of(ep, world), headers=headers)
        assert response.status_code not in (401, 403, 404), (ep, response.text)
        assert response.status_code < 500, (ep, response.text)


async def test_every_route_declares_its_roles_and_enforces_them(stack):
    eps = endpoints(stack.served.app)
    problems = coverage_problems(eps)
    assert not problems, "\n".join(problems)
    world = await build_world(stack)
    failures: list[str] = []

    # Managing people and tokens is for admins only, whoever edits those routers.
    for ep in eps:
        admin_area = ep.path.startswith(("/api/v1/users", "/api/v1/tokens"))
        own_profile = (ep.method, ep.path) == ("PATCH", "/api/v1/users/me")
        if admin_area and not own_profile and declared_roles(ep) != {"admin"}:
            failures.append(f"{ep} must be admin-only, declares {declared_roles(ep)}")

    tokens = {"agent": world.a_agent_token, "supervisor": world.a_supervisor_token}
    async with (
        httpx.AsyncClient(base_url=stack.url, timeout=30) as anonymous,
        signed_in(stack.url, "alpha-agent@alpha.test") as agent_session,
    ):
        for ep in eps:
            roles = declared_roles(ep)
            if (ep.method, ep.path) in PUBLIC:
                continue
            if roles is None:
                failures.append(
                    f"{ep} authenticates no one: depend on require_role(...), any_role, "
                    "supervisor_or_admin or admin_only (web/deps.py), or add it to PUBLIC"
                )
                continue
            url, kwargs = url_of(ep, world), request_kwargs(ep, world)
            response = await anonymous.request(ep.method, url, **kwargs)
            if response.status_code != 401:
                failures.append(f"{ep} without credentials -> {response.status_code}, not 401")
            for role, token in tokens.items():
                headers = {"Authorization": f"Bearer {token}"}
                refused = f"the {role} role may not do this"
                if role not in roles:
                    response = await anonymous.request(ep.method, url, headers=headers, **kwargs)
                    if response.status_code != 403:
                        failures.append(f"{ep} as {role} token -> {response.status_code}, not 403")
                elif ep.method == "GET":
                    response = await anonymous.request(ep.method, url, headers=headers)
                    if response.status_code == 401 or refused in response.text:
                        failures.append(f"{ep} allows {role} but refused it: {response.text}")
            if "agent" not in roles:
                response = await agent_session.request(ep.method, url, headers=CSRF, **kwargs)
                if response.status_code != 403:
                    failures.append(f"{ep} as agent session -> {response.status_code}, not 403")
    assert not failures, "\n".join(failures)


async def test_a_route_without_a_filler_fails_with_instructions():
    ep = Endpoint("GET", "/api/v1/gadgets/{gadget_id}", ("gadget_id",), True, None)
    problems = coverage_problems([ep])
    assert "'gadget_id' has no filler — add one to FILLERS" in problems[0]
    assert "has no sample — add a valid one to SAMPLES" in problems[1]


async def test_role_helpers_declare_their_roles():
    assert admin_only.allowed_roles == {"admin"}
    assert supervisor_or_admin.allowed_roles == {"admin", "supervisor"}
    assert any_role.allowed_roles == set(ROLES)
