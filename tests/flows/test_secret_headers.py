"""Secret headers of the HTTP Request widget: write-only, encrypted at rest, shown as
set/not set, never exported, kept on a re-save without the value (but not when the widget
is pointed at another server), and sent — decrypted — only with the request itself (to a
server of the test's own on 127.0.0.1, which records what it received)."""

from __future__ import annotations

import json

from fastapi import FastAPI, Request
from sqlalchemy import select

from madoguchi.security.secrets import SecretBox
from madoguchi.services.configuration.apply import ConfigError, apply_config
from madoguchi.store.db import Database
from madoguchi.store.models import AuditEntry, Flow, FlowVersion
from tests.access.people import add_token, add_user
from tests.conftest import PHONE_NUMBER_ID, SECRET_KEY, WABA_ID, ServedApp
from tests.flows.flow_kit import close_stack, flow_stack, new_customer, says, wait_replies
from tests.flows.test_flow_runner import texts

KEY = "sk-live-0123456789-very-secret"
OTHER_KEY = "sk-live-the-next-key"


def crm(received: list[dict]) -> FastAPI:
    api = FastAPI()

    @api.get("/orders/{order}")
    async def order(order: str, request: Request):
        received.append(dict(request.headers))
        return {"status": "shipped"}

    return api


def definition(url: str, secret_headers: dict) -> dict:
    return {
        "variables": {},
        "nodes": [
            {"id": "Start", "type": "start", "numbers": [PHONE_NUMBER_ID]},
            {
                "id": "Lookup",
                "type": "http_request",
                "url": url,
                "headers": {"X-Plain": "visible"},
                "secret_headers": secret_headers,
                "timeout_seconds": 5,
                "map": {"status": "status"},
            },
            {"id": "Said", "type": "send_media", "text": "Order {{status}}"},
            {"id": "Sorry", "type": "send_media", "text": "Sorry ({{http.error}})"},
            {"id": "Done", "type": "end"},
        ],
        "edges": [
            {"from": "Start", "exit": "next", "to": "Lookup"},
            {"from": "Lookup", "exit": "success", "to": "Said"},
            {"from": "Lookup", "exit": "failure", "to": "Sorry"},
            {"from": "Said", "exit": "next", "to": "Done"},
            {"from": "Sorry", "exit": "next", "to": "Done"},
        ],
    }


def lookup(doc: dict) -> dict:
    return next(n for n in doc["nodes"] if n["id"] == "Lookup")


async def stored_secrets(stack, flow_id: int) -> dict:
    async with stack.runtime.db.read() as session:
        flow = await session.get(Flow, flow_id)
        return lookup(flow.draft)["secret_headers"]


