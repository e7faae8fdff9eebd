"""The flow editor people can read: the guide's flow (made without positions, as the
demo and the API make it) opens laid out by dagre and fitted to the view, widgets large
enough to read, every exit labelled on its widget in the reader's language, no widget
over another; "Tidy up" lays out again; a large flow gets a minimap."""

from __future__ import annotations

from playwright.async_api import expect

from madoguchi.domain.flows.examples import guide_flow
from tests.conftest import PHONE_NUMBER_ID
from tests.helpers import eventually
from tests.ui.conftest import ADMIN, screenshot, sign_in
from tests.ui.test_admin_and_flows import node


async def create_flow(ui, name: str, definition: dict, *, publish: bool = False) -> int:
    created = await ui.api("POST", "/api/v1/flows", json={"name": name, "definition": definition})
    assert created.status_code == 201, created.text
    flow_id = created.json()["id"]
    if publish:
        published = await ui.api("POST", f"/api/v1/flows/{flow_id}/publish")
        assert published.status_code in (200, 201), published.text
    return flow_id


async def boxes(page) -> dict[str, dict]:
    out = {}
    for item in await page.locator(".react-flow__node").all():
        out[await item.get_attribute("data-id")] = await item.bounding_box()
    return out


def overlap(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def assert_laid_out(placed: dict[str, dict]) -> None:
    ids = sorted(placed)
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            assert not overlap(placed[a], placed[b]), f"{a} and {b} overlap"
    # Top to bottom along the flow: each step below the one before it.
    order = ["Start", "Welcome", "Ask_Department", "Check_Department", "Route_to_Sales"]
    tops = [placed[n]["y"] for n in order]
    assert tops == sorted(tops) and len(set(tops)) == len(tops), tops
    # The two routes are side by side, in one row.
    assert placed["Route_to_Sales"]["y"] == placed["Route_to_Support"]["y"]


async def test_the_guides_flow_opens_readable_in_english_and_japanese(ui, browser):
    await create_flow(
        ui, "Guide", guide_flow([PHONE_NUMBER_ID], sales_queue="Billing"), publish=True
    )
    page = await sign_in(browser, ui, ADMIN)
    await page.get_by_role("button", name="Flows").click()
    row = page.locator("tr", has_text="Guide")
    # The number as people know it, not Meta's internal id.
    await expect(row.get_by_test_id("flow-numbers")).to_have_text("+1 555 0123")
    await row.get_by_role("button", name="Open").click()
    await expect(page.get_by_test_id("flow-node")).to_have_count(6)

    placed = await boxes(page)
    assert_laid_out(placed)
    canvas = await page.get_by_test_id("flow-canvas").bounding_box()
    for name, box in placed.items():
        # Fitted: every widget is on screen, and drawn at a readable size.
        assert box["x"] >= canvas["x"] and box["x"] + box["width"] <= canvas["x"] + canvas["width"]
        assert box["width"] >= 170, f"{name} is drawn {box['width']:.0f}px wide"
    # Exits are labelled on their widget; lines carry no labels of their own to overlap.
    check = node(page, "Check_Department")
    await expect(check.get_by_test_id("flow-exit")).to_have_text(["sales", "support", "else"])
    await expect(check).to_contain_text("department equals 1 → sales")
    await expect(node(page, "Start")).to_contain_text("+1 555 0123")
    await expect(page.locator(".react-flow__edge")).to_have_count(8)
    await expect(page.locator(".react-flow__edge-text")).to_have_count(0)
    # A published, unchanged flow does not ask to be published.
    await expect(page.get_by_test_id("flow-problem-count")).to_have_text("Published, no changes")
    # The widget's name field shows the name it is drawn with.
    await node(page, "Ask_Department").click()
    await expect(page.get_by_test_id("widget-name")).to_have_value("Ask_Department")
    await page.locator(".react-flow__pane").click(position={"x": 5, "y": 5})
    await screenshot(page, "flow-editor-guide.png")

    # 日本語: the widget kinds and the exit names follow.
    await page.get_by_test_id("language-select").click()
    await page.get_by_role("option", name="日本語").click()
    ask = node(page, "Ask_Department")
    await expect(ask.get_by_test_id("flow-exit")).to_have_text(["成功", "無効", "タイムアウト"])
    await expect(check.get_by_test_id("flow-exit")).to_have_text(["sales", "support", "それ以外"])
    await expect(page.get_by_test_id("flow-problem-count")).to_have_text("公開済み・変更なし")
    await screenshot(page, "flow-editor-guide-ja.png")


async def test_tidy_up_lays_a_messy_flow_out_again(ui, browser):
    messy = guide_flow([PHONE_NUMBER_ID], sales_queue="Billing")
    for item in messy["nodes"]:
        item["position"] = {"x": 100, "y": 100}  # all on top of each other
    flow_id = await create_flow(ui, "Messy", messy)
    page = await sign_in(browser, ui, ADMIN)
    await page.goto(f"{ui.url}/flows/{flow_id}")
    await expect(page.get_by_test_id("flow-node")).to_have_count(6)
    placed = await boxes(page)
    assert overlap(placed["Start"], placed["Welcome"])  # as saved
    await page.get_by_test_id("flow-tidy").click()
    await expect(page.get_by_test_id("flow-save")).to_be_enabled()
    await eventually(laid_out_ok(page))
    await page.get_by_test_id("flow-save").click()

    # The button is disabled while the save is on its way too (it shows it loading), so
    # the draft is read until the save has landed: six widgets, six places.
    async def saved_apart() -> bool:
        saved = (await ui.api("GET", f"/api/v1/flows/{flow_id}")).json()["draft"]["nodes"]
        return len({(n["position"]["x"], n["position"]["y"]) for n in saved}) == 6

    await eventually(saved_apart)
    await expect(page.get_by_test_id("flow-save")).to_be_disabled()


def laid_out_ok(page):
    async def check() -> bool:
        try:
            assert_laid_out(await boxes(page))
        except AssertionError:
            return False
        return True

    return check


async def test_a_large_flow_has_a_minimap_and_a_small_one_none(ui, browser):
    nodes = [{"id": "Start", "type": "start", "numbers": [PHONE_NUMBER_ID]}]
    edges = []
    for i in range(1, 10):
        nodes.append({"id": f"Say_{i}", "type": "send_media", "kind": "text", "text": f"Step {i}"})
        edges.append({"from": nodes[-2]["id"], "exit": "next", "to": f"Say_{i}"})
    nodes.append({"id": "Bye", "type": "end"})
    edges.append({"from": "Say_9", "exit": "next", "to": "Bye"})
    large = await create_flow(ui, "Large", {"nodes": nodes, "edges": edges})
    small = await create_flow(ui, "Small", guide_flow([PHONE_NUMBER_ID], sales_queue="Billing"))
    page = await sign_in(browser, ui, ADMIN)
    await page.goto(f"{ui.url}/flows/{large}")
    await expect(page.get_by_test_id("flow-node")).to_have_count(11)
    await expect(page.locator(".react-flow__minimap")).to_be_visible()
    await page.goto(f"{ui.url}/flows/{small}")
    await expect(page.get_by_test_id("flow-node")).to_have_count(6)
    await expect(page.locator(".react-flow__minimap")).to_have_count(0)
