// The wallboard's data, live: on open (and after any gap) the socket is asked for the
// whole board ("wallboard.watch" → "wallboard.snapshot"), then only what changed arrives
// ("wallboard.delta": rows changed or removed, numbered base → version) and is applied
// here. A delta that does not follow the version held means something was missed: the
// whole board is asked for again. Never a timer of its own.
import { useCallback, useEffect, useRef, useState } from "react";
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
  occupancy: Occupancy | null;
}

// Occupancy today up to `as_of` (docs/metrics.md: busy ÷ available, as the agents report).
export interface Occupancy {
  available_seconds: number;
  busy_seconds: number;
  percent: number | null;
  as_of: string;
}

// An agent's occupancy counted on from `as_of` to `now` as their state counts now
// (available while available or handling a conversation, busy while handling one), so
// it moves every second without asking the server; every change of their state comes
// as a delta that moves `as_of` on.
export function occupancyNow(a: AgentNow, now: number): number | null {
  const o = a.occupancy;
  if (!o) return null;
  const handling = a.active + a.wrap_up;
  const elapsed = Math.max(0, (now - Date.parse(o.as_of)) / 1000);
  const available = o.available_seconds + (a.presence === "available" || handling > 0 ? elapsed : 0);
  const busy = o.busy_seconds + (handling > 0 ? elapsed : 0);
  return available > 0 ? Math.round((1000 * busy) / available) / 10 : null;
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
  version: number;
  /** Deltas applied since the last whole board (this browser's count). */
  deltas_applied: number;
  conversations_total: number;
  timezone: string;
  day: string;
  queues: QueueNow[];
  agents: AgentNow[];
  conversations: ConversationNow[];
}

interface Delta {
  base: number;
  version: number;
  generated_at: string;
  day: string;
  queues: QueueNow[];
  queues_removed: number[];
  agents: AgentNow[];
  agents_removed: number[];
  conversations: ConversationNow[];
  conversations_removed: number[];
}

interface Rows {
  version: number;
  deltas: number;
  generated_at: string;
  timezone: string;
  day: string;
  queues: Map<number, QueueNow>;
  agents: Map<number, AgentNow>;
  conversations: Map<number, ConversationNow>;
}

const WAITING = new Set(["queued", "offered"]);
const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Most urgent first, as the server orders them: waiting ones by longest wait, then the
 * rest by age. Queues by name, people by name. */
function view(rows: Rows): Wallboard {
  const conversations = [...rows.conversations.values()].sort(
    (a, b) =>
      Number(!WAITING.has(a.status)) - Number(!WAITING.has(b.status)) ||
      byText(a.since ?? "", b.since ?? "") ||
      a.id - b.id,
  );
  return {
    generated_at: rows.generated_at,
    version: rows.version,
    deltas_applied: rows.deltas,
    timezone: rows.timezone,
    day: rows.day,
    conversations_total: conversations.length,
    queues: [...rows.queues.values()].sort((a, b) => byText(a.name, b.name) || a.id - b.id),
    agents: [...rows.agents.values()].sort((a, b) => byText(a.name, b.name) || a.user_id - b.user_id),
    conversations: conversations.slice(0, LIST_LIMIT),
  };
}

function keyed<T>(rows: T[], key: (row: T) => number): Map<number, T> {
  return new Map(rows.map((r) => [key(r), r]));
}

/** The wallboard, kept up to date by the deltas the server sends. */
export function useWallboard(): { board: Wallboard | null; error: string | null; reload: () => void } {
  const [board, setBoard] = useState<Wallboard | null>(null);
  const [error, setError] = useState<string | null>(null);
  const rows = useRef<Rows | null>(null);
  const waiting = useRef(false); // a snapshot was asked for and has not come yet

  const bus = useLive({
    onEvent: (event) => {
      const frame = event as unknown as Record<string, unknown>;
      if (frame.event === "wallboard.snapshot") {
        const b = frame.board as Wallboard;
        waiting.current = false;
        rows.current = {
          version: frame.version as number,
          deltas: 0,
          generated_at: b.generated_at,
          timezone: b.timezone,
          day: b.day,
          queues: keyed(b.queues, (q) => q.id),
          agents: keyed(b.agents, (a) => a.user_id),
          conversations: keyed(b.conversations, (c) => c.id),
        };
        setBoard(view(rows.current));
        setError(null);
      } else if (frame.event === "wallboard.delta") {
        const d = frame as unknown as Delta;
        const held = rows.current;
        if (!held || waiting.current) return; // the snapshot asked for includes it
        if (d.version <= held.version) return;
        if (d.base !== held.version) {
          watch(); // a version missed: the whole board again
          return;
        }
        for (const id of d.queues_removed) held.queues.delete(id);
        for (const q of d.queues) held.queues.set(q.id, q);
        for (const id of d.agents_removed) held.agents.delete(id);
        for (const a of d.agents) held.agents.set(a.user_id, a);
        for (const id of d.conversations_removed) held.conversations.delete(id);
        for (const c of d.conversations) held.conversations.set(c.id, c);
        held.version = d.version;
        held.deltas += 1;
        held.generated_at = d.generated_at;
        held.day = d.day;
        setBoard(view(held));
      }
    },
    onResync: () => watch(),
  });

  const watch = useCallback(() => {
    if (!bus) return;
    waiting.current = true;
    // Not connected yet: the hello that comes with the connection asks again (onResync).
    bus.send({ event: "wallboard.watch" });
  }, [bus]);

  useEffect(() => {
    watch();
    return () => {
      bus?.send({ event: "wallboard.unwatch" });
    };
  }, [bus, watch]);

  return { board, error, reload: watch };
}