async def test_secret_headers_are_write_only_and_sent_only_with_the_request(db_url, tmp_path):
    received: list[dict] = []
    server = await ServedApp(crm(received)).start()
    s = await flow_stack(db_url, tmp_path, flows=[])
    box = SecretBox(SECRET_KEY)
    url = f"{server.url}/orders/{{{{message.text}}}}"
    try:
        created = await s.api(
            "POST",
            "/api/v1/flows",
            json={
                "name": "Orders",
                "definition": definition(url, {"X-Api-Key": KEY, "X-Spare": ""}),
            },
        )
        assert created.status_code == 201, created.text
        flow_id = created.json()["id"]
        assert KEY not in created.text
        assert lookup(created.json()["draft"])["secret_headers"] == {
            "X-Api-Key": {"set": True},
            "X-Spare": {"set": False},
        }
        # At rest: encrypted (a database dump does not hand out the key).
        stored = await stored_secrets(s, flow_id)
        assert KEY not in json.dumps(stored) and stored["X-Spare"] == ""
        assert box.decrypt(stored["X-Api-Key"].removeprefix("sealed:")) == KEY

        # Re-saved as the editor read it: the value is kept, byte for byte.
        draft = created.json()["draft"]
        resaved = await s.api("PUT", f"/api/v1/flows/{flow_id}", json={"definition": draft})
        assert resaved.status_code == 200, resaved.text
        assert await stored_secrets(s, flow_id) == stored
        # The same value typed again changes nothing either; a new one replaces it.
        same = definition(url, {"X-Api-Key": KEY, "X-Spare": ""})
        await s.api("PUT", f"/api/v1/flows/{flow_id}", json={"definition": same})
        assert await stored_secrets(s, flow_id) == stored

        published = await s.api("POST", f"/api/v1/flows/{flow_id}/publish")
        assert published.status_code == 201, published.text
        assert lookup(published.json()["definition"])["secret_headers"]["X-Api-Key"] == {
            "set": True
        }

        # Supervisors read flows: never the value.
        supervisor = await add_user(s.runtime.db, "sup@acme.test", "supervisor")
        _, token = await add_token(s.runtime.db, "supervisor", user_id=supervisor)
        as_supervisor = {"Authorization": f"Bearer {token}"}
        for path in (
            "/api/v1/flows",
            f"/api/v1/flows/{flow_id}",
            f"/api/v1/flows/{flow_id}/versions",
            f"/api/v1/flows/{flow_id}/versions/1",
            f"/api/v1/flows/{flow_id}/export",
            f"/api/v1/flows/{flow_id}/export?version=1",
        ):
            response = await s.client.get(path, headers=as_supervisor)
            assert response.status_code == 200, (path, response.text)
            assert KEY not in response.text and "sealed:" not in response.text, path

        # Never exported: the export names the header, without its value...
        export = (await s.api("GET", f"/api/v1/flows/{flow_id}/export")).json()
        assert lookup(export["definition"])["secret_headers"] == {
            "X-Api-Key": None,
            "X-Spare": None,
        }
        # ...so a copy imported elsewhere has it not set (to be typed in again).
        copy = await s.api("POST", "/api/v1/flows/import", params={"name": "Copy"}, json=export)
        assert copy.status_code == 201, copy.text
        assert lookup(copy.json()["draft"])["secret_headers"]["X-Api-Key"] == {"set": False}

        # The request: the server receives the key, decrypted, with the plain header.
        customer = new_customer()
        await says(s, customer, "A-1001")
        _, sent = await wait_replies(s, customer, 1)
        assert texts(sent) == ["Order shipped"]
        assert received[-1]["x-api-key"] == KEY
        assert received[-1]["x-plain"] == "visible"
        assert "x-spare" not in received[-1]

        # Nothing of it in the audit log, the versions table holds it sealed too.
        async with s.runtime.db.read() as session:
            entries = (await session.scalars(select(AuditEntry))).all()
            version = await session.scalar(
                select(FlowVersion).where(FlowVersion.flow_id == flow_id)
            )
        assert KEY not in json.dumps([[e.before, e.after, e.target_label] for e in entries])
        assert KEY not in json.dumps(version.definition)
    finally:
        await close_stack(s)
        await server.stop()


