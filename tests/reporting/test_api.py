"""The reports API over real HTTP on both databases: who may read which report (agents
403, a supervisor limited to the queues they supervise, admins everything), the JSON
shape, period and grouping checks, and the CSV (BOM, header, values)."""

from __future__ import annotations

import csv
import io

import pytest

from madoguchi.services.access.tokens import create_token
from madoguchi.services.reporting import rollups
from madoguchi.store.models import QueueSupervisor, User
from tests.conftest import start_stack
from tests.reporting.world import EXPECTED, build

CUSTOM = {"period": "custom", "from": "2026-11-10", "to": "2026-11-10"}


@pytest.fixture
async def api(db_url, tmp_path):
    stack = await start_stack(db_url, tmp_path)
    db = stack.runtime.db
    world = await build(db)
    await rollups.catch_up(db)
    tokens = {}
    async with db.write() as s:
        for who, role in (("boss", "admin"), ("sue", "supervisor"), ("lim", "supervisor")):
            user = User(
                workspace_id=world.workspace_id, email=f"{who}@rep.test", name=who, role=role
            )
            s.add(user)
            await s.flush()
            tokens[who] = await create_token(s, world.workspace_id, role, who, user.id)
            if who == "lim":
                s.add(
                    QueueSupervisor(
                        workspace_id=world.workspace_id, queue_id=world.billing, user_id=user.id
                    )
                )
        tokens["agent"] = await create_token(s, world.workspace_id, "agent", "a1", world.a1)

    async def get(who, path, **params):
        return await stack.client.get(
            path, params=params, headers={"Authorization": f"Bearer {tokens[who]}"}
        )

    yield world, get
    await stack.client.aclose()
    await stack.served.stop()


REPORTS = ("overview", "queues", "agents", "flows", "templates", "csat", "calls")


async def test_who_may_read_reports(api):
    world, get = api
    for name in REPORTS:
        assert (await get("agent", f"/api/v1/reports/{name}")).status_code == 403
        assert (await get("agent", f"/api/v1/reports/{name}/export.csv")).status_code == 403
        assert (await get("sue", f"/api/v1/reports/{name}", **CUSTOM)).status_code == 200
    overview = (await get("boss", "/api/v1/reports/overview", **CUSTOM)).json()
    assert {k: overview["totals"][k] for k in EXPECTED} == EXPECTED
    assert overview["scope"] == "all" and overview["period"]["tz"] == "Asia/Tokyo"
    assert {"series", "distributions", "heatmap"} <= set(overview)
    # Lim supervises Billing only: Billing's figures, whatever the filter asks.
    limited = (await get("lim", "/api/v1/reports/queues", **CUSTOM)).json()
    assert limited["scope"] == [world.billing]
    assert [r["queue"] for r in limited["rows"]] == ["Billing"]
    assert limited["totals"]["arrived"] == 2
    other = await get("lim", "/api/v1/reports/overview", queue_id=world.support, **CUSTOM)
    assert other.json()["totals"]["arrived"] == 0
    csat = (await get("lim", "/api/v1/reports/csat", **CUSTOM)).json()
    assert csat["totals"]["asked"] == 1
    # Sue supervises no queue in particular: the whole workspace.
    everything = (await get("sue", "/api/v1/reports/queues", **CUSTOM)).json()
    assert {r["queue"] for r in everything["rows"]} == {"Support", "Billing", "(no queue)"}


async def test_parameters_are_checked(api):
    _, get = api
    missing = await get("boss", "/api/v1/reports/overview", period="custom")
    assert missing.status_code == 422 and missing.json()["detail"]["field"] == "from"
    wrong = await get("boss", "/api/v1/reports/overview", period="forever")
    assert wrong.status_code == 422
    too_fine = await get(
        "boss",
        "/api/v1/reports/overview",
        period="custom",
        group="hour",
        **{"from": "2026-01-01", "to": "2026-03-01"},
    )
    assert too_fine.status_code == 422 and too_fine.json()["detail"]["field"] == "group"
    weekly = (await get("boss", "/api/v1/reports/overview", period="30d", group="week")).json()
    assert weekly["group"] == "week" and 5 <= len(weekly["series"]) <= 6


