"""Reports in the browser: a supervisor opens them, changes the period and the grouping,
sees the charts (trend, distributions, heatmap, funnel) and downloads a CSV, in English
and in Japanese. The figures come from conversations the simulator's customers had with
an agent over real HTTP, counted into the rollups by the running worker."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from madoguchi.services.access import users
from madoguchi.services.access.tokens import create_token
from madoguchi.store.models import Conversation, User
from tests.helpers import eventually
from tests.ui.conftest import ADMIN, ANA, PASSWORD, screenshot, set_presence, sign_in, ui_stack
from tests.ui.held_reads import HeldRead
from tests.ui.test_agent_desktop import customer_says, customer_thread, sim_customer

SUPERVISOR = "sue@acme.test"


@pytest.fixture
async def busy(tmp_path, sqlite_template):
    """Three customers wrote today; Ana answered and closed two, one still waits."""
    async with ui_stack(tmp_path, sqlite_template) as s:
        async with s.runtime.db.write() as session:
            ana = await session.scalar(select(User).where(User.email == ANA))
            sue = User(
                workspace_id=ana.workspace_id,
                email=SUPERVISOR,
                name="Sue Supervisor",
                role="supervisor",
            )
            session.add(sue)
            await session.flush()
            await users.set_password(session, sue, PASSWORD)
            token = await create_token(session, ana.workspace_id, "agent", "ana", ana.id)
        headers = {"Authorization": f"Bearer {token}"}

        async def as_ana(method: str, path: str, **kwargs):
            response = await s.client.request(method, path, headers=headers, **kwargs)
            assert response.status_code == 200, response.text
            return response.json()

        await as_ana("PUT", "/api/v1/agents/me/presence", json={"status": "available"})
        for i, name in enumerate(("Aoi", "Ren")):
            customer = await sim_customer(s, f"81900000070{i}", name)
            await customer_says(s, customer, "Where is my parcel?")

            async def offered():
                async with s.runtime.db.read() as session:
                    return await session.scalar(
                        select(Conversation.id).where(Conversation.status == "offered")
                    )

            cid = await eventually(offered)
            await as_ana("POST", f"/api/v1/conversations/{cid}/accept")
            reply = {"message": {"type": "text", "text": {"body": "It arrives today."}}}
            sent = await s.client.post(
                f"/api/v1/conversations/{cid}/messages", headers=headers, json=reply
            )
            assert sent.status_code == 202, sent.text
            await as_ana(
                "POST", f"/api/v1/conversations/{cid}/close", json={"disposition": "solved"}
            )
        await as_ana("PUT", "/api/v1/agents/me/presence", json={"status": "away"})
        waiting = await sim_customer(s, "819000000709", "Mio")
        await customer_says(s, waiting, "Hello?")

        async def counted():
            r = await s.api("GET", "/api/v1/reports/overview", params={"period": "today"})
            totals = r.json()["totals"]
            return totals if totals["arrived"] == 3 and totals["answered"] == 2 else None

        await eventually(counted)
        yield s


async def test_a_supervisor_reads_the_reports_and_downloads_a_csv(busy, browser):
    page = await sign_in(browser, busy, SUPERVISOR)
    await page.get_by_role("button", name="Reports").click()
    reports = page.get_by_test_id("reports-page")
    await expect(reports).to_have_attribute("data-report", "overview")
    body = page.get_by_test_id("reports-body")
    await expect(body).to_have_attribute("data-group", "day")

    await page.get_by_test_id("reports-period-picker").get_by_text("Today", exact=True).click()
    await expect(page.get_by_test_id("reports-total-arrived")).to_have_text("3")
    await expect(page.get_by_test_id("reports-total-answered")).to_have_text("2")
    await page.get_by_test_id("reports-group").click()
    await page.get_by_role("option", name="Hour", exact=True).click()
    await expect(body).to_have_attribute("data-group", "hour")
    await expect(page.get_by_test_id("reports-series-row")).to_have_count(24)
    # The charts are drawn: a line per figure, bars in the distributions, the heatmap.
    trend = page.get_by_test_id("reports-trend")
    await expect(trend.locator(".recharts-line")).to_have_count(3)
    wait = page.get_by_test_id("reports-distribution-wait")
    await expect(wait.locator(".recharts-bar-rectangle").first).to_be_visible()
    cells = page.get_by_test_id("heatmap-cell")
    await expect(cells).to_have_count(7 * 24)
    await expect(page.locator('[data-testid="heatmap-cell"][data-count="3"]')).to_have_count(1)
    await screenshot(page, "reports-overview.png")
    await page.get_by_test_id("reports-heatmap").scroll_into_view_if_needed()
    await screenshot(page, "reports-distributions-heatmap.png")

    await page.get_by_test_id("reports-tab-agents").click()
    await expect(reports).to_have_attribute("data-report", "agents")
    rows = page.get_by_test_id("reports-row")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Ana Agent")
    # Occupancy: Ana was available, handled two conversations, then went away.
    occupancy = page.get_by_test_id("reports-occupancy")
    await expect(occupancy.locator(".recharts-bar-rectangle").first).to_be_visible()
    await expect(page.get_by_test_id("reports-total-occupancy_percent")).to_have_text(
        re.compile(r"\d+(\.\d)? %")
    )
    await expect(page.get_by_role("columnheader", name="Occupancy").first).to_be_visible()
    await occupancy.scroll_into_view_if_needed()
    await screenshot(page, "reports-agents-occupancy.png")

    async with page.expect_download() as download_info:
        await page.get_by_test_id("reports-csv").click()
    download = await download_info.value
    assert re.fullmatch(r"agents-\d{4}-\d\d-\d\d-\d{4}-\d\d-\d\d\.csv", download.suggested_filename)
    content = (await download.path()).read_bytes()  # noqa: ASYNC240 (a small local file)
    assert content.startswith(b"\xef\xbb\xbf")
    lines = content.decode("utf-8-sig").splitlines()
    header = lines[0].split(",")
    assert header[:2] == ["agent_id", "agent"] and "answered" in header
    ana_line = next(line for line in lines if ",Ana Agent," in line)
    assert ana_line.split(",")[header.index("answered")] == "2"
    # Ana's shift and handling can take well under a second here, so whole seconds may be
    # 0: the figures themselves are checked with known answers in tests/reporting; here the
    # CSV must carry what the JSON report says.
    report = await busy.api("GET", "/api/v1/reports/agents", params={"period": "today"})
    ana = next(row for row in report.json()["rows"] if row["agent"] == "Ana Agent")
    for column in ("available_seconds", "busy_seconds", "occupancy_percent"):
        cell = ana_line.split(",")[header.index(column)]
        expected = ana[column]
        assert (cell == "") if expected is None else (float(cell) == pytest.approx(expected)), (
            column
        )

    await page.get_by_test_id("reports-period-picker").get_by_text("Last 30 days").click()
    await expect(body).to_have_attribute("data-period-from", re.compile(r"\d{4}-\d\d-\d\d"))
    # 30 days by hour: 720 buckets drawn, the first 100 tabled until asked for all.
    await expect(page.get_by_test_id("reports-series-row")).to_have_count(100)
    await expect(page.get_by_test_id("reports-show-all")).to_have_text("Show all 720 rows")
    await page.get_by_test_id("reports-group").click()
    await page.get_by_role("option", name="Week", exact=True).click()
    await expect(body).to_have_attribute("data-group", "week")
    # Custom dates start from the period on screen; the report follows the dates.
    last_30 = await body.get_attribute("data-period-from")
    await page.get_by_test_id("reports-period-picker").get_by_text("Custom").click()
    await expect(page.get_by_test_id("reports-from")).to_have_value(last_30)
    today = await body.get_attribute("data-period-to")
    await page.get_by_test_id("reports-from").fill(today)
    await expect(body).to_have_attribute("data-period-from", today)
    await expect(page.get_by_test_id("reports-series-row")).to_have_count(1)
    await page.get_by_test_id("reports-tab-flows").click()
    await expect(page.get_by_test_id("reports-funnel")).to_be_visible()
    await page.get_by_test_id("reports-tab-csat").click()
    await expect(reports).to_have_attribute("data-report", "csat")
    await expect(page.get_by_test_id("reports-distribution-score")).to_be_visible()


async def test_reports_in_japanese(busy, browser):
    page = await sign_in(browser, busy, SUPERVISOR)
    await page.get_by_test_id("language-select").click()
    await page.get_by_role("option", name="日本語").click()
    await page.get_by_role("button", name="レポート").click()
    await expect(page.get_by_role("heading", name="レポート")).to_be_visible()
    await page.get_by_test_id("reports-period-picker").get_by_text("今日", exact=True).click()
    await expect(page.get_by_test_id("reports-total-arrived")).to_have_text("3")
    await expect(page.get_by_text("サービスレベル", exact=True).first).to_be_visible()
    await page.get_by_test_id("reports-group").click()
    await page.get_by_role("option", name="時間", exact=True).click()
    await expect(page.get_by_test_id("reports-body")).to_have_attribute("data-group", "hour")
    await expect(page.get_by_test_id("reports-trend").locator(".recharts-line")).to_have_count(3)
    await expect(page.get_by_text("曜日・時間帯別の着信")).to_be_visible()
    await screenshot(page, "reports-overview-ja.png")

    await page.get_by_test_id("reports-tab-agents").click()
    await expect(page.get_by_test_id("reports-occupancy")).to_be_visible()
    await expect(page.get_by_text("担当者別の稼働率")).to_be_visible()
    await expect(page.get_by_role("columnheader", name="稼働率").first).to_be_visible()
    await page.get_by_test_id("reports-occupancy").scroll_into_view_if_needed()
    await screenshot(page, "reports-agents-occupancy-ja.png")

    await page.get_by_test_id("reports-tab-queues").click()
    await expect(page.get_by_test_id("reports-row").filter(has_text="Support")).to_contain_text("3")
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="CSV をダウンロード").click()
    download = await download_info.value
    assert download.suggested_filename.startswith("queues-")
    content = (await download.path()).read_bytes()  # noqa: ASYNC240 (a small local file)
    assert content.startswith(b"\xef\xbb\xbf")
    lines = content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("queue_id,queue,arrived,")
    assert any(line.split(",")[1] == "Support" and line.split(",")[2] == "3" for line in lines)


async def test_csat_set_on_a_queue_asked_at_close_and_shown_on_the_conversation(ui, browser):
    admin = await sign_in(browser, ui, ADMIN)
    await admin.get_by_role("button", name="Queues").click()
    support = admin.get_by_test_id("queue-row").filter(has_text="Support")
    await support.get_by_role("button", name="Edit").click()
    form = admin.get_by_test_id("queue-form")
    await form.get_by_test_id("queue-csat-enabled").check()
    await form.get_by_test_id("queue-csat-kind").click()
    await admin.get_by_role("option", name="Buttons: Good / Okay / Poor").click()
    await form.get_by_label("Question (English)").fill("Was Ana helpful?")
    await form.get_by_test_id("queue-csat").scroll_into_view_if_needed()
    await screenshot(admin, "queue-csat.png")
    await admin.get_by_test_id("queue-save").click()
    await expect(form).to_have_count(0)
    queues = (await ui.api("GET", "/api/v1/queues")).json()
    [spec] = [q for q in queues if q["name"] == "Support"]
    assert spec["csat"]["enabled"] and spec["csat"]["kind"] == "buttons"
    assert spec["csat"]["texts"]["en"]["question"] == "Was Ana helpful?"

    agent = await sign_in(browser, ui, ANA)
    await set_presence(agent, "Available")
    kai = await sim_customer(ui, "15550000777", "Kai")
    await customer_says(ui, kai, "My order is late")
    await agent.get_by_test_id("offer-accept").click()
    await expect(agent.get_by_test_id("chat-title")).to_have_text("Kai")
    await agent.get_by_test_id("close-button").click()
    await agent.get_by_test_id("disposition-select").click()
    await agent.get_by_role("option", name="Solved").click()
    await agent.get_by_test_id("close-submit").click()
    badge = agent.get_by_test_id("conversation-csat")
    await expect(badge).to_contain_text("Asked, not answered yet")

    async def question():
        thread = await customer_thread(ui, kai)
        return next((m for m in thread if m["type"] == "interactive"), None)

    asked = await eventually(question)
    assert asked["content"]["body"]["text"] == "Was Ana helpful?"
    tapped = await ui.sim_client.post(
        f"/_sim/customers/{kai['user_id']}/messages",
        json={"type": "button_reply", "message_wamid": asked["wamid"], "button_id": "Good"},
    )
    assert tapped.status_code == 200, tapped.text
    await expect(badge).to_have_attribute("data-score", "5")
    await expect(badge).to_contain_text("Rated 5 / 5")
    await expect(agent.get_by_test_id("composer-readonly")).to_contain_text("closed")
    await screenshot(agent, "conversation-csat.png")

    # …and counted in the CSAT report.
    await admin.get_by_role("button", name="Reports").click()
    await admin.get_by_test_id("reports-tab-csat").click()
    await admin.get_by_test_id("reports-period-picker").get_by_text("Today", exact=True).click()
    await expect(admin.get_by_test_id("reports-total-score")).to_have_text("5")
    await expect(admin.get_by_test_id("reports-total-response_rate_percent")).to_have_text("100 %")
    await expect(admin.get_by_test_id("reports-agent-row")).to_contain_text("Ana Agent")
    score = admin.get_by_test_id("reports-distribution-score")
    await expect(score.locator(".recharts-bar-rectangle").first).to_be_visible()
    await screenshot(admin, "reports-csat.png")


async def test_the_period_on_screen_is_the_last_one_picked(ui, browser):
    """A report's answer for a period picked before lands after the one for the period
    picked last: the page keeps showing the last one."""
    page = await sign_in(browser, ui, ADMIN)
    await page.get_by_role("button", name="Reports").click()
    body = page.get_by_test_id("reports-body")
    await expect(body).to_have_attribute("data-group", "day")
    picker = page.get_by_test_id("reports-period-picker")
    last_7 = await body.get_attribute("data-period-from")
    today = await HeldRead(page, r"/reports/overview\?period=today&").install()
    await picker.get_by_text("Today", exact=True).click()
    await today.taken()
    await picker.get_by_text("Last 30 days").click()
    await expect(body).not_to_have_attribute("data-period-from", last_7)  # today's is held
    last_30 = await body.get_attribute("data-period-from")
    assert last_30 != await body.get_attribute("data-period-to")
    await today.release()  # today's answer lands last
    await expect(body).to_have_attribute("data-period-from", last_30)
    await expect(page.locator("[data-testid=reports-page]:not([data-loading])")).to_have_count(1)
