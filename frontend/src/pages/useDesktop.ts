// The agent desktop's state: conversations, their messages, unread counts and offers,
// kept live by the websocket and re-read over REST whenever the link was interrupted.
// Unread counts come from the server (each person's read marker), so they survive a
// reload; the desktop moves the marker whenever a conversation is open and visible.
import { useCallback, useEffect, useRef, useState } from "react";
import { api, ApiError } from "../api/client";
import type { Conversation, LiveEvent, Message, Queue, ReadMarker } from "../api/types";
import { mergeMessages } from "../components/messages";
import { useLive } from "../live";

let tickets = 0;

/** Take a ticket before reading or changing a conversation: of two answers about one
 * conversation, the one whose request started later wins, whatever order they arrive in. */
export function nextTicket(): number {
  tickets += 1;
  return tickets;
}

export interface Offer {
  conversationId: number;
  expiresAt: string;
}

export interface DesktopState {
  conversations: Record<number, Conversation>;
  messages: Record<number, Message[]>;
  unread: Record<number, number>;
  offers: Record<number, Offer>;
  queues: Record<number, Queue>;
}

interface Options {
  myId: number | null;
  onOffer: (offer: Offer) => void;
  onNote: (conversationId: number) => void;
}

export function useDesktop(selectedId: number | null, { myId, onOffer, onNote }: Options) {
  const [state, setState] = useState<DesktopState>({
    conversations: {},
    messages: {},
    unread: {},
    offers: {},
    queues: {},
  });
  // Conversations this person may no longer see (transferred away, or never theirs):
  // the screen says so instead of showing its last known state.
  const [gone, setGone] = useState<ReadonlySet<number>>(new Set());
  const stateRef = useRef(state);
  stateRef.current = state;
  const selectedRef = useRef(selectedId);
  selectedRef.current = selectedId;
  const inflight = useRef(new Map<number, Promise<void>>());
  const again = useRef(new Set<number>());
  const applied = useRef(new Map<number, number>());
  // Per conversation: the newest message id we told the server we have seen, and the
  // ticket taken when the server confirmed it (older answers carry an older count).
  const readSent = useRef(new Map<number, number>());
  const readDone = useRef(new Map<number, number>());
  // When each offer made to this person expires (from the offer event), so an offer shown
  // again from the conversation's state keeps its countdown.
  const offerExpiry = useRef(new Map<number, string>());
  const offerOf = (s: DesktopState, id: number): Offer =>
    s.offers[id] ?? { conversationId: id, expiresAt: offerExpiry.current.get(id) ?? "" };

  const onScreen = (id: number) => selectedRef.current === id && !document.hidden;

  /** The server's unread count for a conversation, unless a newer read marker makes it stale. */
  const serverUnread = useCallback((c: Conversation, ticket: number): number | undefined => {
    if (typeof c.unread !== "number") return undefined;
    if ((readDone.current.get(c.id) ?? 0) > ticket) return undefined;
    return onScreen(c.id) ? 0 : c.unread;
  }, []);

  const putConversation = useCallback((c: Conversation, ticket: number = nextTicket()) => {
    if ((applied.current.get(c.id) ?? 0) > ticket) return;
    applied.current.set(c.id, ticket);
    setGone((g) => (g.has(c.id) ? new Set([...g].filter((x) => x !== c.id)) : g));
    const count = serverUnread(c, ticket);
    setState((s) => {
      // The conversation's state decides whether its offer is shown: an answer read
      // before the offer was made (still "queued") may arrive after the offer event and
      // removes it; the newer answer, "offered" to me, shows it again.
      const offers = { ...s.offers };
      if (c.status === "offered" && c.offered_agent_id === myId) offers[c.id] = offerOf(s, c.id);
      else delete offers[c.id];
      const unread = count === undefined ? s.unread : { ...s.unread, [c.id]: count };
      return { ...s, conversations: { ...s.conversations, [c.id]: c }, offers, unread };
    });
  }, [myId, serverUnread]);

  /** Tell the server this person has seen the open conversation up to its newest message. */
  const markRead = useCallback(async (id: number) => {
    if (myId === null || !onScreen(id)) return;
    const list = stateRef.current.messages[id];
    const last = list?.length ? list[list.length - 1].id : null;
    if (last === null || (readSent.current.get(id) ?? 0) >= last) return;
    readSent.current.set(id, last);
    try {
      const marker = await api.post<ReadMarker>(`/conversations/${id}/read`, { message_id: last });
      readDone.current.set(id, nextTicket());
      setState((s) => ({ ...s, unread: { ...s.unread, [id]: onScreen(id) ? 0 : marker.unread } }));
    } catch {
      if (readSent.current.get(id) === last) readSent.current.delete(id); // try again later
    }
  }, [myId]);

  const dropConversation = useCallback((id: number) => {
    setState((s) => {
      const conversations = { ...s.conversations };
      const offers = { ...s.offers };
      delete conversations[id];
      delete offers[id];
      return { ...s, conversations, offers };
    });
  }, []);

  const fetchConversation = useCallback(
    async (id: number) => {
      const ticket = nextTicket();
      try {
        putConversation(await api.get<Conversation>(`/conversations/${id}`), ticket);
      } catch (err) {
        if (err instanceof ApiError && (err.status === 404 || err.status === 403)) {
          if ((applied.current.get(id) ?? 0) > ticket) return; // a newer answer says it is ours
          dropConversation(id);
          setGone((g) => new Set(g).add(id));
        }
      }
    },
    [putConversation, dropConversation],
  );

  // Messages sent or received while a conversation's first load is on its way (its answer
  // may predate them): kept here and added when that load lands, never dropped.
  const early = useRef(new Map<number, Message[]>());

  const putMessage = useCallback((m: Message) => {
    const id = m.conversation_id;
    if (!stateRef.current.messages[id] && inflight.current.has(id)) {
      early.current.set(id, [...(early.current.get(id) ?? []), m]);
      return;
    }
    setState((s) => ({
      ...s,
      messages: s.messages[m.conversation_id]
        ? { ...s.messages, [m.conversation_id]: mergeMessages(s.messages[m.conversation_id], [m]) }
        : s.messages,
    }));
  }, []);

  const pendingMedia = useRef(new Set<number>());

  /** A received file is downloaded from WhatsApp after its message arrives: re-read the
   * message (1 s, 2 s, 4 s… for about a minute) until its media is stored or failed. */
  const watchMedia = useCallback(
    (m: Message) => {
      if (m.media?.status !== "pending" || pendingMedia.current.has(m.id)) return;
      pendingMedia.current.add(m.id);
      const check = async (attempt: number) => {
        try {
          const fresh = await api.get<Message>(`/messages/${m.id}`);
          putMessage(fresh);
          if (fresh.media?.status !== "pending" || attempt >= 6) {
            pendingMedia.current.delete(m.id);
            return;
          }
        } catch {
          pendingMedia.current.delete(m.id);
          return;
        }
        window.setTimeout(() => void check(attempt + 1), 1000 * 2 ** attempt);
      };
      window.setTimeout(() => void check(0), 500);
    },
    [putMessage],
  );

  /** New messages of one conversation (all of them the first time, then after the last). */
  const loadMessages = useCallback((id: number): Promise<void> => {
    const running = inflight.current.get(id);
    if (running) {
      again.current.add(id);
      return running;
    }
    const run = (async () => {
      const known = stateRef.current.messages[id];
      // Pages follow the last row read, not the newest message held: one that arrived
      // live in between must not make the next page skip older ones.
      let after = known?.length ? known[known.length - 1].id : null;
      try {
        for (;;) {
          const rows = await api.get<Message[]>(
            `/conversations/${id}/messages?limit=500${after ? `&after_id=${after}` : ""}`,
          );
          const held = early.current.get(id) ?? [];
          early.current.delete(id);
          // Their statuses may have moved on meanwhile, unseen: the next page (after the
          // last row read) brings them again as they are now.
          if (held.length) again.current.add(id);
          const arrived = [...rows, ...held];
          setState((s) => ({ ...s, messages: { ...s.messages, [id]: mergeMessages(s.messages[id], arrived) } }));
          stateRef.current = {
            ...stateRef.current,
            messages: { ...stateRef.current.messages, [id]: mergeMessages(stateRef.current.messages[id], arrived) },
          };
          arrived.forEach(watchMedia);
          if (rows.length) after = rows[rows.length - 1].id;
          if (rows.length < 500 && !again.current.has(id)) break;
          again.current.delete(id);
        }
      } catch {
        // the conversation is gone from view (transferred away); the list update says so
      } finally {
        inflight.current.delete(id);
        early.current.delete(id);
      }
    })();
    inflight.current.set(id, run);
    return run;
  }, [watchMedia]);

  const refreshAll = useCallback(async () => {
    const ticket = nextTicket();
    const [rows, queues] = await Promise.all([
      api.get<Conversation[]>("/conversations?limit=200"),
      api.get<Queue[]>("/queues").catch(() => [] as Queue[]),
    ]);
    setState((s) => {
      const conversations: Record<number, Conversation> = {};
      const unread = { ...s.unread };
      for (const c of rows) {
        // a newer answer about this conversation already arrived: keep it
        const fresher = (applied.current.get(c.id) ?? 0) > ticket && s.conversations[c.id];
        conversations[c.id] = fresher ? s.conversations[c.id] : c;
        const count = fresher ? undefined : serverUnread(c, ticket);
        if (count !== undefined) unread[c.id] = count;
      }
      // keep what is on screen even if it fell out of the newest 200
      const sel = selectedRef.current;
      if (sel && s.conversations[sel] && !conversations[sel]) conversations[sel] = s.conversations[sel];
      const offers: Record<number, Offer> = {};
      for (const c of Object.values(conversations)) {
        if (c.status === "offered" && c.offered_agent_id === myId) {
          offers[c.id] = offerOf(s, c.id);
        }
      }
      return {
        ...s,
        conversations,
        offers,
        unread,
        queues: Object.fromEntries(queues.map((q) => [q.id, q])),
      };
    });
    // Messages that arrived while we were away: fetched after the last one we hold.
    await Promise.all(Object.keys(stateRef.current.messages).map((id) => loadMessages(Number(id))));
  }, [loadMessages, myId, serverUnread]);

  useEffect(() => {
    void refreshAll();
  }, [refreshAll]);

  // The open conversation is read as messages arrive, and when the tab is shown again.
  const selectedMessages = selectedId !== null ? state.messages[selectedId] : undefined;
  const lastSelectedId = selectedMessages?.length ? selectedMessages[selectedMessages.length - 1].id : null;
  useEffect(() => {
    if (selectedId !== null && lastSelectedId !== null) void markRead(selectedId);
  }, [selectedId, lastSelectedId, markRead]);
  useEffect(() => {
    function onVisible() {
      const id = selectedRef.current;
      if (document.hidden || id === null) return;
      setState((s) => ({ ...s, unread: { ...s.unread, [id]: 0 } }));
      void markRead(id);
    }
    document.addEventListener("visibilitychange", onVisible);
    return () => document.removeEventListener("visibilitychange", onVisible);
  }, [markRead]);

  useEffect(() => {
    if (selectedId !== null) {
      void loadMessages(selectedId);
      setState((s) => ({ ...s, unread: { ...s.unread, [selectedId]: 0 } }));
      if (!stateRef.current.conversations[selectedId]) void fetchConversation(selectedId);
    }
  }, [selectedId, loadMessages, fetchConversation]);

  const onEvent = useCallback(
    (e: LiveEvent) => {
      const id = e.conversation_id;
      switch (e.event) {
        case "message.received":
        case "message.queued": {
          if (!id) return;
          if (e.event === "message.received" && (id !== selectedRef.current || document.hidden)) {
            setState((s) => ({ ...s, unread: { ...s.unread, [id]: (s.unread[id] ?? 0) + 1 } }));
          }
          if (stateRef.current.messages[id]) void loadMessages(id);
          void fetchConversation(id);
          return;
        }
        case "message.status": {
          if (!id || !e.message_id) return;
          const known = stateRef.current.messages[id]?.find((m) => m.id === e.message_id);
          if (known) {
            putMessage({
              ...known,
              status: e.status as Message["status"],
              error_code: e.error_code ?? known.error_code,
              error_message: e.error_message ?? known.error_message,
            });
            // Sent at last: WhatsApp's id (wamid) is known now, which replies and
            // reactions of the customer point at.
            if (!known.wamid) void api.get<Message>(`/messages/${known.id}`).then(putMessage).catch(() => undefined);
          } else if (stateRef.current.messages[id]) {
            void loadMessages(id);
          }
          return;
        }
        case "conversation.offer": {
          if (!id || e.agent_id !== myId) return;
          const offer = { conversationId: id, expiresAt: e.expires_at ?? "" };
          offerExpiry.current.set(id, offer.expiresAt);
          setState((s) => ({ ...s, offers: { ...s.offers, [id]: offer } }));
          void fetchConversation(id);
          onOffer(offer);
          return;
        }
        case "conversation.changed": {
          if (!id) return;
          void fetchConversation(id);
          return;
        }
        case "conversation.note": {
          if (id) onNote(id);
          return;
        }
        case "media.stored": {
          for (const list of Object.values(stateRef.current.messages)) {
            const m = list.find((x) => x.media?.id === e.media_id);
            if (m) void api.get<Message>(`/messages/${m.id}`).then(putMessage).catch(() => undefined);
          }
          return;
        }
        case "call.changed": {
          // A call's entry in the timeline is rewritten as the call moves.
          if (!id) return;
          const mid = typeof e.message_id === "number" ? e.message_id : null;
          const known = mid !== null && stateRef.current.messages[id]?.some((m) => m.id === mid);
          if (known) void api.get<Message>(`/messages/${mid}`).then(putMessage).catch(() => undefined);
          else if (stateRef.current.messages[id]) void loadMessages(id);
          void fetchConversation(id);
          return;
        }
        case "queue.changed": {
          const qid = e.queue_id;
          if (!qid) return;
          setState((s) =>
            s.queues[qid] ? { ...s, queues: { ...s.queues, [qid]: { ...s.queues[qid], waiting: e.waiting } } } : s,
          );
          return;
        }
      }
    },
    [fetchConversation, loadMessages, putMessage, myId, onOffer, onNote],
  );

  useLive({ onEvent, onResync: () => void refreshAll() });

  return { state, gone, putConversation, putMessage, loadMessages, fetchConversation, dropConversation, refreshAll };
}
