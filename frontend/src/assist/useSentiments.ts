// The sentiment of every live conversation, for supervisors' and admins' lists: read
// once, then kept current by the `conversation.sentiment` live events.
import { useCallback, useEffect, useState } from "react";
import { api } from "../api/client";
import { useLive } from "../live";
import type { Sentiment } from "./AssistPanel";

interface LiveSentiment extends Sentiment {
  conversation_id: number;
}

export function useSentiments(enabled: boolean): Record<number, Sentiment> {
  const [map, setMap] = useState<Record<number, Sentiment>>({});

  const load = useCallback(() => {
    if (!enabled) return;
    api
      .get<LiveSentiment[]>("/assist/live-sentiments")
      .then((rows) => setMap(Object.fromEntries(rows.map((r) => [r.conversation_id, { label: r.label, score: r.score }]))))
      .catch(() => undefined);
  }, [enabled]);

  useEffect(load, [load]);

  useLive({
    onEvent: (e) => {
      if (!enabled || e.event !== "conversation.sentiment" || !e.conversation_id) return;
      const event = e as unknown as { conversation_id: number; label: Sentiment["label"]; score: number };
      setMap((m) => ({ ...m, [event.conversation_id]: { label: event.label, score: event.score } }));
    },
    onResync: load,
  });
  return map;
}
