"""Calls in the agent's browser (Chromium with fake media devices): a customer's call
rings, is answered, audio flows both ways with the simulated phone (RTP counters grow in
the browser, the phone hears sound), mute silences the agent, hang-up ends both sides;
hold plays a chime to the customer instead of the agent; an agent asks a customer's
permission and calls them from the chat."""

from __future__ import annotations

import os

import pytest

from tests.conftest import PHONE_NUMBER_ID
from tests.helpers import eventually, reached_the_product
from tests.ui.conftest import ANA, CHROMIUM, CHROMIUM_ARGS, screenshot, set_presence, sign_in

MEDIA_ARGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    # The simulated phone listens on the loopback only: the browser must offer it too.
    "--allow-loopback-in-peer-connection",
]


@pytest.fixture
async def browser():
    """Chromium with fake microphone and camera, permissions granted."""
    from playwright.async_api import async_playwright

    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    manager = async_playwright()
    playwright = await manager.start()
    try:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *MEDIA_ARGS]
        )
    except Exception as exc:
        await manager.__aexit__(None, None, None)
        pytest.skip(f"Chromium cannot start: {exc}")
    try:
        yield browser
    finally:
        await browser.close()
        await manager.__aexit__(None, None, None)


async def sim_customer(stack, wa_id: str, name: str) -> dict:
    r = await stack.sim_client.post("/_sim/customers", json={"wa_id": wa_id, "name": name})
    assert r.status_code in (200, 201), r.text
    return r.json()


async def sim_call(stack, call_id: str) -> dict:
    return (await stack.sim_client.get(f"/_sim/calls/{call_id}")).json()


async def counter(page, name: str) -> int:
    value = await page.get_by_test_id("current-call").get_attribute(f"data-packets-{name}")
    return int(value or 0)


async def audio_both_ways(stack, page, sim_id: str) -> dict:
    """RTP flows both ways in the browser and the phone hears the agent's microphone."""

    async def check():
        sim = await sim_call(stack, sim_id)
        sent, received = await counter(page, "sent"), await counter(page, "received")
        heard = sim["media"]["audible_frames_received"]
        return sim if sent > 50 and received > 50 and heard > 5 else None

    return await eventually(check)


