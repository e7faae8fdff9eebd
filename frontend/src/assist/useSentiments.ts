// The sentiment of every live conversation, for supervisors' and admins' lists: read
// once, then kept current by the `conversation.sentiment` live events; an event with
// `alert` (a watched queue's conversation turned negative) also pops a notification.
import { useCallback, useEffect, useState } from "react";
import { notifications } from "@mantine/notifications";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { useLive } from "../live";
import type { Sentiment } from "./AssistPanel";

interface LiveSentiment extends Sentiment {
  conversation_id: number;
}

export function useSentiments(enabled: boolean): Record<number, Sentiment> {
  const { t } = useTranslation();
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
      const event = e as unknown as { conversation_id: number; label: Sentiment["label"]; score: number; alert?: boolean };
      setMap((m) => ({ ...m, [event.conversation_id]: { label: event.label, score: event.score } }));
      // The workspace asked to be told when a conversation of this queue turns negative.
      if (event.alert) notifications.show({ color: "red", title: t("assist.alertTitle"), message: t("assist.alertBody", { id: event.conversation_id }) });
    },
    onResync: load,
  });
  return map;
}
