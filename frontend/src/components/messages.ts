// Pure helpers about messages: status ranks, merging without duplicates, content access.
import type { Conversation, Message } from "../api/types";

const RANK: Record<string, number> = {
  received: 0,
  queued: 0,
  accepted: 1,
  sent: 2,
  delivered: 3,
  read: 4,
  failed: 5,
};

export function statusRank(status: string): number {
  return RANK[status] ?? 0;
}

/** One message, whichever copy knows more (statuses only move up their rank). */
export function newer(a: Message, b: Message): Message {
  return statusRank(b.status) >= statusRank(a.status) ? { ...a, ...b } : { ...b, ...a };
}

/** `existing` plus `incoming`, by id, in id order, each message once. */
export function mergeMessages(existing: Message[] | undefined, incoming: Message[]): Message[] {
  const byId = new Map<number, Message>();
  for (const m of existing ?? []) byId.set(m.id, m);
  for (const m of incoming) {
    const had = byId.get(m.id);
    byId.set(m.id, had ? newer(had, m) : m);
  }
  return [...byId.values()].sort((x, y) => x.id - y.id);
}

/** The message type's own object, whether stored from a webhook or from our send. */
export function inner(m: Message): Record<string, unknown> {
  const own = m.content[m.type];
  if (own && typeof own === "object" && !Array.isArray(own)) return own as Record<string, unknown>;
  return m.content;
}

export function str(value: unknown): string | undefined {
  return typeof value === "string" && value ? value : undefined;
}

export function windowOpen(c: Conversation, now: number = Date.now()): boolean {
  return !!c.service_window_closes_at && new Date(c.service_window_closes_at).getTime() > now;
}

/** The customer wrote last and is waiting for us since this time (or null). */
export function waitingSince(c: Conversation): string | null {
  if (!c.last_inbound_at) return null;
  if (c.status === "closed" || c.status === "abandoned") return null;
  if (c.last_message_at && new Date(c.last_message_at) > new Date(c.last_inbound_at)) return null;
  return c.last_inbound_at;
}

export function contactName(c: Conversation): string {
  const k = c.contact;
  return k.profile_name || k.username || k.wa_id || k.user_id || `#${k.id}`;
}

export function preview(m: Message): string {
  if (m.text) return m.text;
  return `[${m.type}]`;
}