async def test_customer_call_answered_muted_and_hung_up_in_the_browser(ui, browser):
    agent = await sign_in(browser, ui, ANA)
    await set_presence(agent, "Available")
    hana = await sim_customer(ui, "819033330001", "Hana Calling")
    r = await ui.sim_client.post(
        f"/_sim/customers/{hana['user_id']}/calls", json={"phone_number_id": PHONE_NUMBER_ID}
    )
    assert r.status_code == 200, r.text
    sim_id = r.json()["id"]

    incoming = agent.get_by_test_id("incoming-call")
    await incoming.wait_for()
    assert "Hana Calling" in await incoming.inner_text()
    await screenshot(agent, "call-incoming.png")
    await agent.get_by_test_id("call-answer").click()
    current = agent.get_by_test_id("current-call")
    await agent.locator('[data-testid="current-call"][data-status="active"]').wait_for()
    assert await incoming.count() == 0
    sim = await audio_both_ways(ui, agent, sim_id)
    assert sim["state"] == "ongoing"
    assert sim["actions"] == ["pre_accept", "accept"]
    await screenshot(agent, "call-active.png")

    # The microphone list offers the (fake) device.
    options = await agent.get_by_test_id("call-microphone").locator("option").count()
    assert options >= 1

    # Mute: the phone keeps receiving frames, but no more sound.
    await agent.get_by_test_id("call-mute").click()
    await agent.locator('[data-testid="current-call"][data-muted="true"]').wait_for()
    muted_at = (await sim_call(ui, sim_id))["media"]

    async def frames_after(start: dict, count: int):
        async def check():
            media = (await sim_call(ui, sim_id))["media"]
            return media if media["frames_received"] >= start["frames_received"] + count else None

        return await eventually(check)

    # Sound captured before the click may still be on its way (the browser's encoder, the
    # loopback, the phone's decoder, each late on a busy machine): let 50 frames through
    # first, then the next 150 must be silent.
    before = await frames_after(muted_at, 50)
    after = await frames_after(before, 150)
    assert after["audible_frames_received"] - before["audible_frames_received"] <= 2
    await agent.get_by_test_id("call-mute").click()
    await agent.locator('[data-testid="current-call"][data-muted="false"]').wait_for()

    async def sound_again():
        media = (await sim_call(ui, sim_id))["media"]
        return media["audible_frames_received"] > after["audible_frames_received"] + 3

    await eventually(sound_again)

    # Hold, with the microphone muted: the phone hears the hold chime (so not the agent's
    # microphone), the agent sees the call on hold; resuming gives back the microphone as
    # it was, still muted: silence again.
    await agent.get_by_test_id("call-mute").click()
    await agent.locator('[data-testid="current-call"][data-muted="true"]').wait_for()
    await agent.get_by_test_id("call-hold").click()
    await agent.locator('[data-testid="current-call"][data-held="true"]').wait_for()
    assert "On hold" in await agent.get_by_test_id("call-on-hold").inner_text()
    held = (await sim_call(ui, sim_id))["media"]

    async def chime():
        media = (await sim_call(ui, sim_id))["media"]
        return media["audible_frames_received"] >= held["audible_frames_received"] + 10

    await eventually(chime)
    await screenshot(agent, "call-on-hold.png")
    await agent.get_by_test_id("call-hold").click()
    await agent.locator('[data-testid="current-call"][data-held="false"]').wait_for()
    assert await agent.get_by_test_id("call-on-hold").count() == 0
    resumed = (await sim_call(ui, sim_id))["media"]
    quiet_from = await frames_after(resumed, 50)  # a chime still on its way may arrive
    quiet = await frames_after(quiet_from, 150)
    assert quiet["audible_frames_received"] - quiet_from["audible_frames_received"] <= 2
    await agent.get_by_test_id("call-mute").click()

    await agent.get_by_test_id("call-hangup").click()
    await current.wait_for(state="detached")

    async def ended():
        got = await sim_call(ui, sim_id)
        return got if got["state"] == "ended" else None

    assert (await eventually(ended))["ended_by"] == "business"
    entry = agent.locator('[data-testid="call-entry"][data-call-status="ended"]')
    await entry.wait_for()
    assert "the agent hung up" in await entry.inner_text()


async def test_agent_asks_permission_then_calls_the_customer(ui, browser):
    agent = await sign_in(browser, ui, ANA)
    await set_presence(agent, "Available")
    kenji = await sim_customer(ui, "819033330002", "Kenji Callback")
    r = await ui.sim_client.post(
        f"/_sim/customers/{kenji['user_id']}/messages",
        json={"type": "text", "text": "Can you call me about my order?"},
    )
    await reached_the_product(ui.sim_client, r.json())
    await agent.get_by_test_id("offer-accept").click()
    await agent.get_by_test_id("chat-title").filter(has_text="Kenji Callback").wait_for()

    ask = agent.get_by_test_id("call-ask-permission")
    await ask.click()
    await agent.locator(
        '[data-testid="call-ask-permission"][data-permission="requested"]'
    ).wait_for()
    await agent.get_by_test_id("call-permission-request").wait_for()

    async def asked():
        thread = (await ui.sim_client.get(f"/_sim/customers/{kenji['user_id']}/thread")).json()
        return next(
            (
                m
                for m in thread["messages"]
                if m["direction"] == "out" and m["content"].get("type") == "call_permission_request"
            ),
            None,
        )

    request = await eventually(asked)
    r = await ui.sim_client.post(
        f"/_sim/customers/{kenji['user_id']}/messages",
        json={"type": "call_permission_reply", "message_wamid": request["wamid"]},
    )
    await reached_the_product(ui.sim_client, r.json())
    await agent.locator('[data-testid="call-permission-reply"][data-response="accept"]').wait_for()
    call_button = agent.get_by_test_id("call-customer")
    await call_button.wait_for()
    await screenshot(agent, "call-permission.png")
    await call_button.click()

    async def ringing():
        calls = await ui.sim_client.get("/_sim/calls", params={"customer_id": kenji["user_id"]})
        rows = calls.json()["calls"]
        return rows[0] if rows and rows[0]["state"] == "ringing" else None

    sim = await eventually(ringing)
    assert sim["direction"] == "BUSINESS_INITIATED"
    await agent.locator('[data-testid="current-call"][data-status="connecting"]').wait_for()
    await ui.sim_client.post(f"/_sim/calls/{sim['id']}/answer")
    await agent.locator('[data-testid="current-call"][data-status="active"]').wait_for()
    await audio_both_ways(ui, agent, sim["id"])

    await ui.sim_client.post(f"/_sim/calls/{sim['id']}/hangup")
    await agent.get_by_test_id("current-call").wait_for(state="detached")
    entry = agent.locator('[data-testid="call-entry"][data-call-status="ended"]')
    await entry.wait_for()
    assert "the customer hung up" in await entry.inner_text()


