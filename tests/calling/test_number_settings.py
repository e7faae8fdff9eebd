"""A number's calling settings are Meta's: changed and read back through the Graph API
(the simulator plays Meta and honours them), checked here first with the field named."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from madoguchi.store.models import AuditEntry, PhoneNumber
from madoguchi.whatsapp.graph import GraphClient
from tests.calling.kit import make_desk
from tests.conftest import start_sim_stack


@pytest.fixture
async def desk(db_url, tmp_path):
    s = await start_sim_stack(db_url, tmp_path)
    d = await make_desk(s)
    async with s.runtime.db.read() as session:
        d.number = await session.scalar(select(PhoneNumber.id))
    yield d
    await s.client.aclose()
    await s.sim_client.aclose()
    await s.served.stop()
    await s.sim.stop()


async def test_calling_turned_off_and_on_at_meta(desk):
    path = f"/api/v1/numbers/{desk.number}/calling"
    assert (await desk.as_("admin", "GET", path)).json()["calling"]["status"] == "ENABLED"
    hours = {
        "status": "ENABLED",
        "timezone_id": "Asia/Tokyo",
        "weekly_operating_hours": [
            {"day_of_week": "MONDAY", "open_time": "0900", "close_time": "1800"}
        ],
        "holiday_schedule": [{"date": "2026-12-31"}],
    }
    r = await desk.as_("admin", "PUT", path, json={"status": "DISABLED", "call_hours": hours})
    assert r.status_code == 200, r.text
    assert r.json()["calling"]["status"] == "DISABLED"
    assert r.json()["calling"]["call_hours"]["timezone_id"] == "Asia/Tokyo"
    # Meta (the simulator) now refuses the customer's call to this number.
    customer = await desk.customer("819066660001")
    refused = await desk.s.sim_client.post(f"/_sim/customers/{customer['user_id']}/calls")
    assert refused.status_code == 409 and "disabled" in refused.json()["detail"]
    r = await desk.as_("admin", "PUT", path, json={"status": "ENABLED"})
    assert r.json()["calling"]["status"] == "ENABLED"
    assert r.json()["calling"]["call_hours"]["status"] == "ENABLED"  # untouched fields stay
    assert (
        await desk.s.sim_client.post(f"/_sim/customers/{customer['user_id']}/calls")
    ).status_code == 200


async def test_bad_settings_are_refused_with_the_field(desk):
    path = f"/api/v1/numbers/{desk.number}/calling"
    bad_zone = await desk.as_(
        "admin",
        "PUT",
        path,
        json={
            "call_hours": {
                "status": "ENABLED",
                "timezone_id": "Mars/Olympus",
                "weekly_operating_hours": [
                    {"day_of_week": "MONDAY", "open_time": "0900", "close_time": "1800"}
                ],
            }
        },
    )
    assert bad_zone.status_code == 422
    assert "timezone_id" in bad_zone.text
    backwards = await desk.as_(
        "admin",
        "PUT",
        path,
        json={
            "call_hours": {
                "status": "ENABLED",
                "timezone_id": "Asia/Tokyo",
                "weekly_operating_hours": [
                    {"day_of_week": "MONDAY", "open_time": "1800", "close_time": "0900"}
                ],
            }
        },
    )
    assert backwards.status_code == 422 and "close_time must be after open_time" in backwards.text
    assert (await desk.as_("admin", "PUT", path, json={"status": "MAYBE"})).status_code == 422
    empty = await desk.as_("admin", "PUT", path, json={})
    assert empty.status_code == 422 and empty.json()["detail"]["code"] == "nothing_to_change"
    assert (await desk.as_("aiko", "PUT", path, json={"status": "DISABLED"})).status_code == 403
    assert (await desk.as_("admin", "GET", "/api/v1/numbers/999999/calling")).status_code == 404


async def test_meta_unreachable_is_said_not_failed(desk):
    # Nothing listens on the discard port of the loopback: Meta is unreachable.
    real, dead = desk.s.runtime.graph, GraphClient("http://127.0.0.1:9", "v26.0", timeout=2)
    desk.s.runtime.graph = dead
    try:
        r = await desk.as_("admin", "GET", f"/api/v1/numbers/{desk.number}/calling")
        assert r.status_code == 200
        assert r.json()["calling"] is None and "could not be reached" in r.json()["problem"]
        r = await desk.as_(
            "admin", "PUT", f"/api/v1/numbers/{desk.number}/calling", json={"status": "DISABLED"}
        )
        assert r.status_code == 502 and r.json()["detail"]["code"] == "meta_unreachable"
    finally:
        desk.s.runtime.graph = real
        await dead.aclose()


async def test_overlapping_hours_and_impossible_holidays_are_refused_here(desk):
    path = f"/api/v1/numbers/{desk.number}/calling"

    def hours(weekly, holidays=()):
        return {
            "call_hours": {
                "status": "ENABLED",
                "timezone_id": "Asia/Tokyo",
                "weekly_operating_hours": weekly,
                "holiday_schedule": list(holidays),
            }
        }

    monday = {"day_of_week": "MONDAY", "open_time": "0900", "close_time": "1200"}
    overlap = await desk.as_(
        "admin",
        "PUT",
        path,
        json=hours([monday, {"day_of_week": "MONDAY", "open_time": "1100", "close_time": "1800"}]),
    )
    assert overlap.status_code == 422 and "MONDAY: 0900-1200 and 1100-1800 overlap" in overlap.text
    split = await desk.as_(
        "admin",
        "PUT",
        path,
        json=hours([monday, {"day_of_week": "MONDAY", "open_time": "1300", "close_time": "1800"}]),
    )
    assert split.status_code == 200, split.text
    assert len(split.json()["calling"]["call_hours"]["weekly_operating_hours"]) == 2
    for holiday, said in (
        ({"date": "2026-02-30"}, "not a calendar date"),
        ({"date": "2026-12-31", "start_time": "1800", "end_time": "0900"}, "end_time"),
    ):
        r = await desk.as_("admin", "PUT", path, json=hours([monday], [holiday]))
        assert r.status_code == 422 and said in r.text, r.text
    twice = await desk.as_(
        "admin", "PUT", path, json=hours([monday], [{"date": "2026-12-31"}, {"date": "2026-12-31"}])
    )
    assert twice.status_code == 422 and "listed twice" in twice.text


async def test_meta_refusals_say_what_to_do(desk):
    path = f"/api/v1/numbers/{desk.number}/calling"
    pnid = (await desk.as_("admin", "GET", "/api/v1/phone-numbers")).json()[0]["phone_number_id"]
    for code, reason, words in (
        (190, "token", "reconnect the number"),
        (10, "permission", "whatsapp_business_management"),
        (138000, "calling", "messaging limit"),
        (100, "invalid", "invalid"),
        (99999, "other", "WhatsApp refused the settings"),
    ):
        queued = await desk.s.sim_client.post(
            "/_sim/faults",
            json={
                "phone_number_id": pnid,
                "endpoint": "settings",
                "code": code,
                "details": f"simulated {code}",
            },
        )
        assert queued.status_code == 200, queued.text
        r = await desk.as_("admin", "PUT", path, json={"status": "DISABLED"})
        assert r.status_code == 502, r.text
        detail = r.json()["detail"]
        assert detail["code"] == "meta_refused" and detail["reason"] == reason
        assert detail["meta_code"] == code and detail["meta_message"] == f"simulated {code}"
        assert words in detail["message"] and f"#{code}: simulated {code}" in detail["message"]
    # Nothing was changed at Meta by the refused attempts.
    assert (await desk.as_("admin", "GET", path)).json()["calling"]["status"] == "ENABLED"


async def test_a_change_is_in_the_audit_log_with_before_and_after(desk):
    path = f"/api/v1/numbers/{desk.number}/calling"
    r = await desk.as_(
        "admin", "PUT", path, json={"status": "DISABLED", "call_icon_visibility": "DISABLE_ALL"}
    )
    assert r.status_code == 200, r.text
    async with desk.s.runtime.db.read() as session:
        entries = (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action == "number.calling_update")
            )
        ).all()
    assert len(entries) == 1  # one change, one entry
    [entry] = entries
    assert entry.target_type == "phone_number" and entry.target_id == str(desk.number)
    assert entry.before == {"status": "ENABLED", "call_icon_visibility": "DEFAULT"}
    assert entry.after == {"status": "DISABLED", "call_icon_visibility": "DISABLE_ALL"}