async def test_a_filter_naming_nothing_of_the_workspace_is_refused(api):
    """An unknown queue, agent or number answered 200 with zeros (a mistyped id read as
    a quiet day): refused like any other bad parameter, in JSON and CSV alike."""
    world, get = api
    for field in ("queue_id", "agent_id", "number_id"):
        for path in ("/api/v1/reports/overview", "/api/v1/reports/agents/export.csv"):
            refused = await get("boss", path, **{field: 999_999}, **CUSTOM)
            assert refused.status_code == 422, refused.text
            assert refused.json()["detail"]["field"] == field
            assert "no " in refused.json()["detail"]["message"]
    known = {"queue_id": world.support, "agent_id": world.a1, "number_id": world.number}
    for field, value in known.items():
        assert (
            await get("boss", "/api/v1/reports/overview", **{field: value}, **CUSTOM)
        ).is_success


async def test_csv_has_a_bom_a_header_and_the_values(api):
    _, get = api
    for response in (
        await get("boss", "/api/v1/reports/queues/export.csv", **CUSTOM),
        await get("boss", "/api/v1/reports/queues", format="csv", **CUSTOM),
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        raw = response.content
        assert raw.startswith(b"\xef\xbb\xbf")
        rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
        assert list(rows[0])[:3] == ["queue_id", "queue", "arrived"]
        by_queue = {r["queue"]: r for r in rows}
        assert by_queue["Support"]["arrived"] == "5" and by_queue["Billing"]["arrived"] == "2"
        assert by_queue[""]["queue_id"] == "total" or rows[-1]["queue_id"] == "total"
        assert rows[-1]["arrived"] == "7" and rows[-1]["service_level_percent"] == "80.0"
    # A report without rows: one line per bucket, then the total.
    series = await get("boss", "/api/v1/reports/overview/export.csv", group="hour", **CUSTOM)
    lines = list(csv.reader(io.StringIO(series.content.decode("utf-8-sig"))))
    assert lines[0][0] == "bucket" and len(lines) == 1 + 24 + 1
    assert lines[11][0] == "2026-11-10T10:00" and lines[-1][0] == "total"


async def test_occupancy_over_the_api(api, db_url):
    """Occupancy in the agents report: every agent for an admin, the members of the
    supervised queues for a limited supervisor; in the CSV; absent (and said) with a
    filter it cannot honour."""
    from madoguchi.store.db import Database
    from madoguchi.store.models import AgentPresenceLog, QueueMember
    from tests.reporting.world import t

    world, get = api
    db = Database(db_url)
    try:
        async with db.write() as s:
            s.add(
                QueueMember(
                    workspace_id=world.workspace_id, queue_id=world.billing, user_id=world.a2
                )
            )
            for user, start in ((world.a1, t(1)), (world.a2, t(3))):
                for status, at in (
                    ("available", start),
                    ("offline", start.replace(hour=start.hour + 1)),
                ):
                    s.add(
                        AgentPresenceLog(
                            workspace_id=world.workspace_id, user_id=user, status=status, at=at
                        )
                    )
    finally:
        await db.dispose()
    everyone = (await get("boss", "/api/v1/reports/agents", **CUSTOM)).json()
    assert everyone["occupancy"]["shown"] is True
    rows = {r["agent"]: r for r in everyone["rows"]}
    assert rows["Aoi"]["available_seconds"] >= 3600 and rows["Ben"]["available_seconds"] >= 3600
    assert everyone["totals"]["occupancy_percent"] is not None
    limited = (await get("lim", "/api/v1/reports/agents", **CUSTOM)).json()
    assert {r["agent"] for r in limited["rows"] if r["available_seconds"]} == {"Ben"}
    assert limited["totals"]["available_seconds"] == rows["Ben"]["available_seconds"]
    table = await get("boss", "/api/v1/reports/agents/export.csv", **CUSTOM)
    header = table.content.decode("utf-8-sig").splitlines()[0].split(",")
    assert {"available_seconds", "busy_seconds", "occupancy_percent"} <= set(header)
    tagged = await get("boss", "/api/v1/reports/agents", tag="vip", **CUSTOM)
    assert tagged.status_code == 200
    assert tagged.json()["occupancy"]["shown"] is False
    assert "tag" in tagged.json()["occupancy"]["message"]
    assert (await get("agent", "/api/v1/reports/agents", **CUSTOM)).status_code == 403


def _cell(value) -> str:
    """A JSON value as the CSV writes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def test_every_report_downloads_as_csv_with_the_values_of_its_json(api, db_url):
    """Each of the seven reports: UTF-8 with a BOM (a Japanese queue name survives), a
    header, one line per row of the report (or per bucket when it has no rows) and a
    total line, each cell the JSON report's value."""
    from sqlalchemy import update

    from madoguchi.store.db import Database
    from madoguchi.store.models import Queue

    world, get = api
    db = Database(db_url)
    try:
        async with db.write() as s:
            await s.execute(update(Queue).where(Queue.id == world.billing).values(name="請求窓口"))
    finally:
        await db.dispose()
    for name in REPORTS:
        body = (await get("boss", f"/api/v1/reports/{name}", **CUSTOM)).json()
        response = await get("boss", f"/api/v1/reports/{name}/export.csv", **CUSTOM)
        assert response.status_code == 200, (name, response.text)
        assert response.headers["content-type"].startswith("text/csv"), name
        disposition = response.headers["content-disposition"]
        assert f'filename="{name}-2026-11-10-2026-11-10.csv"' in disposition, name
        raw = response.content
        assert raw.startswith(b"\xef\xbb\xbf"), name
        lines = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
        expected = body.get("rows") or body["series"]
        assert len(lines) == len(expected) + 1, name
        for line, row in zip(lines, expected, strict=False):
            for key, value in row.items():
                if not isinstance(value, (dict, list)):
                    assert line[key] == _cell(value), (name, key)
        total = lines[-1]
        assert next(iter(total.values())) == "total", name
        for key, value in body["totals"].items():
            if not isinstance(value, (dict, list)):
                assert total[key] == _cell(value), (name, key)
    queues = (await get("boss", "/api/v1/reports/queues/export.csv", **CUSTOM)).content
    by_queue = {r["queue"]: r for r in csv.DictReader(io.StringIO(queues.decode("utf-8-sig")))}
    assert by_queue["請求窓口"]["arrived"] == "2" and by_queue["Support"]["arrived"] == "5"
    csat = (await get("boss", "/api/v1/reports/csat/export.csv", **CUSTOM)).content
    total = list(csv.DictReader(io.StringIO(csat.decode("utf-8-sig"))))[-1]
    assert (total["asked"], total["answered"], total["score"]) == ("3", "2", "4.0")
    templates = (await get("boss", "/api/v1/reports/templates/export.csv", **CUSTOM)).content
    [promo, _] = list(csv.DictReader(io.StringIO(templates.decode("utf-8-sig"))))
    assert (promo["template"], promo["category"], promo["sent"]) == ("promo", "marketing", "1")


async def test_a_reports_other_tables_download_on_their_own(api):
    """The CSAT and calls reports' per-agent tables, as CSV, each cell the JSON's; a table
    the report does not have is refused with the ones it has."""
    _, get = api
    for name in ("csat", "calls"):
        body = (await get("boss", f"/api/v1/reports/{name}", **CUSTOM)).json()
        response = await get("boss", f"/api/v1/reports/{name}/export.csv", table="agents", **CUSTOM)
        assert response.status_code == 200, response.text
        assert f'filename="{name}-agents-2026-11-10' in response.headers["content-disposition"]
        assert response.content.startswith(b"\xef\xbb\xbf")
        lines = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert len(lines) == len(body["agents"]), name  # no total line
        for line, row in zip(lines, body["agents"], strict=True):
            for key, value in row.items():
                if not isinstance(value, (dict, list)):
                    assert line[key] == _cell(value), (name, key)
    csat = (await get("boss", "/api/v1/reports/csat", **CUSTOM)).json()
    assert csat["agents"], "the hand-built world has answered CSAT questions per agent"
    wrong = await get("boss", "/api/v1/reports/queues", format="csv", table="nope", **CUSTOM)
    assert wrong.status_code == 422
    assert "has no table 'nope'" in wrong.text and "rows" in wrong.text


async def test_reports_are_documented_in_openapi(api):
    _, get = api
    schema = (await get("boss", "/openapi.json")).json()
    for name in REPORTS:
        for path in (f"/api/v1/reports/{name}", f"/api/v1/reports/{name}/export.csv"):
            operation = schema["paths"][path]["get"]
            assert operation["tags"] == ["reports"], path
            assert operation.get("description") or operation.get("summary"), path
            params = {p["name"] for p in operation["parameters"]}
            assert {"period", "group", "from", "to", "queue_id", "agent_id", "number_id"} <= params
            assert {"tag", "disposition", "business_hours"} <= params, path
