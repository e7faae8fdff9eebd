// The calls of this agent's desktop: those ringing for them and the one they are on,
// kept live by `call.changed` events, with the browser's WebRTC media of the current call.
import { useCallback, useEffect, useRef, useState } from "react";
import { api, ApiError } from "../api/client";
import type { Call, LiveEvent } from "../api/types";
import { useLive } from "../live";
import i18n from "../i18n";
import {
  answerOffer,
  closeMedia,
  makeOffer,
  openMedia,
  packetCounts,
  sendDtmf,
  setHeld,
  setMuted,
  setSpeaker,
  takeAnswer,
  switchDevice,
  dtmfSender,
  type Media,
} from "./webrtc";

const LIVE = new Set(["ringing", "connecting", "active"]);

interface Config {
  ice_servers: RTCIceServer[];
  ring_seconds: number;
}

export interface CallsState {
  ringing: Call[];
  current: Call | null;
  muted: boolean;
  /** When the agent put the call on hold (ISO time), null when not on hold. */
  heldSince: string | null;
  deviceId: string | null;
  speakerId: string | null;
  packets: { sent: number; received: number };
  /** Keys sent on the current call so far (as the browser played them out). */
  dtmfSent: string;
  /** Whether the other end takes key presses (telephone events); null before media. */
  dtmfReady: boolean;
  answer: (id: number) => Promise<void>;
  decline: (id: number) => Promise<void>;
  hangUp: () => Promise<void>;
  place: (conversationId: number) => Promise<void>;
  toggleMute: () => void;
  toggleHold: () => Promise<void>;
  selectDevice: (deviceId: string) => Promise<void>;
  selectSpeaker: (deviceId: string) => Promise<void>;
  pressKeys: (tones: string) => void;
}

