// The agent's browser as the business's WebRTC endpoint of a WhatsApp call. WhatsApp
// takes one complete SDP (no trickled candidates), so every description is sent after
// the browser has gathered its candidates.

export interface Media {
  pc: RTCPeerConnection;
  stream: MediaStream;
  remote: HTMLAudioElement;
  /** While the call is on hold: the tone sent in place of the microphone. */
  hold?: { context: AudioContext; track: MediaStreamTrack };
}

const GATHER_MS = 5000;

function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== "complete") return;
      pc.removeEventListener("icegatheringstatechange", done);
      resolve();
    };
    pc.addEventListener("icegatheringstatechange", done);
    // Some networks never say "complete": what was gathered by then is sent.
    window.setTimeout(resolve, GATHER_MS);
  });
}

export async function openMedia(
  iceServers: RTCIceServer[],
  deviceId: string | null,
  speakerId: string | null = null,
): Promise<Media> {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: deviceId ? { deviceId: { exact: deviceId } } : true,
    video: false,
  });
  const pc = new RTCPeerConnection({ iceServers });
  for (const track of stream.getAudioTracks()) pc.addTrack(track, stream);
  const remote = new Audio();
  remote.autoplay = true;
  const sink = remote as HTMLAudioElement & { setSinkId?: (id: string) => Promise<void> };
  if (speakerId && sink.setSinkId) await sink.setSinkId(speakerId).catch(() => undefined);
  pc.addEventListener("track", (e) => {
    remote.srcObject = e.streams[0] ?? new MediaStream([e.track]);
    void remote.play().catch(() => undefined);
  });
  return { pc, stream, remote };
}

/** Answer a customer's offer: the SDP answer to send to the server. */
export async function answerOffer(media: Media, offer: string): Promise<string> {
  await media.pc.setRemoteDescription({ type: "offer", sdp: offer });
  await media.pc.setLocalDescription(await media.pc.createAnswer());
  await gathered(media.pc);
  return media.pc.localDescription!.sdp;
}

/** Start a call: the SDP offer to send to the server. */
export async function makeOffer(media: Media): Promise<string> {
  await media.pc.setLocalDescription(await media.pc.createOffer());
  await gathered(media.pc);
  return media.pc.localDescription!.sdp;
}

export async function takeAnswer(media: Media, answer: string): Promise<void> {
  if (media.pc.signalingState === "have-local-offer") {
    await media.pc.setRemoteDescription({ type: "answer", sdp: answer });
  }
}

export function setMuted(media: Media, muted: boolean): void {
  for (const track of media.stream.getAudioTracks()) track.enabled = !muted;
}

function audioSender(media: Media): RTCRtpSender | undefined {
  return media.pc.getSenders().find((s) => s.track?.kind === "audio");
}

/** A soft two-note chime every two seconds: what the customer hears while on hold, so
 * the line does not sound dead (WhatsApp's Calling API has no hold of its own). */
function holdTone(): { context: AudioContext; track: MediaStreamTrack } {
  const context = new AudioContext();
  void context.resume().catch(() => undefined);
  const out = context.createMediaStreamDestination();
  const gain = context.createGain();
  gain.gain.value = 0;
  gain.connect(out);
  const osc = context.createOscillator();
  osc.frequency.value = 523.25;
  osc.connect(gain);
  osc.start();
  const start = context.currentTime;
  for (let i = 0; i < 900; i++) {
    // Scheduled ahead by the audio clock (about 30 minutes of chimes).
    const at = start + i * 2;
    osc.frequency.setValueAtTime(523.25, at);
    osc.frequency.setValueAtTime(659.25, at + 0.25);
    gain.gain.setValueAtTime(0.2, at);
    gain.gain.setValueAtTime(0, at + 0.5);
  }
  return { context, track: out.stream.getAudioTracks()[0] };
}

/** Hold: the customer hears the hold chime instead of the agent's microphone, and the
 * agent no longer hears the customer; resuming puts the microphone back as it was
 * (still muted if it was). The call itself stays connected at WhatsApp. */
export async function setHeld(media: Media, held: boolean): Promise<void> {
  const sender = audioSender(media);
  if (held && !media.hold) {
    media.hold = holdTone();
    await sender?.replaceTrack(media.hold.track);
    media.remote.muted = true;
  } else if (!held && media.hold) {
    await sender?.replaceTrack(media.stream.getAudioTracks()[0] ?? null);
    media.hold.track.stop();
    void media.hold.context.close();
    media.hold = undefined;
    media.remote.muted = false;
  }
}

/** Swap the microphone during a call (the same sender, a new track). */
export async function switchDevice(media: Media, deviceId: string): Promise<void> {
  const next = await navigator.mediaDevices.getUserMedia({ audio: { deviceId: { exact: deviceId } } });
  const track = next.getAudioTracks()[0];
  const sender = audioSender(media);
  if (sender && track) {
    track.enabled = media.stream.getAudioTracks()[0]?.enabled ?? true;
    // On hold the chime keeps playing; the new microphone goes out on resume.
    if (!media.hold) await sender.replaceTrack(track);
    for (const old of media.stream.getAudioTracks()) {
      old.stop();
      media.stream.removeTrack(old);
    }
    media.stream.addTrack(track);
  }
}

/** The DTMF sender of the call's audio, when the other end accepted telephone events
 * (RFC 4733, as WhatsApp does); null otherwise. */
export function dtmfSender(media: Media): RTCDTMFSender | null {
  const dtmf = audioSender(media)?.dtmf ?? null;
  return dtmf && dtmf.canInsertDTMF ? dtmf : null;
}

/** Queue key presses (0-9, *, #) on the call: sent as RTP telephone events, not as sound. */
export function sendDtmf(media: Media, tones: string): boolean {
  const dtmf = dtmfSender(media);
  if (!dtmf) return false;
  // Appended to what is still queued, so fast presses are all sent, in order.
  dtmf.insertDTMF(dtmf.toneBuffer + tones, 120, 80);
  return true;
}

/** Play the customer's voice on another output device (speaker or headset). */
export async function setSpeaker(media: Media, deviceId: string): Promise<void> {
  const audio = media.remote as HTMLAudioElement & { setSinkId?: (id: string) => Promise<void> };
  if (audio.setSinkId) await audio.setSinkId(deviceId);
}

export function closeMedia(media: Media): void {
  for (const track of media.stream.getTracks()) track.stop();
  if (media.hold) {
    media.hold.track.stop();
    void media.hold.context.close();
  }
  media.pc.close();
  media.remote.srcObject = null;
}

/** RTP packets sent and received so far (shown to the agent, read by tests). */
export async function packetCounts(media: Media): Promise<{ sent: number; received: number }> {
  let sent = 0;
  let received = 0;
  const report = await media.pc.getStats();
  report.forEach((s) => {
    if (s.type === "outbound-rtp" && s.kind === "audio") sent += s.packetsSent ?? 0;
    if (s.type === "inbound-rtp" && s.kind === "audio") received += s.packetsReceived ?? 0;
  });
  return { sent, received };
}
