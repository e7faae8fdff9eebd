// How an offer is announced: a transferred conversation says so, with the note the
// previous person left for whoever takes it, instead of reading like a new customer.
import { useEffect, useState } from "react";
import { Text } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";

interface LifecycleEvent {
  type: string;
  data: { note?: string } | null;
}

export interface Handover {
  transferred: boolean;
  note: string | null;
}

/** Whether the conversation was transferred since it was last taken, and the note left. */
export function handoverOf(events: LifecycleEvent[]): Handover {
  for (let i = events.length - 1; i >= 0; i -= 1) {
    const e = events[i];
    if (e.type === "transferred") return { transferred: true, note: e.data?.note ?? null };
    if (e.type === "accepted") break;
  }
  return { transferred: false, note: null };
}

export function OfferHeading({ conversationId, name }: { conversationId: number; name: string }) {
  const { t } = useTranslation();
  const [handover, setHandover] = useState<Handover>({ transferred: false, note: null });

  useEffect(() => {
    let live = true;
    api
      .get<LifecycleEvent[]>(`/conversations/${conversationId}/events`)
      .then((events) => live && setHandover(handoverOf(events)))
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [conversationId]);

  return (
    <>
      <Text size="sm" fw={600} data-testid="offer-title">
        {handover.transferred ? t("desktopLive.transferredTitle") : t("offer.title")}: {name}
      </Text>
      {handover.note && (
        <Text size="xs" data-testid="offer-note" style={{ whiteSpace: "pre-wrap" }}>
          {t("desktopLive.transferNote", { note: handover.note })}
        </Text>
      )}
    </>
  );
}
