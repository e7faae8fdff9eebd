import { useEffect, useState } from "react";
import { Alert, Button, Code, Group, Modal, Stack, Table, Text, TextInput, Textarea, Title } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api, ApiError } from "../api/client";
import type { CannedResponse } from "../components/canned";
import { FormError, useServerErrors } from "./forms";

/** Canned responses of the workspace: agents insert them by typing `/shortcut`. */
export function CannedPage() {
  const { t } = useTranslation();
  const [rows, setRows] = useState<CannedResponse[]>([]);
  const [editing, setEditing] = useState<CannedResponse | "new" | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = () => void api.get<CannedResponse[]>("/canned-responses").then(setRows);
  useEffect(load, []);

  async function remove(row: CannedResponse) {
    if (!window.confirm(t("canned.confirmDelete", { shortcut: row.shortcut }))) return;
    setError(null);
    try {
      await api.del(`/canned-responses/${row.id}`);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
    load();
  }

  return (
    <div className="page">
      <Group justify="space-between" mb="md">
        <Title order={1} size="h3">
          {t("canned.title")}
        </Title>
        <Button onClick={() => setEditing("new")} data-testid="new-canned">
          {t("canned.new")}
        </Button>
      </Group>
      <Alert color="gray" mb="md">
        {t("canned.hint", { placeholder: "{{contact.name}}" })}
      </Alert>
      {error && (
        <Alert color="red" role="alert" mb="md">
          {error}
        </Alert>
      )}
      {rows.length === 0 ? (
        <Text c="dimmed">{t("canned.empty")}</Text>
      ) : (
        <Table striped highlightOnHover>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>{t("canned.shortcut")}</Table.Th>
              <Table.Th>{t("canned.titleField")}</Table.Th>
              <Table.Th>{t("canned.body")}</Table.Th>
              <Table.Th />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((row) => (
              <Table.Tr key={row.id} data-testid="canned-row">
                <Table.Td>
                  <Code>/{row.shortcut}</Code>
                </Table.Td>
                <Table.Td>{row.title}</Table.Td>
                <Table.Td>
                  <Text size="sm" lineClamp={2} style={{ whiteSpace: "pre-wrap" }}>
                    {row.body}
                  </Text>
                </Table.Td>
                <Table.Td>
                  <Group gap={4} wrap="nowrap">
                    <Button size="xs" variant="subtle" onClick={() => setEditing(row)}>
                      {t("common.edit")}
                    </Button>
                    <Button size="xs" variant="subtle" color="red" onClick={() => void remove(row)}>
                      {t("canned.delete")}
                    </Button>
                  </Group>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      <Modal
        opened={editing !== null}
        onClose={() => setEditing(null)}
        title={t(editing === "new" ? "canned.new" : "canned.edit")}
        size="lg"
      >
        {editing !== null && (
          <CannedForm
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

function CannedForm({ row, onDone }: { row: CannedResponse | null; onDone: () => void }) {
  const { t } = useTranslation();
  const [shortcut, setShortcut] = useState(row?.shortcut ?? "");
  const [title, setTitle] = useState(row?.title ?? "");
  const [body, setBody] = useState(row?.body ?? "");
  const [busy, setBusy] = useState(false);
  const errors = useServerErrors(["shortcut", "title", "body"]);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    errors.clear();
    const payload = { shortcut: shortcut.trim(), title: title.trim(), body };
    try {
      if (row) await api.put(`/canned-responses/${row.id}`, payload);
      else await api.post("/canned-responses", payload);
      onDone();
    } catch (err) {
      errors.take(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} noValidate data-testid="canned-form">
      <Stack>
        <TextInput
          label={t("canned.shortcut")}
          description={t("canned.shortcutHint")}
          leftSection="/"
          value={shortcut}
          onChange={(e) => setShortcut(e.currentTarget.value)}
          error={errors.fields.shortcut}
          required
          data-testid="canned-shortcut"
        />
        <TextInput
          label={t("canned.titleField")}
          value={title}
          onChange={(e) => setTitle(e.currentTarget.value)}
          error={errors.fields.title}
          required
          data-testid="canned-title"
        />
        <Textarea
          label={t("canned.body")}
          description={t("canned.bodyHint", { placeholder: "{{contact.name}}" })}
          autosize
          minRows={3}
          maxRows={12}
          value={body}
          onChange={(e) => setBody(e.currentTarget.value)}
          error={errors.fields.body}
          required
          data-testid="canned-body"
        />
        <FormError message={errors.general} />
        <Group justify="flex-end">
          <Button type="submit" loading={busy} data-testid="canned-save">
            {t("common.save")}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
