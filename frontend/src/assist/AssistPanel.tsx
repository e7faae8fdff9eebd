// Assist beside the chat: the conversation's sentiment, its summary (editable by whoever
// may write in it) and the suggested answers for the customer's latest messages, each
// inserted into the composer with one click (never sent by itself).
import { useEffect, useState } from "react";
import { Badge, Button, Group, Stack, Text, Textarea, Title } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api, ApiError } from "../api/client";
import type { Conversation } from "../api/types";

export interface Sentiment {
  label: "negative" | "neutral" | "positive";
  score: number;
}

interface AssistView {
  sentiment: Sentiment | null;
  summary: { text: string; language: string; source: string; stored: boolean } | null;
}

interface Suggestion {
  kind: "article" | "canned";
  id: number;
  title: string;
  text: string;
  snippet: string;
  score: number;
  tags: string[];
}

interface Suggestions {
  query: string;
  suggestions: Suggestion[];
  dispositions: string[];
  tags: string[];
}

export const SENTIMENT_COLOR: Record<Sentiment["label"], string> = {
  negative: "red",
  neutral: "gray",
  positive: "teal",
};

interface Props {
  conversation: Conversation;
  canWrite: boolean;
  messagesTick: number;
  onInsert: (text: string) => void;
}

export function AssistPanel({ conversation: c, canWrite, messagesTick, onInsert }: Props) {
  const { t } = useTranslation();
  const [view, setView] = useState<AssistView | null>(null);
  const [found, setFound] = useState<Suggestions | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    setEditing(null);
    setError(null);
  }, [c.id]);

  useEffect(() => {
    let stale = false;
    api
      .get<AssistView>(`/conversations/${c.id}/assist`)
      .then((v) => !stale && setView(v))
      .catch(() => !stale && setView(null));
    api
      .get<Suggestions>(`/conversations/${c.id}/suggestions`)
      .then((s) => !stale && setFound(s))
      .catch(() => !stale && setFound(null));
    return () => {
      stale = true;
    };
  }, [c.id, c.status, messagesTick]);

  async function saveSummary() {
    if (editing === null) return;
    setError(null);
    try {
      const summary = await api.put<AssistView["summary"]>(`/conversations/${c.id}/summary`, { text: editing });
      setView((v) => ({ sentiment: v?.sentiment ?? null, summary }));
      setEditing(null);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  }

  const sentiment = view?.sentiment;
  const summary = view?.summary;
  return (
    <Stack p="md" gap="sm" data-testid="assist-panel" style={{ borderBottom: "1px solid var(--mantine-color-gray-3)" }}>
      <Group justify="space-between">
        <Title order={3} size="h6">
          {t("assist.title")}
        </Title>
        {sentiment && (
          <Badge color={SENTIMENT_COLOR[sentiment.label]} variant="light" data-testid="assist-sentiment" data-label={sentiment.label}>
            {t(`assist.sentiment.${sentiment.label}`)} {sentiment.score > 0 ? "+" : ""}
            {sentiment.score.toFixed(2)}
          </Badge>
        )}
      </Group>
      <div data-testid="assist-summary">
        <Group justify="space-between" gap={4}>
          <Text size="xs" fw={600}>
            {t("assist.summary")}
          </Text>
          {summary && (
            <Text size="xs" c="dimmed">
              {t(`assist.source.${summary.source}`)}
            </Text>
          )}
        </Group>
        {editing !== null ? (
          <Stack gap={4}>
            <Textarea
              size="xs"
              autosize
              minRows={3}
              maxLength={4000}
              value={editing}
              onChange={(e) => setEditing(e.currentTarget.value)}
              error={error}
              aria-label={t("assist.summary")}
              data-testid="assist-summary-edit"
            />
            <Group justify="flex-end" gap={4}>
              <Button size="xs" variant="default" onClick={() => setEditing(null)}>
                {t("assist.cancel")}
              </Button>
              <Button size="xs" onClick={() => void saveSummary()} disabled={!editing.trim()} data-testid="assist-summary-save">
                {t("assist.save")}
              </Button>
            </Group>
          </Stack>
        ) : summary ? (
          <Text size="xs" style={{ whiteSpace: "pre-wrap" }} data-testid="assist-summary-text">
            {summary.text}
          </Text>
        ) : (
          <Text size="xs" c="dimmed">
            {t("assist.noSummary")}
          </Text>
        )}
        {canWrite && editing === null && (
          <Button size="compact-xs" variant="subtle" onClick={() => setEditing(summary?.text ?? "")} data-testid="assist-summary-edit-button">
            {t("assist.editSummary")}
          </Button>
        )}
      </div>
      <Text size="xs" fw={600}>
        {t("assist.suggestions")}
      </Text>
      <Stack gap={6} data-testid="assist-suggestions">
        {!found || found.suggestions.length === 0 ? (
          <Text size="xs" c="dimmed">
            {t("assist.noSuggestions")}
          </Text>
        ) : (
          found.suggestions.map((s) => (
            <div key={`${s.kind}-${s.id}`} data-testid="assist-suggestion" style={{ background: "var(--mantine-color-blue-0)", padding: 6, borderRadius: 4 }}>
              <Group justify="space-between" wrap="nowrap" gap={4}>
                <Text size="xs" fw={600} truncate>
                  {s.kind === "canned" ? "/" : "📄 "}
                  {s.title}
                </Text>
                <Button
                  size="compact-xs"
                  variant="light"
                  disabled={!canWrite}
                  onClick={() => onInsert(s.text)}
                  aria-label={t("assist.insertNamed", { title: s.title })}
                  data-testid="assist-insert"
                >
                  {t("assist.insert")}
                </Button>
              </Group>
              <Text size="xs" c="dimmed" lineClamp={3}>
                {s.snippet}
              </Text>
            </div>
          ))
        )}
      </Stack>
      {c.status === "wrap_up" && found && (found.dispositions.length > 0 || found.tags.length > 0) && (
        <Text size="xs" c="dimmed" data-testid="assist-wrapup">
          {t("assist.wrapUp", { dispositions: found.dispositions.join(", ") || "—", tags: found.tags.join(", ") || "—" })}
        </Text>
      )}
    </Stack>
  );
}

/** The summary's first lines on an offer card: what the customer wants before accepting. */
export function OfferSummary({ conversationId }: { conversationId: number }) {
  const [text, setText] = useState<string | null>(null);
  useEffect(() => {
    let stale = false;
    api
      .get<AssistView>(`/conversations/${conversationId}/assist`)
      .then((v) => !stale && setText(v.summary?.text ?? null))
      .catch(() => !stale && setText(null));
    return () => {
      stale = true;
    };
  }, [conversationId]);
  if (!text) return null;
  // Skip the "Customer:" line: the card already names the customer.
  const lines = text.split("\n").slice(1, 3).join("\n");
  return (
    <Text size="xs" c="dimmed" lineClamp={3} style={{ whiteSpace: "pre-wrap" }} data-testid="offer-summary">
      {lines}
    </Text>
  );
}
