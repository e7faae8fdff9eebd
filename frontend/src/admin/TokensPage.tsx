import { useEffect, useState } from "react";
import { Alert, Badge, Button, Code, CopyButton, Group, Modal, Select, Stack, Table, TextInput, Title } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import type { ApiToken, Role, User } from "../api/types";
import { formatDateTime } from "../format";
import { FormError, useServerErrors } from "./forms";

export function TokensPage() {
  const { t } = useTranslation();
  const [tokens, setTokens] = useState<ApiToken[]>([]);
  const [users, setUsers] = useState<User[]>([]);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<string | null>(null);

  const load = () => void api.get<ApiToken[]>("/tokens").then(setTokens);
  useEffect(() => {
    load();
    void api.get<User[]>("/users").then(setUsers).catch(() => setUsers([]));
  }, []);

  async function revoke(id: number) {
    if (!window.confirm(t("tokens.confirmRevoke"))) return;
    await api.del(`/tokens/${id}`);
    load();
  }

  const userName = (id: number | null) => users.find((u) => u.id === id)?.name ?? (id ? `#${id}` : "—");

  return (
    <div className="page">
      <Group justify="space-between" mb="md">
        <Title order={1} size="h3">
          {t("tokens.title")}
        </Title>
        <Button onClick={() => setCreating(true)}>{t("tokens.new")}</Button>
      </Group>
      {created && (
        <Alert color="teal" title={t("tokens.createdTitle")} mb="md" withCloseButton onClose={() => setCreated(null)}>
          <Group>
            <Code data-testid="new-token">{created}</Code>
            <CopyButton value={created}>
              {({ copied, copy }) => (
                <Button size="xs" variant="light" onClick={copy}>
                  {copied ? t("common.copied") : t("common.copy")}
                </Button>
              )}
            </CopyButton>
          </Group>
          {t("tokens.createdHint")}
        </Alert>
      )}
      <Table striped>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{t("tokens.name")}</Table.Th>
            <Table.Th>{t("tokens.role")}</Table.Th>
            <Table.Th>{t("tokens.user")}</Table.Th>
            <Table.Th>{t("tokens.created")}</Table.Th>
            <Table.Th>{t("tokens.lastUsed")}</Table.Th>
            <Table.Th />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {tokens.map((tok) => (
            <Table.Tr key={tok.id}>
              <Table.Td>{tok.name}</Table.Td>
              <Table.Td>{t(`roles.${tok.role}`)}</Table.Td>
              <Table.Td>{userName(tok.user_id)}</Table.Td>
              <Table.Td>{formatDateTime(tok.created_at)}</Table.Td>
              <Table.Td>{formatDateTime(tok.last_used_at)}</Table.Td>
              <Table.Td>
                {tok.revoked_at ? (
                  <Badge color="gray">{t("tokens.revoked")}</Badge>
                ) : (
                  <Button size="xs" color="red" variant="subtle" onClick={() => void revoke(tok.id)}>
                    {t("tokens.revoke")}
                  </Button>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      <Modal opened={creating} onClose={() => setCreating(false)} title={t("tokens.new")}>
        <TokenForm
          users={users}
          onDone={(token) => {
            setCreating(false);
            setCreated(token);
            load();
          }}
        />
      </Modal>
    </div>
  );
}

function TokenForm({ users, onDone }: { users: User[]; onDone: (token: string) => void }) {
  const { t } = useTranslation();
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("agent");
  const [userId, setUserId] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const errors = useServerErrors(["name", "role", "user_id"]);

  async function submit(event: React.FormEvent) {
    event.preventDefault();
    setBusy(true);
    errors.clear();
    try {
      const res = await api.post<{ token: string }>("/tokens", { name, role, user_id: userId ? Number(userId) : null });
      onDone(res.token);
    } catch (err) {
      errors.take(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} noValidate>
      <Stack>
        <TextInput label={t("tokens.name")} value={name} onChange={(e) => setName(e.currentTarget.value)} error={errors.fields.name} required />
        <Select
          label={t("tokens.role")}
          data={(["agent", "supervisor", "admin"] as Role[]).map((r) => ({ value: r, label: t(`roles.${r}`) }))}
          value={role}
          onChange={(v) => v && setRole(v as Role)}
          allowDeselect={false}
          error={errors.fields.role}
          comboboxProps={{ withinPortal: false }}
        />
        <Select
          label={t("tokens.actsAs")}
          description={t("tokens.actsAsHint")}
          data={users.filter((u) => !u.disabled).map((u) => ({ value: String(u.id), label: `${u.name} (${t(`roles.${u.role}`)})` }))}
          value={userId}
          onChange={setUserId}
          clearable
          error={errors.fields.user_id}
          comboboxProps={{ withinPortal: false }}
        />
        <FormError message={errors.general} />
        <Group justify="flex-end">
          <Button type="submit" loading={busy}>
            {t("tokens.create")}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
