import { useEffect, useState } from "react";
import { Badge, Button, Divider, Group, Stack, TagsInput, Text, Textarea, Title, UnstyledButton } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api, ApiError } from "../api/client";
import { useNewest } from "../api/newest";
import type { Conversation, ConversationCsat, Note } from "../api/types";
import { formatDateTime } from "../format";
import { useLive } from "../live";

interface Props {
  conversation: Conversation;
  noteTick: number;
  onOpen: (conversationId: number) => void;
}

export function SidePanel({ conversation: c, noteTick, onOpen }: Props) {
  const { t } = useTranslation();
  const [history, setHistory] = useState<Conversation[]>([]);
  // Notes are kept with the conversation they belong to: an answer about the conversation
  // shown before never lands on this one, and a note saved while they load is not lost.
  const [noteList, setNoteList] = useState<{ conversationId: number; rows: Note[] }>({ conversationId: c.id, rows: [] });
  const notes = noteList.conversationId === c.id ? noteList.rows : [];
  // Tags changed here or live since a read started make that read's answer stale.
  const tagChanges = useNewest();
  const [tags, setTags] = useState<string[]>([]);
  const [draft, setDraft] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [csat, setCsat] = useState<ConversationCsat | null>(c.csat ?? null);

  // An answer about a conversation no longer shown is dropped (its effect was cleaned up).
  useEffect(() => {
    let stale = false;
    const newest = tagChanges.begin(); // what was asked about the one shown before is stale
    const current = () => !stale && newest();
    api
      .get<Conversation[]>(`/contacts/${c.contact.id}/conversations`)
      .then((rows) => !stale && setHistory(rows))
      .catch(() => !stale && setHistory([]));
    api
      .get<{ tags: string[] }>(`/conversations/${c.id}/tags`)
      .then((r) => current() && setTags(r.tags))
      .catch(() => current() && setTags([]));
    return () => {
      stale = true;
    };
  }, [c.id, c.contact.id, c.status]);

  // The CSAT question is asked as the conversation closes; its answer may come later.
  const [csatTick, setCsatTick] = useState(0);
  useEffect(() => {
    if (c.status !== "closed") {
      setCsat(null);
      return;
    }
    let stale = false;
    api
      .get<Conversation>(`/conversations/${c.id}`)
      .then((full) => !stale && setCsat(full.csat ?? null))
      .catch(() => !stale && setCsat(null));
    return () => {
      stale = true;
    };
  }, [c.id, c.status, csatTick]);

  // Tags changed by a colleague (or in another tab) show at once; so does a CSAT answer.
  useLive({
    onEvent: (e) => {
      if (e.event === "conversation.tags" && e.conversation_id === c.id && Array.isArray(e.tags)) {
        tagChanges.begin();
        setTags(e.tags as string[]);
      }
      if ((e.event === "csat.answered" || e.event === "csat.requested") && e.conversation_id === c.id) setCsatTick((n) => n + 1);
    },
  });

  useEffect(() => {
    let stale = false;
    const id = c.id;
    api
      .get<Note[]>(`/conversations/${id}/notes`)
      .then((rows) => {
        if (stale) return;
        setNoteList((s) => ({ conversationId: id, rows: s.conversationId === id ? mergeNotes(s.rows, rows) : rows }));
      })
      .catch(() => undefined);
    return () => {
      stale = true;
    };
  }, [c.id, noteTick]);

  async function addNote(event: React.FormEvent) {
    event.preventDefault();
    if (!draft.trim()) return;
    setError(null);
    try {
      const id = c.id;
      const note = await api.post<Note>(`/conversations/${id}/notes`, { body: draft.trim() });
      setNoteList((s) => ({ conversationId: id, rows: s.conversationId === id ? mergeNotes(s.rows, [note]) : [note] }));
      setDraft("");
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  }

  async function saveTags(next: string[]) {
    const newest = tagChanges.begin();
    setTags(next);
    try {
      const saved = await api.put<{ tags: string[] }>(`/conversations/${c.id}/tags`, { tags: next });
      // unless the panel moved on (another conversation, or a newer change) meanwhile
      if (newest()) setTags(saved.tags);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  }

  const k = c.contact;
  return (
    <Stack p="md" gap="sm" data-testid="side-panel">
      <Title order={3} size="h6">
        {t("side.customer")}
      </Title>
      <dl className="profile" style={{ margin: 0, fontSize: 13 }}>
        <Field label={t("side.name")} value={k.profile_name} />
        <Field label={t("side.phone")} value={k.wa_id ? `+${k.wa_id}` : null} />
        <Field label={t("side.username")} value={k.username} />
        <Field label={t("side.bsuid")} value={k.user_id} />
        <Field label={t("campaigns.onConversation")} value={c.campaign_name ?? null} />
      </dl>
      {csat && (
        <Group gap="xs" data-testid="conversation-csat" data-score={csat.score ?? undefined}>
          <Text size="xs" c="dimmed">
            {t("reports.csat.title")}
          </Text>
          {csat.score != null ? (
            <Badge color={csat.score >= 4 ? "teal" : csat.score >= 3 ? "yellow" : "red"} variant="light" title={t("reports.csat.answeredAt", { when: formatDateTime(csat.answered_at) })}>
              {t("reports.csat.score", { score: csat.score })}
            </Badge>
          ) : (
            <Badge color="gray" variant="light">
              {t("reports.csat.asked")}
            </Badge>
          )}
        </Group>
      )}
      <TagsInput label={t("side.tags")} value={tags} onChange={(v) => void saveTags(v)} size="xs" clearable />
      <Divider />
      <Title order={3} size="h6">
        {t("side.notes")}
      </Title>
      <Stack gap={6} data-testid="notes">
        {notes.length === 0 && (
          <Text size="xs" c="dimmed">
            {t("side.noNotes")}
          </Text>
        )}
        {notes.map((n) => (
          <div key={n.id} style={{ background: "var(--mantine-color-yellow-0)", padding: 6, borderRadius: 4 }}>
            <Text size="sm" style={{ whiteSpace: "pre-wrap" }}>
              {n.body}
            </Text>
            <Text size="xs" c="dimmed" data-testid="note-meta">
              {n.author_name ?? t("desktopLive.noteByApi")} · {formatDateTime(n.created_at)}
            </Text>
          </div>
        ))}
      </Stack>
      <form onSubmit={addNote}>
        <Stack gap={4}>
          <Textarea
            size="xs"
            label={t("side.addNote")}
            description={t("side.noteHint")}
            value={draft}
            onChange={(e) => setDraft(e.currentTarget.value)}
            maxLength={4000}
            error={error}
            autosize
            minRows={2}
          />
          <Group justify="flex-end">
            <Button type="submit" size="xs" variant="light" disabled={!draft.trim()}>
              {t("side.saveNote")}
            </Button>
          </Group>
        </Stack>
      </form>
      <Divider />
      <Title order={3} size="h6">
        {t("side.history")}
      </Title>
      <Stack gap={4} data-testid="history">
        {history.map((h) => (
          <UnstyledButton key={h.id} onClick={() => onOpen(h.id)} aria-current={h.id === c.id}>
            <Group justify="space-between" wrap="nowrap">
              <Text size="xs">
                #{h.id} · {formatDateTime(h.created_at)}
              </Text>
              <Badge size="xs" variant={h.id === c.id ? "filled" : "light"}>
                {t(`status.conversation.${h.status}`)}
              </Badge>
            </Group>
            {h.disposition_code && (
              <Text size="xs" c="dimmed">
                {h.disposition_code}
              </Text>
            )}
          </UnstyledButton>
        ))}
      </Stack>
    </Stack>
  );
}

/** Notes are only ever added: the union of two reads, oldest first. */
function mergeNotes(held: Note[], incoming: Note[]): Note[] {
  const byId = new Map(held.map((n) => [n.id, n]));
  for (const n of incoming) byId.set(n.id, n);
  return [...byId.values()].sort((x, y) => x.id - y.id);
}

function Field({ label, value }: { label: string; value: string | null }) {
  if (!value) return null;
  return (
    <>
      <dt style={{ color: "var(--mantine-color-gray-6)", fontSize: 11 }}>{label}</dt>
      <dd style={{ margin: "0 0 6px" }}>{value}</dd>
    </>
  );
}
