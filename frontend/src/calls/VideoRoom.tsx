// A video room with the customer: the agent sends a one-time link, waits for the customer
// to open it, then the two browsers talk WebRTC directly (Madoguchi relays the SDP).
import { useCallback, useEffect, useRef, useState } from "react";
import { Button, Group, Paper, Text } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api, ApiError } from "../api/client";

interface Link {
  room_id: number;
  url: string;
  token: string;
  expires_at: string;
  message_id: number | null;
}

type State = "idle" | "sending" | "waiting" | "live" | "ended";

function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    });
    window.setTimeout(resolve, 5000);
  });
}

interface Props {
  conversationId: number;
  canAct: boolean;
  onError: (message: string) => void;
  /** The room's timeline entry changed (started, ended): re-read that message. */
  onEntry: (messageId: number) => void;
}

export function VideoRoom({ conversationId, canAct, onError, onEntry }: Props) {
  const { t } = useTranslation();
  const [state, setState] = useState<State>("idle");
  const [received, setReceived] = useState(0);
  const link = useRef<Link | null>(null);
  const ws = useRef<WebSocket | null>(null);
  const pc = useRef<RTCPeerConnection | null>(null);
  const stream = useRef<MediaStream | null>(null);
  const localVideo = useRef<HTMLVideoElement>(null);
  const remoteVideo = useRef<HTMLVideoElement>(null);
  const iceServers = useRef<RTCIceServer[]>([]);

  const stop = useCallback((next: State) => {
    stream.current?.getTracks().forEach((tr) => tr.stop());
    pc.current?.close();
    if (ws.current && ws.current.readyState === WebSocket.OPEN) ws.current.close();
    pc.current = null;
    ws.current = null;
    stream.current = null;
    setState(next);
    if (link.current?.message_id) onEntry(link.current.message_id);
  }, [onEntry]);

  useEffect(() => () => stop("idle"), [conversationId]); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(() => {
    if (state !== "live") return;
    const timer = window.setInterval(async () => {
      const report = await pc.current?.getStats();
      let count = 0;
      report?.forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === "video") count += s.packetsReceived ?? 0;
      });
      setReceived(count);
    }, 1000);
    return () => window.clearInterval(timer);
  }, [state]);

  async function call() {
    const peer = pc.current!;
    await peer.setLocalDescription(await peer.createOffer());
    await gathered(peer);
    ws.current?.send(JSON.stringify({ type: "offer", sdp: peer.localDescription!.sdp }));
  }

  async function start() {
    setState("sending");
    try {
      const config = await api.get<{ ice_servers: RTCIceServer[] }>("/calling/config").catch(() => null);
      iceServers.current = config?.ice_servers ?? [];
      const media = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
      stream.current = media;
      if (localVideo.current) localVideo.current.srcObject = media;
      link.current = await api.post<Link>(`/conversations/${conversationId}/video-links`, {});
      const peer = new RTCPeerConnection({ iceServers: iceServers.current });
      pc.current = peer;
      media.getTracks().forEach((tr) => peer.addTrack(tr, media));
      peer.addEventListener("track", (e) => {
        if (remoteVideo.current) remoteVideo.current.srcObject = e.streams[0];
      });
      const proto = window.location.protocol === "https:" ? "wss:" : "ws:";
      const socket = new WebSocket(`${proto}//${window.location.host}/ws/video/${encodeURIComponent(link.current.token)}?as=agent`);
      ws.current = socket;
      socket.addEventListener("message", (event) => {
        const msg = JSON.parse(String(event.data));
        if (msg.type === "joined") {
          setState("waiting");
          if (msg.peer) void call();
        } else if (msg.type === "peer-joined") void call();
        else if (msg.type === "answer") {
          void peer.setRemoteDescription({ type: "answer", sdp: msg.sdp }).then(() => {
            setState("live");
            if (link.current?.message_id) onEntry(link.current.message_id);
          });
        } else if (msg.type === "peer-left" || msg.type === "bye") stop("ended");
      });
      socket.addEventListener("close", () => {
        if (pc.current) stop("ended");
      });
    } catch (err) {
      stop("idle");
      onError(err instanceof ApiError ? err.message : err instanceof Error ? err.message : String(err));
    }
  }

  if (!canAct) return null;
  if (state === "idle" || state === "ended") {
    return (
      <Button size="xs" variant="default" data-testid="video-start" onClick={() => void start()}>
        🎥 {t("video.start")}
      </Button>
    );
  }
  return (
    <Paper
      shadow="md"
      p="xs"
      data-testid="video-room"
      data-state={state}
      data-video-received={received}
      style={{ position: "fixed", right: 16, bottom: 16, zIndex: 300, width: 360, background: "#111" }}
    >
      <video ref={remoteVideo} autoPlay playsInline style={{ width: "100%", aspectRatio: "16 / 9", background: "#222" }} />
      <Group justify="space-between" mt={4} wrap="nowrap">
        <video ref={localVideo} autoPlay playsInline muted style={{ width: 96, aspectRatio: "4 / 3", background: "#333" }} />
        <Text size="xs" c="gray.3">
          {t(`video.state.${state}`)}
        </Text>
        <Button size="xs" color="red" data-testid="video-end" onClick={() => {
          ws.current?.send(JSON.stringify({ type: "bye" }));
          stop("ended");
        }}>
          {t("video.end")}
        </Button>
      </Group>
    </Paper>
  );
}
