import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { ActionIcon, Badge, Button, Group, SegmentedControl, Stack, Text, Title, Tooltip } from "@mantine/core";
import { useInterval } from "@mantine/hooks";
import { notifications } from "@mantine/notifications";
import { useTranslation } from "react-i18next";
import { api, ApiError } from "../api/client";
import type { Conversation, Message } from "../api/types";
import { formatDuration, formatTime, secondsSince } from "../format";
import { isStaff, useSession } from "../session";
import { contactName, waitingSince } from "../components/messages";
import { MessageBubble } from "../components/MessageBubble";
import { Composer } from "../components/Composer";
import { SidePanel } from "../components/SidePanel";
import { ConversationActions } from "../components/ConversationActions";
import { nextTicket, useDesktop, type Offer } from "./useDesktop";
import { alertOffer } from "../components/alerts";
import { OfferHeading } from "../components/OfferHeading";
import { useCalls } from "../calls/useCalls";
import { CallBar } from "../calls/CallBar";
import { CallButton } from "../calls/CallButton";
import { VideoRoom } from "../calls/VideoRoom";
import { navigate, usePath } from "../router";
import { useMyPresence } from "../presence";
import { AssistPanel, OfferSummary, SENTIMENT_COLOR } from "../assist/AssistPanel";
import { useSentiments } from "../assist/useSentiments";
import { SupervisionBar } from "../supervision/SupervisionBar";

const OPEN = new Set(["new", "in_flow", "queued", "offered", "active", "wrap_up"]);

/** The open conversation is named by the URL (/conversations/42): reload and share keep it. */
function conversationInPath(path: string): number | null {
  const match = /^\/conversations\/(\d+)\/?$/.exec(path);
  return match ? Number(match[1]) : null;
}

function openConversation(id: number | null): void {
  navigate(id === null ? "/" : `/conversations/${id}`);
}