async def test_a_new_server_or_an_empty_value_drops_the_stored_secret(db_url, tmp_path):
    s = await flow_stack(db_url, tmp_path, flows=[])
    try:
        url = "https://crm.example/orders/{{message.text}}"
        created = await s.api(
            "POST",
            "/api/v1/flows",
            json={"name": "Orders", "definition": definition(url, {"X-Api-Key": KEY})},
        )
        flow_id = created.json()["id"]
        draft = created.json()["draft"]

        # Same server, another path: kept.
        lookup(draft)["url"] = "https://crm.example/v2/orders/{{message.text}}"
        kept = await s.api("PUT", f"/api/v1/flows/{flow_id}", json={"definition": draft})
        assert lookup(kept.json()["draft"])["secret_headers"] == {"X-Api-Key": {"set": True}}

        # Another server: the stored key is not sent there; it must be typed again.
        lookup(draft)["url"] = "https://collector.example/{{message.text}}"
        moved = await s.api("PUT", f"/api/v1/flows/{flow_id}", json={"definition": draft})
        assert lookup(moved.json()["draft"])["secret_headers"] == {"X-Api-Key": {"set": False}}
        assert (await stored_secrets(s, flow_id)) == {"X-Api-Key": ""}

        # A new value there, then cleared with "".
        lookup(draft)["secret_headers"] = {"X-Api-Key": OTHER_KEY}
        again = await s.api("PUT", f"/api/v1/flows/{flow_id}", json={"definition": draft})
        assert lookup(again.json()["draft"])["secret_headers"] == {"X-Api-Key": {"set": True}}
        lookup(draft)["secret_headers"] = {"X-Api-Key": ""}
        cleared = await s.api("PUT", f"/api/v1/flows/{flow_id}", json={"definition": draft})
        assert lookup(cleared.json()["draft"])["secret_headers"] == {"X-Api-Key": {"set": False}}

        # A secret header may not also be a plain one, nor a bad name.
        lookup(draft)["secret_headers"] = {"X-Plain": "x", "bad name": "y"}
        checked = await s.api(
            "POST", "/api/v1/flows/validate", json={"definition": draft, "name": "Orders"}
        )
        fields = {p["field"] for p in checked.json()["problems"]}
        assert {"secret_headers.X-Plain", "secret_headers.bad name"} <= fields
    finally:
        await close_stack(s)


WORKSPACE_WITH_KEY = """
workspace: {{slug: acme, name: ACME}}
whatsapp:
  accounts:
    - waba_id: "{waba}"
      name: ACME
      phone_numbers:
        - phone_number_id: "{number}"
          display_phone_number: "+1 555 0123"
          access_token: ${{WA_TOKEN}}
flows: {flows}
"""


async def test_a_workspace_file_takes_secret_headers_from_the_environment(db_url):
    flow = {
        "name": "Orders",
        "definition": definition("https://crm.example/orders/{{message.text}}", {}),
    }
    lookup(flow["definition"])["secret_headers"] = {"X-Api-Key": "${CRM_KEY}"}
    text = WORKSPACE_WITH_KEY.format(waba=WABA_ID, number=PHONE_NUMBER_ID, flows=json.dumps([flow]))
    box = SecretBox(SECRET_KEY)
    db = Database(db_url)
    try:
        env = {"WA_TOKEN": "EAAG-token", "CRM_KEY": KEY}
        first = await apply_config(db, box, text, env=env)
        assert "created flow Orders" in first.changes, first.changes
        assert "published flow Orders version 1" in first.changes
        async with db.read() as session:
            row = await session.scalar(select(Flow).where(Flow.name == "Orders"))
            version = await session.scalar(select(FlowVersion).where(FlowVersion.flow_id == row.id))
        sealed = lookup(row.draft)["secret_headers"]["X-Api-Key"]
        assert box.decrypt(sealed.removeprefix("sealed:")) == KEY
        assert lookup(version.definition)["secret_headers"]["X-Api-Key"] == sealed
        # The same file and key again: nothing changes (the sealed value is kept as is).
        assert not (await apply_config(db, box, text, env=env)).changed
        # A new key: a new draft, published.
        rotated = await apply_config(db, box, text, env={**env, "CRM_KEY": OTHER_KEY})
        assert "published flow Orders version 2" in rotated.changes, rotated.changes
        # A key the environment lacks is named, and nothing is applied.
        try:
            await apply_config(db, box, text, env={"WA_TOKEN": "EAAG-token"})
        except ConfigError as exc:
            assert exc.problems == [
                (
                    "flows[0].definition.nodes[Lookup].secret_headers.X-Api-Key",
                    "environment variable CRM_KEY is not set",
                )
            ]
        else:
            raise AssertionError("a missing variable must be refused")
    finally:
        await db.dispose()
