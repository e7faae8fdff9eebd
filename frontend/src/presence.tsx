// Your own presence as the server holds it. Routing offers work by the server's value, so
// the status menu must show that one: it is read on load, after every reconnect or gap
// in the live stream, and followed by `agent.presence` events (a supervisor, another tab
// or going offline on sign-out may change it). A change that fails is rolled back.
import { createContext, useCallback, useContext, useEffect, useRef, useState } from "react";
import { notifications } from "@mantine/notifications";
import { api, ApiError } from "./api/client";
import type { Presence } from "./api/types";
import type { LiveBus } from "./live";

export const PresenceContext = createContext<Presence>("offline");

/** The signed-in person's presence, for pages that word things by it. */
export function useMyPresence(): Presence {
  return useContext(PresenceContext);
}

export function useServerPresence(bus: LiveBus, myId: number | null) {
  const [presence, setPresence] = useState<Presence>("offline");
  const [known, setKnown] = useState(false);
  // A read that started before the latest change must not undo it.
  const changes = useRef(0);

  const read = useCallback(async () => {
    if (myId === null) return;
    const started = changes.current;
    try {
      const mine = await api.get<{ status: Presence }>("/agents/me/presence");
      if (changes.current !== started) return;
      setPresence(mine.status);
      setKnown(true);
    } catch {
      // the live link's next resync reads it again
    }
  }, [myId]);

  useEffect(() => {
    void read();
  }, [read]);

  useEffect(
    () =>
      bus.subscribe({
        onEvent: (event) => {
          if (event.event === "agent.presence" && event.user_id === myId) {
            changes.current += 1;
            setPresence(event.status as Presence);
            setKnown(true);
          }
        },
        onResync: () => void read(),
      }),
    [bus, myId, read],
  );

  const change = useCallback(
    async (value: Presence) => {
      changes.current += 1;
      const before = presence;
      setPresence(value);
      try {
        await api.put("/agents/me/presence", { status: value });
      } catch (err) {
        setPresence(before);
        notifications.show({ color: "red", message: err instanceof ApiError ? err.message : String(err) });
      }
    },
    [presence],
  );

  return { presence, known, change };
}
