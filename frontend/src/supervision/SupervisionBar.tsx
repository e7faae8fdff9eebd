// Supervision inside a conversation. Everyone sees who is monitoring it and the whispers
// written to them; supervisors and admins also monitor, whisper, barge in and take over.
import { useCallback, useEffect, useState } from "react";
import { Badge, Button, Group, Paper, Stack, Text, TextInput } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useTranslation } from "react-i18next";
import { api, ApiError } from "../api/client";
import { useNewest } from "../api/newest";
import type { Conversation, Message } from "../api/types";
import { formatClock } from "../format";
import { useLive } from "../live";
import { isStaff, useSession } from "../session";

interface MonitorRow {
  supervisor_id: number;
  started_at: string;
}

interface WhisperRow {
  id: number;
  author_id: number | null;
  body: string;
  created_at: string;
}

let names: Promise<Map<number, string>> | null = null;

/** Colleagues' names (the directory anyone may read), fetched once per page load. */
function colleagueNames(): Promise<Map<number, string>> {
  names ??= api
    .get<Array<{ user_id: number; name: string }>>("/agents/directory")
    .then((rows) => new Map(rows.map((r) => [r.user_id, r.name])))
    .catch(() => new Map());
  return names;
}

export function SupervisionBar({
  conversation,
  onChanged,
  onMessage,
}: {
  conversation: Conversation;
  onChanged: (c: Conversation) => void;
  onMessage: (m: Message) => void;
}) {
  const { t } = useTranslation();
  const { me } = useSession();
  const staff = isStaff(me);
  const id = conversation.id;
  const [monitors, setMonitors] = useState<MonitorRow[]>([]);
  const [whispers, setWhispers] = useState<WhisperRow[]>([]);
  const [who, setWho] = useState<Map<number, string>>(new Map());
  const [text, setText] = useState("");

  // Reads overlap (events, actions, a conversation switch): only the newest one's answers
  // are shown, whatever order they arrive in.
  const reads = useNewest();
  const load = useCallback(() => {
    const newest = reads.begin();
    void api
      .get<MonitorRow[]>(`/conversations/${id}/monitors`)
      .then((rows) => newest() && setMonitors(rows))
      .catch(() => newest() && setMonitors([]));
    void api
      .get<WhisperRow[]>(`/conversations/${id}/whispers`)
      .then((rows) => newest() && setWhispers(rows))
      .catch(() => newest() && setWhispers([]));
  }, [id, reads]);

  useEffect(() => {
    // another conversation: nothing of the one shown before stays while its own loads
    setMonitors([]);
    setWhispers([]);
    load();
    void colleagueNames().then(setWho);
  }, [load]);

  useLive({
    onEvent: (event) => {
      if (event.conversation_id !== id) return;
      if (event.event === "conversation.monitor" || event.event === "conversation.whisper") load();
    },
    onResync: load,
  });

  const mine = monitors.some((m) => m.supervisor_id === me.user?.id);
  const open = !["closed", "abandoned"].includes(conversation.status);
  const nameOf = (userId: number | null) => (userId !== null ? (who.get(userId) ?? `#${userId}`) : "?");

  async function act(call: () => Promise<unknown>) {
    try {
      await call();
      load();
    } catch (err) {
      notifications.show({ color: "red", message: err instanceof ApiError ? err.message : String(err) });
    }
  }

  if (!staff && monitors.length === 0 && whispers.length === 0) return null;
  return (
    <Paper px="md" py={6} radius={0} bg="grape.0" data-testid="supervision-bar">
      <Stack gap={4}>
        {monitors.length > 0 && (
          <Group gap={6}>
            <Badge color="grape" variant="filled" size="sm" data-testid="monitored-indicator">
              {t("supervision.monitoredBy", { names: monitors.map((m) => nameOf(m.supervisor_id)).join(", ") })}
            </Badge>
          </Group>
        )}
        {whispers.length > 0 && (
          <Stack gap={2} data-testid="whispers" aria-live="polite" aria-label={t("supervision.whispers")}>
            {whispers.map((w) => (
              <Text key={w.id} size="sm" data-testid="whisper">
                <Badge size="xs" color="grape" variant="light" mr={6}>
                  {t("supervision.whisper")}
                </Badge>
                <b>{nameOf(w.author_id)}</b> {formatClock(w.created_at)}: {w.body}
              </Text>
            ))}
          </Stack>
        )}
        {staff && open && (
          <Group gap={6} wrap="nowrap">
            <Button
              size="compact-xs"
              variant={mine ? "filled" : "default"}
              color="grape"
              data-testid="monitor-toggle"
              onClick={() =>
                void act(() => (mine ? api.del(`/conversations/${id}/monitor`) : api.post(`/conversations/${id}/monitor`)))
              }
            >
              {mine ? t("supervision.stopMonitoring") : t("supervision.monitor")}
            </Button>
            {conversation.assigned_agent_id !== me.user?.id && (
              <Button
                size="compact-xs"
                variant="default"
                data-testid="take-over"
                onClick={() => void act(async () => onChanged(await api.post<Conversation>(`/conversations/${id}/take-over`)))}
              >
                {t("supervision.takeOver")}
              </Button>
            )}
            <TextInput
              size="xs"
              style={{ flex: 1 }}
              placeholder={t("supervision.placeholder")}
              aria-label={t("supervision.placeholder")}
              data-testid="supervision-text"
              value={text}
              onChange={(e) => setText(e.currentTarget.value)}
            />
            <Button
              size="compact-xs"
              color="grape"
              disabled={!text.trim()}
              data-testid="whisper-send"
              onClick={() =>
                void act(async () => {
                  await api.post(`/conversations/${id}/whispers`, { body: text.trim() });
                  setText("");
                })
              }
            >
              {t("supervision.sendWhisper")}
            </Button>
            <Button
              size="compact-xs"
              variant="default"
              disabled={!text.trim() || conversation.status !== "active" || conversation.assigned_agent_id === me.user?.id}
              data-testid="barge-send"
              onClick={() =>
                void act(async () => {
                  onMessage(
                    await api.post<Message>(`/conversations/${id}/barge`, {
                      message: { type: "text", text: { body: text.trim() } },
                    }),
                  );
                  setText("");
                })
              }
            >
              {t("supervision.barge")}
            </Button>
          </Group>
        )}
      </Stack>
    </Paper>
  );
}
