"""The customer's phone as a real WebRTC endpoint (aiortc): it sends a tone and listens.

A call in the simulator connects for real: the phone side offers or answers with aiortc,
sends a 440 Hz tone, and counts what it receives (frames, and how many carried sound), so
a test can show that audio flows both ways between the phone and the agent's browser.

Everything stays on this machine: the phone gathers a loopback candidate only, uses no
STUN server, and ignores every remote candidate that is not on the loopback (so it never
sends a packet anywhere else, nor asks the network to resolve an mDNS name).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from array import array
from dataclasses import dataclass, field

import aioice.ice
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpCodecParameters,
    RTCRtpReceiver,
    RTCSessionDescription,
)
from aiortc.codecs import CODECS
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
TONE_HZ = 440.0
# A frame is "audible" above this RMS (of 32767): the tone and Chromium's fake beeps are
# far above it, silence and comfort noise below.
AUDIBLE_RMS = 300.0


def _loopback_only(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return [LOOPBACK] if use_ipv4 else []


# aioice gathers every interface's address except the loopback's; the simulated phone
# must use the loopback only (see the module's docstring).
aioice.ice.get_host_addresses = _loopback_only


# DTMF as WhatsApp carries it: RFC 4733 telephone events in the call's RTP stream. aiortc
# has no telephone-event codec; the phone adds it to what it offers and accepts (so the
# other end may send key presses), and reads those packets itself (below) instead of
# handing them to a decoder aiortc does not have.
TELEPHONE_EVENT = "audio/telephone-event"
DTMF_KEYS = "0123456789*#ABCD"
if not any(c.mimeType.lower() == TELEPHONE_EVENT for c in CODECS["audio"]):
    CODECS["audio"].append(
        RTCRtpCodecParameters(
            mimeType=TELEPHONE_EVENT,
            clockRate=8000,
            channels=1,
            payloadType=101,
            parameters={"0-15": None},
        )
    )
_handle_rtp = RTCRtpReceiver._handle_rtp_packet


async def _handle_rtp_or_dtmf(self, packet, arrival_time_ms: int) -> None:
    codec = self._RTCRtpReceiver__codecs.get(packet.payload_type)
    if codec is not None and codec.mimeType.lower() == TELEPHONE_EVENT:
        listener = getattr(self, "on_telephone_event", None)
        if listener is not None:
            listener(packet.timestamp, packet.payload)
        return
    await _handle_rtp(self, packet, arrival_time_ms)


RTCRtpReceiver._handle_rtp_packet = _handle_rtp_or_dtmf


def loopback_sdp(sdp: str) -> str:
    """The SDP without candidates that are not on the loopback (or are mDNS names)."""
    kept = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            parts = line.split()
            if len(parts) < 5 or parts[4] != LOOPBACK:
                continue
        kept.append(line)
    return "\r\n".join(kept) + "\r\n"


class ToneTrack(AudioStreamTrack):
    """Silence with a 440 Hz tone in it (aiortc paces the frames in real time)."""

    def __init__(self) -> None:
        super().__init__()
        self._phase = 0

    async def recv(self):
        frame = await super().recv()
        rate = frame.sample_rate
        n = frame.samples
        samples = array(
            "h",
            (
                int(8000 * math.sin(2 * math.pi * TONE_HZ * (self._phase + i) / rate))
                for i in range(n)
            ),
        )
        self._phase += n
        frame.planes[0].update(samples.tobytes())
        return frame


@dataclass
class Heard:
    """What the phone received: frames and how many carried sound."""

    frames: int = 0
    audible_frames: int = 0
    peak_rms: float = 0.0
    # Keys pressed at the other end (RFC 4733 events), in order: "12#".
    dtmf: str = ""
    _dtmf_ended: set[int] = field(default_factory=set)

    def telephone_event(self, timestamp: int, payload: bytes) -> None:
        """One RFC 4733 packet: a key counts once, when its end bit arrives (the end
        packet is sent three times; the RTP timestamp names the event)."""
        if len(payload) < 4 or not payload[1] & 0x80 or timestamp in self._dtmf_ended:
            return
        self._dtmf_ended.add(timestamp)
        if payload[0] < len(DTMF_KEYS):
            self.dtmf += DTMF_KEYS[payload[0]]


@dataclass
class PhoneLine:
    """One call's media on the phone's side."""

    pc: RTCPeerConnection = field(
        default_factory=lambda: RTCPeerConnection(RTCConfiguration(iceServers=[]))
    )
    heard: Heard = field(default_factory=Heard)
    _tasks: list[asyncio.Task] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pc.addTrack(ToneTrack())

        @self.pc.on("track")
        def _on_track(track) -> None:
            if track.kind == "audio":
                self._tasks.append(asyncio.ensure_future(self._listen(track)))
                for transceiver in self.pc.getTransceivers():
                    transceiver.receiver.on_telephone_event = self.heard.telephone_event

    async def _listen(self, track) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                frame = await track.recv()
                size = frame.samples * 2 * len(frame.layout.channels)
                samples = array("h", bytes(frame.planes[0])[:size])
                rms = math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0
                self.heard.frames += 1
                self.heard.peak_rms = max(self.heard.peak_rms, rms)
                if rms >= AUDIBLE_RMS:
                    self.heard.audible_frames += 1

    async def offer(self) -> str:
        """The phone calls: its SDP offer, with its (loopback) candidates gathered."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def take_answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(loopback_sdp(sdp), "answer"))

    async def answer(self, offer_sdp: str) -> str:
        """The phone is called: its SDP answer to the business's offer."""
        await self.pc.setRemoteDescription(RTCSessionDescription(loopback_sdp(offer_sdp), "offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self.pc.localDescription.sdp

    @property
    def connected(self) -> bool:
        return self.pc.connectionState == "connected"

    def stats(self) -> dict:
        return {
            "connection": self.pc.connectionState,
            "frames_received": self.heard.frames,
            "audible_frames_received": self.heard.audible_frames,
            "peak_rms": round(self.heard.peak_rms, 1),
            "dtmf_received": self.heard.dtmf,
        }

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.pc.close()