export function DesktopPage() {
  const { t } = useTranslation();
  const { me } = useSession();
  const myId = me.user?.id ?? null;
  const staff = isStaff(me);
  const selectedId = conversationInPath(usePath());
  const setSelectedId = openConversation;
  const presence = useMyPresence();
  const [scope, setScope] = useState<"mine" | "all">(staff ? "all" : "mine");
  const [replyTo, setReplyTo] = useState<Message | null>(null);
  const [noteTick, setNoteTick] = useState(0);
  const [sideOpen, setSideOpen] = useState(false);
  const [insert, setInsert] = useState<{ text: string; seq: number } | null>(null);
  const sentiments = useSentiments(staff);
  const [now, setNow] = useState(Date.now());
  useInterval(() => setNow(Date.now()), 15_000, { autoInvoke: true });

  const onOffer = useCallback(
    (offer: Offer) => alertOffer(t("offer.notificationTitle"), t("offer.notificationBody", { id: offer.conversationId })),
    [t],
  );
  const onNote = useCallback((id: number) => {
    if (id === selectedIdRef.current) setNoteTick((n) => n + 1);
  }, []);
  const selectedIdRef = useRef(selectedId);
  selectedIdRef.current = selectedId;

  const { state, gone, putConversation, putMessage } = useDesktop(selectedId, { myId, onOffer, onNote });

  const list = useMemo(() => {
    const rows = Object.values(state.conversations).filter((c) => {
      if (!OPEN.has(c.status)) return c.id === selectedId;
      if (scope === "all") return true;
      return c.assigned_agent_id === myId || (c.status === "offered" && c.offered_agent_id === myId);
    });
    const rank = (c: Conversation) => (state.offers[c.id] ? 0 : 1);
    return rows.sort(
      (a, b) =>
        rank(a) - rank(b) ||
        new Date(b.last_message_at ?? b.created_at).getTime() - new Date(a.last_message_at ?? a.created_at).getTime(),
    );
  }, [state.conversations, state.offers, scope, myId, selectedId]);

  const showError = useCallback((message: string) => notifications.show({ color: "red", message }), []);
  const calls = useCalls(myId, showError);
  // The chat opens beside the call the agent answers or places.
  const onCallIn = calls.current?.conversation_id ?? null;
  useEffect(() => {
    if (onCallIn !== null) setSelectedId(onCallIn);
  }, [onCallIn]);

  const offers = Object.values(state.offers);
  const selected = selectedId !== null ? state.conversations[selectedId] : undefined;
  const messages = selectedId !== null ? (state.messages[selectedId] ?? []) : [];

  async function accept(id: number) {
    try {
      // The answer is the state after the accept committed: newer than any read that was
      // answered before it, so its ticket is taken when it arrives (a ticket taken at the
      // click let a read started just after the click, answered before the commit with the
      // offer, win and keep the offer on screen).
      const changed = await api.post<Conversation>(`/conversations/${id}/accept`);
      putConversation(changed, nextTicket());
      setSelectedId(id);
    } catch (err) {
      notifications.show({ color: "red", message: err instanceof ApiError ? err.message : String(err) });
    }
  }

  async function decline(id: number) {
    try {
      // The answer is the state after the decline committed: newer than any read that was
      // answered before it, so its ticket is taken when it arrives (a ticket taken at the
      // click let a read started just after the click, answered before the commit with the
      // offer, win and keep the offer on screen).
      const changed = await api.post<Conversation>(`/conversations/${id}/decline`);
      putConversation(changed, nextTicket());
    } catch (err) {
      notifications.show({ color: "red", message: err instanceof ApiError ? err.message : String(err) });
    }
  }

  // Keyboard: Alt+↑/↓ switch conversation, Alt+A accept / Alt+D decline the first offer.
  // The handler reads the list as rendered (a ref set during render), not the list of the
  // render its effect was registered after: a key pressed just after a re-sort must move
  // from what the agent sees.
  const listRef = useRef(list);
  listRef.current = list;
  useEffect(() => {
    function onKey(e: KeyboardEvent) {
      if (!e.altKey || e.ctrlKey || e.metaKey) return;
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        const shown = listRef.current;
        if (!shown.length) return;
        const index = shown.findIndex((c) => c.id === selectedIdRef.current);
        const next = e.key === "ArrowDown" ? Math.min(shown.length - 1, index + 1) : Math.max(0, index - 1);
        setSelectedId(shown[index < 0 ? 0 : next].id);
        e.preventDefault();
      } else if ((e.code === "KeyA" || e.key === "a") && offers.length) {
        void accept(offers[0].conversationId);
        e.preventDefault();
      } else if ((e.code === "KeyD" || e.key === "d") && offers.length) {
        void decline(offers[0].conversationId);
        e.preventDefault();
      }
    }
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });

  useEffect(() => setReplyTo(null), [selectedId]);

  const byWamid = useMemo(() => {
    const map = new Map<string, Message>();
    for (const m of messages) if (m.wamid) map.set(m.wamid, m);
    return map;
  }, [messages]);

  const reactions = useMemo(() => {
    const map = new Map<string, string[]>();
    for (const m of messages) {
      if (m.type !== "reaction") continue;
      const target = (m.content.reaction as Record<string, unknown> | undefined)?.message_id ?? m.content.message_id;
      const emoji = (m.content.reaction as Record<string, unknown> | undefined)?.emoji ?? m.content.emoji;
      if (typeof target === "string" && typeof emoji === "string" && byWamid.has(target)) {
        map.set(target, [...(map.get(target) ?? []), emoji]);
      }
    }
    return map;
  }, [messages, byWamid]);

  // Follow new messages (and a late error line) while the agent is at the bottom; jump
  // to the bottom when another conversation is opened.
  const scroller = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  useEffect(() => {
    atBottom.current = true;
  }, [selectedId]);
  useEffect(() => {
    const el = scroller.current;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
  }, [messages, selectedId]);
  // A picture or video grows the thread after it loads: stay at the bottom if we were.
  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const observer = new ResizeObserver(() => {
      if (atBottom.current) el.scrollTop = el.scrollHeight;
    });
    Array.from(el.children).forEach((child) => observer.observe(child));
    return () => observer.disconnect();
  }, [messages, selectedId]);

  const canWrite =
    !!selected &&
    (selected.status === "active" || selected.status === "wrap_up") &&
    (selected.assigned_agent_id === myId || me.role !== "agent");

  return (
    <div className={`desktop${sideOpen ? " side-open" : ""}`}>
      <nav className="conv-list" aria-label={t("desktop.conversations")}>
        {offers.length > 0 && (
          <Stack gap={4} p="xs" bg="yellow.0" data-testid="offers" aria-live="assertive">
            {offers.map((offer) => {
              const c = state.conversations[offer.conversationId];
              return (
                <div key={offer.conversationId} data-testid="offer" data-conversation-id={offer.conversationId}>
                  <OfferHeading conversationId={offer.conversationId} name={c ? contactName(c) : `#${offer.conversationId}`} />
                  {c?.queue_id && state.queues[c.queue_id] && (
                    <Text size="xs" c="dimmed">
                      {t("offer.fromQueue", { queue: state.queues[c.queue_id].name })}
                    </Text>
                  )}
                  <OfferSummary conversationId={offer.conversationId} />
                  <OfferCountdown expiresAt={offer.expiresAt} now={now} />
                  <Group gap={4} mt={4}>
                    <Button size="xs" onClick={() => void accept(offer.conversationId)} data-testid="offer-accept">
                      {t("offer.accept")}
                    </Button>
                    <Button size="xs" variant="default" onClick={() => void decline(offer.conversationId)}>
                      {t("offer.decline")}
                    </Button>
                  </Group>
                </div>
              );
            })}
            <Text size="xs" c="dimmed">
              {t("offer.keys")}
            </Text>
          </Stack>
        )}
        {staff && (
          <SegmentedControl
            fullWidth
            size="xs"
            m="xs"
            value={scope}
            onChange={(v) => setScope(v as "mine" | "all")}
            data={[
              { value: "mine", label: t("desktop.mine") },
              { value: "all", label: t("desktop.allOpen") },
            ]}
          />
        )}
        {list.length === 0 && (
          <Text size="sm" c="dimmed" p="md" data-testid="no-conversations">
            {presence === "available" ? t("desktopLive.emptyAvailable") : t("desktop.empty")}
          </Text>
        )}
        <ul style={{ listStyle: "none", margin: 0, padding: 0 }}>
          {list.map((c) => {
            const unread = state.unread[c.id] ?? 0;
            const since = waitingSince(c);
            const mood = staff ? sentiments[c.id] : undefined;
            return (
              <li key={c.id}>
                <button
                  type="button"
                  className={`conv-item${mood?.label === "negative" ? " conv-negative" : ""}`}
                  data-sentiment={mood?.label}
                  aria-current={c.id === selectedId}
                  data-testid="conversation-item"
                  data-conversation-id={c.id}
                  onClick={() => setSelectedId(c.id)}
                  aria-label={`${contactName(c)}, ${t(`status.conversation.${c.status}`)}${unread ? `, ${t("desktop.unread", { count: unread })}` : ""}`}
                >
                  <Group justify="space-between" wrap="nowrap" gap={4}>
                    <Text size="sm" fw={unread ? 700 : 500} truncate>
                      {contactName(c)}
                    </Text>
                    {mood && mood.label !== "neutral" && (
                      <Badge size="xs" variant="light" color={SENTIMENT_COLOR[mood.label]} data-testid="sentiment-badge">
                        {t(`assist.sentiment.${mood.label}`)}
                      </Badge>
                    )}
                    {unread > 0 && (
                      <Badge size="sm" circle data-testid="unread">
                        {unread}
                      </Badge>
                    )}
                  </Group>
                  <Group justify="space-between" wrap="nowrap" gap={4}>
                    <Text size="xs" c="dimmed" truncate>
                      {t(`status.conversation.${c.status}`)}
                      {c.queue_id && state.queues[c.queue_id] ? ` · ${state.queues[c.queue_id].name}` : ""}
                    </Text>
                    {since ? (
                      <Text size="xs" c={secondsSince(since, now) > 300 ? "red" : "orange"} data-testid="waiting">
                        {t("desktop.waiting", { time: formatDuration(secondsSince(since, now)) })}
                      </Text>
                    ) : (
                      <Text size="xs" c="dimmed">
                        {formatTime(c.last_message_at)}
                      </Text>
                    )}
                  </Group>
                </button>
              </li>
            );
          })}
        </ul>
        <Text size="xs" c="dimmed" p="xs">
          {t("desktop.keys")}
        </Text>
      </nav>

      <main className="chat" aria-label={t("desktop.chat")}>
        <CallBar calls={calls} conversations={state.conversations} onOpen={setSelectedId} now={now} />
        {selected ? (
          <>
            <Group justify="space-between" p="xs" px="md" style={{ borderBottom: "1px solid var(--mantine-color-gray-3)" }} wrap="nowrap">
              <div style={{ minWidth: 0 }}>
                <Title order={2} size="h5" data-testid="chat-title" lineClamp={1}>
                  {contactName(selected)}
                </Title>
                <Text size="xs" c="dimmed">
                  {t(`status.conversation.${selected.status}`)} · {selected.display_phone_number}
                  {selected.queue_id && state.queues[selected.queue_id] ? ` · ${state.queues[selected.queue_id].name}` : ""}
                </Text>
              </div>
              <Group gap={4} wrap="nowrap">
                <CallButton
                  conversation={selected}
                  canAct={canWrite}
                  onCall={calls.place}
                  onCallBusy={!!calls.current}
                  messagesTick={messages.length}
                  onError={showError}
                />
                <VideoRoom
                  conversationId={selected.id}
                  canAct={canWrite}
                  onError={showError}
                  onEntry={(id) => void api.get<Message>(`/messages/${id}`).then(putMessage).catch(() => undefined)}
                />
                <ConversationActions
                  conversation={selected}
                  queues={Object.values(state.queues)}
                  canAct={canWrite}
                  onChanged={putConversation}
                />
                <Tooltip label={t("desktop.customerPanel")}>
                  <ActionIcon className="side-toggle" variant="default" aria-label={t("desktop.customerPanel")} aria-expanded={sideOpen} onClick={() => setSideOpen((o) => !o)}>
                    👤
                  </ActionIcon>
                </Tooltip>
              </Group>
            </Group>
            <SupervisionBar conversation={selected} onChanged={putConversation} onMessage={putMessage} />
            <div
              className="chat-messages"
              ref={scroller}
              onScroll={(e) => {
                const el = e.currentTarget;
                atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
              }}
              aria-live="polite" aria-label={t("desktop.messages")} data-testid="messages">
              {messages.map((m) =>
                m.type === "reaction" && m.content && reactionTargetKnown(m, byWamid) ? null : (
                  <MessageBubble
                    key={m.id}
                    message={m}
                    quoted={m.reply_to_wamid ? byWamid.get(m.reply_to_wamid) : null}
                    reactions={m.wamid ? reactions.get(m.wamid) : undefined}
                    onReply={canWrite ? setReplyTo : undefined}
                  />
                ),
              )}
            </div>
            <Composer
              conversation={selected}
              canWrite={canWrite}
              replyTo={replyTo}
              onClearReply={() => setReplyTo(null)}
              onSent={putMessage}
              now={now}
              insert={insert}
            />
          </>
        ) : selectedId !== null && gone.has(selectedId) ? (
          <Stack align="center" justify="center" h="100%" c="dimmed" data-testid="conversation-gone">
            <Text>{t("desktopLive.gone")}</Text>
            <Button variant="default" size="xs" onClick={() => setSelectedId(null)}>
              {t("desktopLive.backToList")}
            </Button>
          </Stack>
        ) : (
          <Stack align="center" justify="center" h="100%" c="dimmed">
            <Text>{t("desktop.pick")}</Text>
          </Stack>
        )}
      </main>

      <aside className="side" aria-label={t("desktop.customerPanel")}>
        {selected && (
          <AssistPanel
            conversation={selected}
            canWrite={canWrite}
            messagesTick={messages.length}
            onInsert={(text) => setInsert((i) => ({ text, seq: (i?.seq ?? 0) + 1 }))}
          />
        )}
        {selected && (
          <SidePanel conversation={selected} noteTick={noteTick} onOpen={(id) => setSelectedId(id)} />
        )}
      </aside>
    </div>
  );
}

function reactionTargetKnown(m: Message, byWamid: Map<string, Message>): boolean {
  const r = (m.content.reaction as Record<string, unknown> | undefined) ?? m.content;
  return typeof r.message_id === "string" && byWamid.has(r.message_id) && typeof r.emoji === "string" && !!r.emoji;
}

function OfferCountdown({ expiresAt, now }: { expiresAt: string; now: number }) {
  const { t } = useTranslation();
  const [, force] = useState(0);
  useInterval(() => force((n) => n + 1), 1000, { autoInvoke: true });
  if (!expiresAt) return null;
  const left = Math.max(0, (new Date(expiresAt).getTime() - Math.max(now, Date.now())) / 1000);
  return (
    <Text size="xs" c="dimmed">
      {t("offer.expiresIn", { time: formatDuration(left) })}
    </Text>
  );
}
