"""The keypad of the call bar: key presses leave the agent's browser as DTMF (RFC 4733
telephone events on the call's RTP, through RTCDTMFSender) and the simulated phone — which,
like WhatsApp, accepts telephone events — receives exactly those keys."""

from __future__ import annotations

from tests.conftest import PHONE_NUMBER_ID
from tests.helpers import eventually
from tests.ui.conftest import ANA, screenshot, set_presence, sign_in
from tests.ui.test_calls import audio_both_ways, browser, sim_call, sim_customer  # noqa: F401


async def test_keys_pressed_on_the_keypad_reach_the_phone_as_dtmf(ui, browser):  # noqa: F811
    agent = await sign_in(browser, ui, ANA)
    await set_presence(agent, "Available")
    kai = await sim_customer(ui, "819033330077", "Kai Keys")
    r = await ui.sim_client.post(
        f"/_sim/customers/{kai['user_id']}/calls", json={"phone_number_id": PHONE_NUMBER_ID}
    )
    assert r.status_code == 200, r.text
    sim_id = r.json()["id"]
    await agent.get_by_test_id("call-answer").click()
    await agent.locator('[data-testid="current-call"][data-status="active"]').wait_for()
    await audio_both_ways(ui, agent, sim_id)
    # The phone's offer carries telephone events (as WhatsApp's does), and so does the
    # browser's answer.
    call_id = await agent.get_by_test_id("current-call").get_attribute("data-call-id")
    call = (await ui.api("GET", f"/api/v1/calls/{call_id}")).json()
    assert "telephone-event/8000" in call["offer_sdp"]
    assert "telephone-event/8000" in call["answer_sdp"]

    keypad = agent.get_by_test_id("call-keypad")
    await agent.locator('[data-testid="call-keypad"]:not([disabled])').wait_for()
    await keypad.click()
    for key in ("1", "2", "#"):
        await agent.get_by_test_id(f"call-key-{key}").click()
    # The browser plays the tones out one by one (RTCDTMFSender's tonechange events)…
    await agent.locator('[data-testid="current-call"][data-dtmf-sent="12#"]').wait_for()
    await screenshot(agent, "call-keypad.png")

    # …and the phone receives them as RFC 4733 events, in order, each once.
    async def keys_received():
        media = (await sim_call(ui, sim_id))["media"]
        return media if media["dtmf_received"] == "12#" else None

    media = await eventually(keys_received)
    assert media["audible_frames_received"] > 5  # the voice went on meanwhile
    await agent.get_by_test_id("call-key-0").click()
    await agent.locator('[data-testid="current-call"][data-dtmf-sent="12#0"]').wait_for()

    async def one_more():
        media = (await sim_call(ui, sim_id))["media"]
        return media["dtmf_received"] == "12#0"

    await eventually(one_more)

    # The output device can be chosen where the browser lets a page choose one.
    devices = await agent.evaluate(
        """async () => (await navigator.mediaDevices.enumerateDevices())
             .filter((d) => d.kind === 'audiooutput').length"""
    )
    assert await agent.get_by_test_id("call-speaker").count() == (1 if devices else 0)
    await agent.get_by_test_id("call-hangup").click()
    await agent.get_by_test_id("current-call").wait_for(state="detached")
