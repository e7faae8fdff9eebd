"""Video with a customer: the agent sends a one-time link from the chat, the customer
opens it in a browser, both see each other's camera (video RTP grows on both sides),
leaving ends the room for both and the timeline records it; a used link is refused."""

from __future__ import annotations

import re

from tests.helpers import eventually, reached_the_product
from tests.ui.conftest import ANA, PAGE_CEILING_MS, screenshot, set_presence, sign_in
from tests.ui.test_calls import browser, sim_customer  # noqa: F401 (the media browser)

# Both browsers run on this machine: keep their ICE checks on the loopback (the test
# never sends media to another address, not even this machine's own network address).
LOOPBACK_ONLY = """
(() => {
  const set = RTCPeerConnection.prototype.setRemoteDescription;
  RTCPeerConnection.prototype.setRemoteDescription = function (desc) {
    if (desc && desc.sdp) {
      const sdp = desc.sdp.split("\\r\\n").filter(
        (l) => !l.startsWith("a=candidate:") || l.split(" ")[4] === "127.0.0.1").join("\\r\\n");
      desc = { type: desc.type, sdp };
    }
    return set.call(this, desc);
  };
})();
"""


async def test_video_link_between_agent_and_customer(ui, browser):  # noqa: F811
    ui.runtime.settings.public_url = ui.url
    agent = await sign_in(browser, ui, ANA)
    await agent.context.add_init_script(LOOPBACK_ONLY)
    await agent.reload()
    await agent.locator('[data-testid="live-state"][data-state="open"]').wait_for()
    await set_presence(agent, "Available")
    mio = await sim_customer(ui, "819044440001", "Mio Video")
    r = await ui.sim_client.post(
        f"/_sim/customers/{mio['user_id']}/messages",
        json={"type": "text", "text": "Can you show me how to set it up?"},
    )
    await reached_the_product(ui.sim_client, r.json())
    await agent.get_by_test_id("offer-accept").click()
    await agent.get_by_test_id("chat-title").filter(has_text="Mio Video").wait_for()

    await agent.get_by_test_id("video-start").click()
    await agent.locator('[data-testid="video-room"][data-state="waiting"]').wait_for()

    async def link_on_phone():
        thread = (await ui.sim_client.get(f"/_sim/customers/{mio['user_id']}/thread")).json()
        for m in thread["messages"]:
            body = str(m["content"].get("body", ""))
            found = re.search(r"(http://\S+/video/\S+)", body)
            if m["direction"] == "out" and found:
                return found.group(1)
        return None

    url = await eventually(link_on_phone)
    context = await browser.new_context(viewport={"width": 1024, "height": 700})
    await context.add_init_script(LOOPBACK_ONLY)
    customer = await context.new_page()
    customer.set_default_timeout(PAGE_CEILING_MS)
    await customer.goto(url)
    await customer.locator('body[data-state="live"]').wait_for()
    await agent.locator('[data-testid="video-room"][data-state="live"]').wait_for()

    async def video_both_ways():
        theirs = int(await customer.locator("body").get_attribute("data-video-received") or 0)
        ours = int(
            await agent.get_by_test_id("video-room").get_attribute("data-video-received") or 0
        )
        return theirs > 20 and ours > 20

    await eventually(video_both_ways)
    await screenshot(agent, "video-agent.png")
    await agent.locator('[data-testid="video-entry"][data-video-status="live"]').wait_for()

    await customer.get_by_role("button", name="Leave").click()
    await customer.locator('body[data-state="ended"]').wait_for()
    await agent.get_by_test_id("video-room").wait_for(state="detached")
    await agent.locator('[data-testid="video-entry"][data-video-status="ended"]').wait_for()

    # The link was for one session: opening it again is refused, clearly.
    again = await customer.goto(url)
    assert again.status == 404
    await customer.locator('body[data-state="refused"]').wait_for()
    assert "expired or was used" in await customer.locator("#status").inner_text()
    await context.close()
