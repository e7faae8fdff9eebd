import { useEffect, useState } from "react";
import {
  Alert,
  Badge,
  Button,
  FileButton,
  Group,
  Modal,
  MultiSelect,
  Select,
  Stack,
  Switch,
  Table,
  TagsInput,
  Text,
  TextInput,
  Textarea,
  Title,
} from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api, ApiError } from "../api/client";
import type { Queue } from "../api/types";
import { FormError, useServerErrors } from "./forms";

interface Article {
  id: number;
  slug: string;
  title: string;
  body: string;
  language: "en" | "ja";
  tags: string[];
  version: number;
  updated_at: string;
}

interface ImportReport {
  created: string[];
  updated: string[];
  unchanged: string[];
  errors: { file: string; message: string }[];
}

interface AssistSettings {
  llm_enabled: boolean;
  negative_alert_queue_ids: number[];
  llm_configured: boolean;
  llm_model: string | null;
}

/** The knowledge base agents get suggestions from, and the workspace's assist settings. */
export function KnowledgePage() {
  const { t } = useTranslation();
  const [rows, setRows] = useState<Article[]>([]);
  const [editing, setEditing] = useState<Article | "new" | null>(null);
  const [report, setReport] = useState<ImportReport | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = () => void api.get<Article[]>("/knowledge?limit=200").then(setRows);
  useEffect(load, []);

  async function importFiles(files: File[]) {
    if (!files.length) return;
    setError(null);
    const form = new FormData();
    files.forEach((f) => form.append("files", f, f.webkitRelativePath || f.name));
    try {
      setReport(await api.post<ImportReport>("/knowledge/import", form));
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
    load();
  }

  async function remove(row: Article) {
    if (!window.confirm(t("knowledge.confirmDelete", { title: row.title }))) return;
    try {
      await api.del(`/knowledge/${row.id}`);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
    load();
  }

  return (
    <div className="page">
      <Group justify="space-between" mb="md">
        <Title order={1} size="h3">
          {t("knowledge.title")}
        </Title>
        <Group gap="xs">
          <FileButton onChange={(files) => void importFiles(files)} accept=".md,text/markdown" multiple>
            {(props) => (
              <Button variant="default" {...props} data-testid="knowledge-import">
                {t("knowledge.import")}
              </Button>
            )}
          </FileButton>
          <Button onClick={() => setEditing("new")} data-testid="new-article">
            {t("knowledge.new")}
          </Button>
        </Group>
      </Group>
      <AssistSettingsCard />
      <Alert color="gray" my="md">
        {t("knowledge.hint")}
      </Alert>
      {error && (
        <Alert color="red" role="alert" mb="md">
          {error}
        </Alert>
      )}
      {report && (
        <Alert color={report.errors.length ? "orange" : "teal"} mb="md" data-testid="import-report" withCloseButton onClose={() => setReport(null)}>
          {t("knowledge.imported", {
            created: report.created.length,
            updated: report.updated.length,
            unchanged: report.unchanged.length,
          })}
          {report.errors.map((e) => (
            <Text key={e.file} size="sm" c="red">
              {e.file}: {e.message}
            </Text>
          ))}
        </Alert>
      )}
      {rows.length === 0 ? (
        <Text c="dimmed">{t("knowledge.empty")}</Text>
      ) : (
        <Table striped highlightOnHover>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>{t("knowledge.titleField")}</Table.Th>
              <Table.Th>{t("knowledge.language")}</Table.Th>
              <Table.Th>{t("knowledge.tags")}</Table.Th>
              <Table.Th>{t("knowledge.version")}</Table.Th>
              <Table.Th />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((row) => (
              <Table.Tr key={row.id} data-testid="article-row">
                <Table.Td>
                  <Text size="sm" fw={500}>
                    {row.title}
                  </Text>
                  <Text size="xs" c="dimmed" lineClamp={1}>
                    {row.body}
                  </Text>
                </Table.Td>
                <Table.Td>{row.language}</Table.Td>
                <Table.Td>
                  <Group gap={4}>
                    {row.tags.map((tag) => (
                      <Badge key={tag} size="xs" variant="light">
                        {tag}
                      </Badge>
                    ))}
                  </Group>
                </Table.Td>
                <Table.Td>v{row.version}</Table.Td>
                <Table.Td>
                  <Group gap={4} wrap="nowrap">
                    <Button size="xs" variant="subtle" onClick={() => setEditing(row)}>
                      {t("common.edit")}
                    </Button>
                    <Button size="xs" variant="subtle" color="red" onClick={() => void remove(row)}>
                      {t("knowledge.delete")}
                    </Button>
                  </Group>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      <Modal opened={editing !== null} onClose={() => setEditing(null)} title={t(editing === "new" ? "knowledge.new" : "knowledge.edit")} size="lg">
        {editing !== null && (
          <ArticleForm
            row={editing === "new" ? null : editing}
            onDone={() => {
              setEditing(null);
              load();
            }}
          />
        )}
      </Modal>
    </div>
  );
}

function ArticleForm({ row, onDone }: { row: Article | null; onDone: () => void }) {
  const { t } = useTranslation();
  const [title, setTitle] = useState(row?.title ?? "");
  const [body, setBody] = useState(row?.body ?? "");
  const [language, setLanguage] = useState<string | null>(row?.language ?? null);
  const [tags, setTags] = useState<string[]>(row?.tags ?? []);
  const [busy, setBusy] = useState(false);
  const errors = useServerErrors(["title", "body", "language", "tags", "slug"]);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    errors.clear();
    const payload = { title: title.trim(), body, language, tags, slug: row?.slug ?? null };
    try {
      if (row) await api.put(`/knowledge/${row.id}`, payload);
      else await api.post("/knowledge", payload);
      onDone();
    } catch (err) {
      errors.take(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} noValidate data-testid="article-form">
      <Stack>
        <TextInput label={t("knowledge.titleField")} value={title} onChange={(e) => setTitle(e.currentTarget.value)} error={errors.fields.title ?? errors.fields.slug} required data-testid="article-title" />
        <Select
          label={t("knowledge.language")}
          placeholder={t("knowledge.detect")}
          data={[
            { value: "en", label: "English" },
            { value: "ja", label: "日本語" },
          ]}
          value={language}
          onChange={setLanguage}
          clearable
          error={errors.fields.language}
        />
        <TagsInput label={t("knowledge.tags")} value={tags} onChange={setTags} error={errors.fields.tags} />
        <Textarea label={t("knowledge.body")} description={t("knowledge.bodyHint")} autosize minRows={5} maxRows={16} value={body} onChange={(e) => setBody(e.currentTarget.value)} error={errors.fields.body} required data-testid="article-body" />
        <FormError message={errors.general} />
        <Group justify="flex-end">
          <Button type="submit" loading={busy} data-testid="article-save">
            {t("common.save")}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

function AssistSettingsCard() {
  const { t } = useTranslation();
  const [settings, setSettings] = useState<AssistSettings | null>(null);
  const [queues, setQueues] = useState<Queue[]>([]);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    api.get<AssistSettings>("/assist/settings").then(setSettings).catch(() => setSettings(null));
    api.get<Queue[]>("/queues").then(setQueues).catch(() => setQueues([]));
  }, []);

  async function save(next: Partial<AssistSettings>) {
    if (!settings) return;
    setError(null);
    try {
      setSettings(
        await api.put<AssistSettings>("/assist/settings", {
          llm_enabled: next.llm_enabled ?? settings.llm_enabled,
          negative_alert_queue_ids: next.negative_alert_queue_ids ?? settings.negative_alert_queue_ids,
        }),
      );
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  }

  if (!settings) return null;
  return (
    <Stack gap="xs" p="sm" style={{ border: "1px solid var(--mantine-color-gray-3)", borderRadius: 6 }} data-testid="assist-settings">
      <Switch
        label={t("knowledge.llm")}
        description={settings.llm_configured ? t("knowledge.llmConfigured", { model: settings.llm_model || "—" }) : t("knowledge.llmMissing")}
        checked={settings.llm_enabled}
        disabled={!settings.llm_configured}
        onChange={(e) => void save({ llm_enabled: e.currentTarget.checked })}
      />
      <MultiSelect
        label={t("knowledge.alertQueues")}
        description={t("knowledge.alertQueuesHint")}
        data={queues.map((q) => ({ value: String(q.id), label: q.name }))}
        value={settings.negative_alert_queue_ids.map(String)}
        onChange={(v) => void save({ negative_alert_queue_ids: v.map(Number) })}
        clearable
      />
      {error && (
        <Text size="sm" c="red" role="alert">
          {error}
        </Text>
      )}
    </Stack>
  );
}
