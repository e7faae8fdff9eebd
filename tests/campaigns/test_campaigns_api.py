"""The campaign API's refusals: each bad input gets its reason; who may call it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from madoguchi.services.campaigns.limits import tier_per_day
from madoguchi.store.models import (
    Campaign,
    Contact,
    Conversation,
    ConversationTag,
    MessageTemplate,
    PhoneNumber,
    WhatsAppAccount,
    Workspace,
)
from tests.access.people import add_token
from tests.conftest import PHONE_NUMBER_ID

BODY = "Hello {{1}}, your order {{2}} is ready."


async def _template(s, status="APPROVED", category="UTILITY") -> int:
    async with s.runtime.db.write() as session:
        template = MessageTemplate(
            workspace_id=1,
            account_id=await session.scalar(select(WhatsAppAccount.id)),
            name=f"t_{status.lower()}_{category.lower()}",
            language="en",
            category=category,
            status=status,
            components=[
                {
                    "type": "BODY",
                    "text": BODY,
                    "example": {"body_text": [["Taro", "A-1"]]},
                }
            ],
        )
        session.add(template)
        await session.flush()
        return template.id


async def _campaign(s, template_id: int, values=None) -> int:
    response = await s.api(
        "POST",
        "/api/v1/campaigns",
        json={
            "name": "Ready",
            "phone_number_id": PHONE_NUMBER_ID,
            "template_id": template_id,
            "values": values or {"1": {"from": "contact.name"}, "2": {"from": "row.order"}},
        },
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def _upload(s, cid: int, text: bytes):
    return await s.api(
        "POST",
        f"/api/v1/campaigns/{cid}/audience",
        files={"file": ("a.csv", text, "text/csv")},
    )


async def test_create_refuses_what_does_not_exist(stack):
    template_id = await _template(stack)
    base = {"name": "X", "phone_number_id": PHONE_NUMBER_ID, "template_id": template_id}
    cases = [
        ({**base, "phone_number_id": "999"}, 404, "phone_number_id"),
        ({**base, "template_id": 999999}, 404, "template_id"),
        ({**base, "queue_id": 999999}, 404, "queue_id"),
        ({**base, "name": "  "}, 422, "name"),
        ({**base, "values": {"1": {"from": "secrets.token"}}}, 422, "values.1"),
    ]
    for body, status, field in cases:
        response = await stack.api("POST", "/api/v1/campaigns", json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["detail"]["field"] == field


async def test_schedule_checks_values_audience_and_template(stack):
    template_id = await _template(stack)
    cid = await _campaign(stack, template_id)
    empty = await stack.api("POST", f"/api/v1/campaigns/{cid}/schedule", json={})
    assert empty.status_code == 422 and empty.json()["detail"]["code"] == "missing_values"
    assert "column 'order'" in empty.json()["detail"]["message"]

    report = (await _upload(stack, cid, b"phone,name,order\n+819012340001,Taro,A-1\n")).json()
    assert report["added"] == 1 and report["columns"] == ["order"]
    preview = (await stack.api("GET", f"/api/v1/campaigns/{cid}/preview")).json()
    assert preview["message"]["body"] == "Hello Taro, your order A-1 is ready."
    assert preview["problems"] == []

    # A time without an offset is in the workspace's zone (Tokyo: UTC+9).
    async with stack.runtime.db.write() as session:
        workspace = await session.scalar(select(Workspace))
        workspace.timezone = "Asia/Tokyo"
    at = f"{datetime.now(UTC).year + 1}-04-01T09:00:00"
    scheduled = await stack.api("POST", f"/api/v1/campaigns/{cid}/schedule", json={"at": at})
    assert scheduled.status_code == 200, scheduled.text
    body = scheduled.json()
    assert body["status"] == "scheduled"
    assert body["scheduled_at"].startswith(f"{datetime.now(UTC).year + 1}-04-01T00:00:00")
    assert body["cost_estimate"]["messages"] == 1

    again = await _upload(stack, cid, b"phone\n+819012340002\n")
    assert again.status_code == 409 and again.json()["detail"]["code"] == "not_draft"
    changed = await stack.api(
        "PUT",
        f"/api/v1/campaigns/{cid}",
        json={"name": "Y", "phone_number_id": PHONE_NUMBER_ID, "template_id": template_id},
    )
    assert changed.status_code == 409

    paused = await stack.api("POST", f"/api/v1/campaigns/{cid}/pause")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    resumed = await stack.api("POST", f"/api/v1/campaigns/{cid}/resume")
    assert resumed.json()["status"] == "scheduled"  # not started yet: its time is to come


async def test_schedule_refuses_an_empty_audience_and_an_unapproved_template(stack):
    cid = await _campaign(stack, await _template(stack), {"1": "Taro", "2": "A-1"})
    response = await stack.api("POST", f"/api/v1/campaigns/{cid}/schedule", json={})
    assert response.status_code == 409 and response.json()["detail"]["code"] == "empty_audience"

    pending = await _campaign(stack, await _template(stack, status="PENDING"), {"1": "a", "2": "b"})
    await _upload(stack, pending, b"phone\n+819012340001\n")
    response = await stack.api("POST", f"/api/v1/campaigns/{pending}/schedule", json={})
    assert response.status_code == 409
    assert response.json()["detail"]["code"] == "template_not_approved"


async def test_bad_files_and_countries_are_refused_with_the_reason(stack):
    cid = await _campaign(stack, await _template(stack))
    response = await _upload(stack, cid, "phone,name\n+819012340001,山田\n".encode("shift_jis"))
    assert response.status_code == 422
    assert response.json()["detail"] == {
        "code": "not_utf8",
        "field": "file",
        "message": response.json()["detail"]["message"],
    }
    response = await stack.api(
        "POST",
        f"/api/v1/campaigns/{cid}/audience",
        files={"file": ("a.csv", b"phone\n090-1234-0001\n", "text/csv")},
        data={"default_country": "Japan"},
    )
    assert response.status_code == 422 and response.json()["detail"]["field"] == "default_country"
    response = await stack.api(
        "POST",
        f"/api/v1/campaigns/{cid}/audience",
        files={"file": ("a.csv", b"phone\n090-1234-0001\n", "text/csv")},
        data={"default_country": "jp"},
    )
    assert response.json()["added"] == 1
    listed = await stack.api(
        "GET", f"/api/v1/campaigns/{cid}/recipients", params={"status": "nonsense"}
    )
    assert listed.status_code == 422


async def test_an_audience_file_larger_than_other_request_bodies_is_taken(stack):
    cid = await _campaign(stack, await _template(stack))
    rows = [f"+8190{i:08d},Name {i},{'x' * 1000},{'y' * 1000}" for i in range(600)]
    data = ("phone,name,a,b\n" + "\n".join(rows) + "\n").encode()
    assert len(data) > 1024 * 1024  # over MADOGUCHI_MAX_REQUEST_BYTES
    response = await _upload(stack, cid, data)
    assert response.status_code == 200, response.text
    assert response.json()["added"] == 600


async def test_contacts_by_tag_join_the_audience_once(stack):
    cid = await _campaign(stack, await _template(stack), {"1": {"from": "contact.name"}, "2": "x"})
    async with stack.runtime.db.write() as session:
        number = await session.scalar(select(PhoneNumber))
        contacts = [
            Contact(workspace_id=1, wa_id=f"81901234000{i}", profile_name=f"C{i}") for i in range(3)
        ]
        session.add_all(contacts)
        await session.flush()
        for i, contact in enumerate(contacts):
            conversation = Conversation(
                workspace_id=1, contact_id=contact.id, phone_number_id=number.id
            )
            session.add(conversation)
            await session.flush()
            session.add(
                ConversationTag(
                    workspace_id=1, conversation_id=conversation.id, tag="vip" if i else "other"
                )
            )
    report = (
        await stack.api("POST", f"/api/v1/campaigns/{cid}/audience/tags", json={"tags": ["vip"]})
    ).json()
    assert (report["added"], report["duplicates"]) == (2, 0)
    csv_report = (await _upload(stack, cid, b"phone\n+819012340001\n+819012340000\n")).json()
    assert (csv_report["added"], csv_report["duplicates"]) == (1, 1)


async def test_agents_cannot_manage_campaigns(stack):
    _, agent_token = await add_token(stack.runtime.db, "agent")
    response = await stack.client.get(
        "/api/v1/campaigns", headers={"Authorization": f"Bearer {agent_token}"}
    )
    assert response.status_code == 403
    async with stack.runtime.db.read() as session:
        assert await session.scalar(select(Campaign.id)) is None


@pytest.mark.parametrize(
    ("tier", "per_day"),
    [("TIER_250", 250), ("TIER_1K", 1000), ("tier_100k", 100_000), ("TIER_UNLIMITED", None)],
)
def test_tier_names(tier, per_day):
    assert tier_per_day(tier) == per_day


def test_an_unknown_tier_is_refused():
    with pytest.raises(ValueError, match="not a messaging limit tier"):
        tier_per_day("GOLD")


def test_the_default_tier_setting_is_checked_at_start():
    from pydantic import ValidationError

    from madoguchi.settings import Settings

    assert Settings(
        campaign_messaging_limit="tier_10k", _env_file=None
    ).campaign_messaging_limit == ("TIER_10K")
    with pytest.raises(ValidationError, match="not a messaging limit tier"):
        Settings(campaign_messaging_limit="GOLD", _env_file=None)