export function useCalls(myId: number | null, onError: (message: string) => void): CallsState {
  const [calls, setCalls] = useState<Record<number, Call>>({});
  const [muted, setMutedState] = useState(false);
  const [heldSince, setHeldSince] = useState<string | null>(null);
  const [deviceId, setDeviceId] = useState<string | null>(null);
  const [speakerId, setSpeakerId] = useState<string | null>(null);
  const [dtmfSent, setDtmfSent] = useState("");
  const [dtmfReady, setDtmfReady] = useState(false);
  const [packets, setPackets] = useState({ sent: 0, received: 0 });
  const media = useRef<{ callId: number | null; media: Media } | null>(null);
  const config = useRef<Config>({ ice_servers: [], ring_seconds: 30 });

  const fail = useCallback(
    (err: unknown) => onError(err instanceof ApiError ? err.message : err instanceof Error ? err.message : String(err)),
    [onError],
  );

  const stopMedia = useCallback(() => {
    if (media.current) closeMedia(media.current.media);
    media.current = null;
    setMutedState(false);
    setHeldSince(null);
    setPackets({ sent: 0, received: 0 });
    setDtmfSent("");
    setDtmfReady(false);
  }, []);

  const put = useCallback(
    (call: Call) => {
      setCalls((all) => ({ ...all, [call.id]: call }));
      const mine = media.current;
      if (mine && mine.callId === call.id) {
        if (!LIVE.has(call.status)) stopMedia();
        else if (call.direction === "outbound" && call.answer_sdp) {
          void takeAnswer(mine.media, call.answer_sdp).catch(fail);
        }
      }
    },
    [stopMedia, fail],
  );

  const fetchCall = useCallback(
    async (id: number) => {
      try {
        put(await api.get<Call>(`/calls/${id}`));
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) {
          setCalls((all) => {
            const next = { ...all };
            delete next[id];
            return next;
          });
        }
      }
    },
    [put],
  );

  const refresh = useCallback(async () => {
    const rows = await api.get<Call[]>("/calls").catch(() => [] as Call[]);
    setCalls(Object.fromEntries(rows.map((c) => [c.id, c])));
    for (const c of rows) put(c);
  }, [put]);

  useEffect(() => {
    void api.get<Config>("/calling/config").then((c) => (config.current = c)).catch(() => undefined);
    void refresh();
    return () => stopMedia();
  }, [refresh, stopMedia]);

  useLive({
    onEvent: (e: LiveEvent) => {
      if (e.event === "call.changed" && typeof e.call_id === "number") void fetchCall(e.call_id);
    },
    onResync: () => void refresh(),
  });

  // RTP counters of the current call, every second while it lasts.
  useEffect(() => {
    const timer = window.setInterval(() => {
      if (!media.current) return;
      const m = media.current.media;
      void packetCounts(m).then(setPackets).catch(() => undefined);
      setDtmfReady(m.pc.connectionState === "connected" && dtmfSender(m) !== null);
    }, 1000);
    return () => window.clearInterval(timer);
  }, []);

  const all = Object.values(calls);
  const ringing = all.filter((c) => c.status === "ringing" && myId !== null && c.ringing_agent_ids.includes(myId));
  const current = all.find((c) => LIVE.has(c.status) && c.status !== "ringing" && c.agent_id === myId) ?? null;

  const answer = useCallback(
    async (id: number) => {
      const call = calls[id];
      if (!call?.offer_sdp) return;
      stopMedia();
      try {
        const m = await openMedia(config.current.ice_servers, deviceId, speakerId);
        media.current = { callId: id, media: m };
        const sdp = await answerOffer(m, call.offer_sdp);
        put(await api.post<Call>(`/calls/${id}/accept`, { sdp }));
      } catch (err) {
        stopMedia();
        fail(err);
        void fetchCall(id);
      }
    },
    [calls, deviceId, speakerId, put, fetchCall, stopMedia, fail],
  );

  const decline = useCallback(
    async (id: number) => {
      try {
        await api.post<Call>(`/calls/${id}/decline`);
      } catch (err) {
        fail(err);
      }
      void fetchCall(id);
    },
    [fetchCall, fail],
  );

  const hangUp = useCallback(async () => {
    const id = media.current?.callId ?? current?.id;
    stopMedia();
    if (!id) return;
    try {
      put(await api.post<Call>(`/calls/${id}/hangup`));
    } catch (err) {
      fail(err);
      void fetchCall(id);
    }
  }, [current, put, fetchCall, stopMedia, fail]);

  const place = useCallback(
    async (conversationId: number) => {
      stopMedia();
      try {
        const m = await openMedia(config.current.ice_servers, deviceId, speakerId);
        media.current = { callId: null, media: m };
        const sdp = await makeOffer(m);
        const call = await api.post<Call>(`/conversations/${conversationId}/calls`, { sdp });
        if (media.current?.media === m) media.current.callId = call.id;
        put(call);
      } catch (err) {
        stopMedia();
        fail(err);
      }
    },
    [deviceId, speakerId, put, stopMedia, fail],
  );

  const toggleMute = useCallback(() => {
    if (!media.current) return;
    setMutedState((was) => {
      setMuted(media.current!.media, !was);
      return !was;
    });
  }, []);

  const toggleHold = useCallback(async () => {
    if (!media.current) return;
    const hold = media.current.media.hold === undefined;
    try {
      await setHeld(media.current.media, hold);
      setHeldSince(hold ? new Date().toISOString() : null);
    } catch (err) {
      fail(err);
    }
  }, [fail]);

  const selectDevice = useCallback(
    async (id: string) => {
      setDeviceId(id);
      if (media.current) await switchDevice(media.current.media, id).catch(fail);
    },
    [fail],
  );

  const selectSpeaker = useCallback(
    async (id: string) => {
      setSpeakerId(id);
      if (media.current) await setSpeaker(media.current.media, id).catch(fail);
    },
    [fail],
  );

  const pressKeys = useCallback(
    (tones: string) => {
      const m = media.current?.media;
      if (!m) return;
      const dtmf = dtmfSender(m);
      if (dtmf && !dtmf.ontonechange) {
        // The tones as the browser plays them out ("" marks the end of the queue).
        dtmf.ontonechange = (e) => {
          if (e.tone) setDtmfSent((sent) => sent + e.tone);
        };
      }
      if (!sendDtmf(m, tones)) fail(new Error(i18n.t("call.keypadUnavailable")));
    },
    [fail],
  );

  return {
    ringing,
    current,
    muted,
    heldSince,
    deviceId,
    speakerId,
    packets,
    dtmfSent,
    dtmfReady,
    answer,
    decline,
    hangUp,
    place,
    toggleMute,
    toggleHold,
    selectDevice,
    selectSpeaker,
    pressKeys,
  };
}