async def test_the_phone_page_calls_and_allows_calls(ui, browser):
    """`make demo` with no Meta account: the customer presses Call on the simulator's
    phone page, the agent answers in the desktop, the phone page shows the call and the
    sound it hears; later the customer allows calls with a tap, and the agent calls back."""
    agent = await sign_in(browser, ui, ANA)
    await set_presence(agent, "Available")
    yui = await sim_customer(ui, "819033330003", "Yui Phone")
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    phone = await context.new_page()
    phone.set_default_timeout(15_000)
    await phone.goto(f"{ui.sim.url}/?customer={yui['user_id']}&number={PHONE_NUMBER_ID}")
    await phone.locator("#chat-title").filter(has_text="Yui Phone").wait_for()

    await phone.locator("#btn-call").click()
    await phone.locator("#call-text").filter(has_text="Calling the business").wait_for()
    await agent.get_by_test_id("call-answer").click()
    await agent.locator('[data-testid="current-call"][data-status="active"]').wait_for()
    await phone.locator("#call-text").filter(has_text="On the call").wait_for()

    async def heard():
        text = await phone.locator("#call-media").inner_text()
        count = int(text.split("heard ")[1].split(" ")[0])
        return count > 5

    await eventually(heard)
    await screenshot(phone, "call-phone-page.png")
    await phone.locator("#call-hangup").click()
    await agent.get_by_test_id("current-call").wait_for(state="detached")
    await phone.locator("#btn-call").wait_for()
    await phone.locator("#call-state").wait_for(state="hidden")

    r = await ui.sim_client.get("/_sim/calls", params={"customer_id": yui["user_id"]})
    assert r.json()["calls"][0]["ended_by"] == "customer"
    await agent.get_by_test_id("call-customer").wait_for()  # callback permission: she called

    # Another customer writes; the agent asks permission; a tap on the phone allows it.
    rin = await sim_customer(ui, "819033330004", "Rin Allows")
    r = await ui.sim_client.post(
        f"/_sim/customers/{rin['user_id']}/messages", json={"type": "text", "text": "hello"}
    )
    await reached_the_product(ui.sim_client, r.json())
    await agent.get_by_test_id("offer-accept").click()
    await agent.get_by_test_id("chat-title").filter(has_text="Rin Allows").wait_for()
    await agent.get_by_test_id("call-ask-permission").click()
    await phone.goto(f"{ui.sim.url}/?customer={rin['user_id']}&number={PHONE_NUMBER_ID}")
    await phone.get_by_role("button", name="📞 Allow calls").click()
    await agent.locator('[data-testid="call-permission-reply"][data-response="accept"]').wait_for()
    await agent.get_by_test_id("call-customer").wait_for()
    await context.close()
