// The customer's side of a video room (the page /video/{token}): camera, one peer
// connection, the websocket that relays the agent's offer and our answer.
"use strict";
const CONFIG = JSON.parse(document.body.dataset.config);
const $ = (id) => document.getElementById(id);
const say = (text, state) => { $("status").textContent = text; if (state) document.body.dataset.state = state; };

function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener("icegatheringstatechange", () => { if (pc.iceGatheringState === "complete") resolve(); });
    setTimeout(resolve, 5000);
  });
}

async function start() {
  if (CONFIG.error) { say(CONFIG.error, "refused"); $("leave").hidden = true; return; }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  } catch (error) {
    say("Your camera or microphone could not be used: " + error.message, "refused");
    return;
  }
  $("local").srcObject = stream;
  const pc = new RTCPeerConnection({ iceServers: CONFIG.ice_servers || [] });
  stream.getTracks().forEach((t) => pc.addTrack(t, stream));
  pc.addEventListener("track", (e) => { $("remote").srcObject = e.streams[0]; });
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/ws/video/${encodeURIComponent(CONFIG.token)}?as=customer`);
  ws.addEventListener("message", async (event) => {
    const msg = JSON.parse(event.data);
    if (msg.type === "joined") say(msg.peer ? "Connecting…" : "Waiting for the agent to join…", "waiting");
    else if (msg.type === "offer") {
      await pc.setRemoteDescription({ type: "offer", sdp: msg.sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      await gathered(pc);
      ws.send(JSON.stringify({ type: "answer", sdp: pc.localDescription.sdp }));
      say("Connected", "live");
    } else if (msg.type === "peer-left" || msg.type === "bye") end("The agent left the call.");
  });
  ws.addEventListener("close", (e) => { if (document.body.dataset.state !== "ended") end(e.reason || "The call ended."); });
  function end(text) {
    stream.getTracks().forEach((t) => t.stop());
    pc.close();
    say(text, "ended");
    $("leave").hidden = true;
  }
  $("leave").addEventListener("click", () => { ws.send(JSON.stringify({ type: "bye" })); ws.close(); end("You left the call."); });
  setInterval(async () => {
    if (pc.connectionState === "closed") return;
    const report = await pc.getStats();
    let received = 0;
    report.forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "video") received += s.packetsReceived || 0; });
    document.body.dataset.videoReceived = String(received);
  }, 1000);
}
start();
