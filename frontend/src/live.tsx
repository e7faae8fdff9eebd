// One live socket per signed-in tab, shared by the pages through a subscription.
import { createContext, useContext, useEffect, useRef } from "react";
import type { LiveEvent } from "./api/types";

export interface LiveBus {
  subscribe: (listener: LiveListener) => () => void;
  reconnectNow: () => void;
  /** A frame to the server (when the link is open): whether it was sent. */
  send: (payload: object) => boolean;
}

export interface LiveListener {
  onEvent?: (event: LiveEvent) => void;
  onResync?: (reason: string) => void;
}

export const LiveContext = createContext<LiveBus | null>(null);

/** Subscribe for the component's lifetime; handlers may change between renders. */
export function useLive(listener: LiveListener): LiveBus | null {
  const bus = useContext(LiveContext);
  const ref = useRef(listener);
  ref.current = listener;
  useEffect(() => {
    if (!bus) return;
    return bus.subscribe({
      onEvent: (event) => ref.current.onEvent?.(event),
      onResync: (reason) => ref.current.onResync?.(reason),
    });
  }, [bus]);
  return bus;
}
