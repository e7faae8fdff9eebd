// The wallboard's data: GET /api/v1/wallboard, re-read whenever the server says it changed
// ("wallboard.changed" on the live socket; never on a timer of its own).
import { useCallback, useEffect, useRef, useState } from "react";
import { api } from "../api/client";
import { useLive } from "../live";

export interface QueueDay {
  arrived: number;
  answered: number;
  abandoned: number;
  short_abandoned: number;
  average_wait_seconds: number | null;
  p90_wait_seconds: number | null;
  answered_in_target: number;
  service_level_percent: number | null;
}

export interface QueueNow {
  id: number;
  name: string;
  service_level_seconds: number;
  short_abandon_seconds: number;
  waiting: number;
  offered: number;
  active: number;
  wrap_up: number;
  oldest_waiting_since: string | null;
  longest_wait_seconds: number;
  agents: { available: number; busy: number; away: number; offline: number };
  free_slots: number;
  today: QueueDay;
}

export interface AgentNow {
  user_id: number;
  name: string;
  role: string;
  presence: "available" | "away" | "offline";
  away_reason: string | null;
  presence_since: string | null;
  offered: number;
  active: number;
  wrap_up: number;
  capacity: number;
  last_reply_at: string | null;
  queue_ids: number[];
}

export interface ConversationNow {
  id: number;
  contact: string;
  status: string;
  queue_id: number | null;
  agent_id: number | null;
  since: string | null;
  last_customer_message_at: string | null;
  monitored_by: number[];
}

/** The browser lists the most urgent conversations; the total is shown beside them. */
export const LIST_LIMIT = 500;

export interface Wallboard {
  generated_at: string;
  conversations_total: number;
  timezone: string;
  day: string;
  queues: QueueNow[];
  agents: AgentNow[];
  conversations: ConversationNow[];
}

/** The wallboard, fresh after every change the server announces (one read at a time). */
export function useWallboard(): { board: Wallboard | null; error: string | null; reload: () => void } {
  const [board, setBoard] = useState<Wallboard | null>(null);
  const [error, setError] = useState<string | null>(null);
  const inFlight = useRef(false);
  const again = useRef(false);

  const reload = useCallback(() => {
    if (inFlight.current) {
      again.current = true;
      return;
    }
    inFlight.current = true;
    api
      .get<Wallboard>(`/wallboard?limit=${LIST_LIMIT}`)
      .then((b) => {
        setBoard(b);
        setError(null);
      })
      .catch((err: unknown) => setError(err instanceof Error ? err.message : String(err)))
      .finally(() => {
        inFlight.current = false;
        if (again.current) {
          again.current = false;
          reload();
        }
      });
  }, []);

  useEffect(() => reload(), [reload]);
  useLive({
    onEvent: (event) => {
      if (event.event === "wallboard.changed") reload();
    },
    onResync: () => reload(),
  });
  return { board, error, reload };
}
