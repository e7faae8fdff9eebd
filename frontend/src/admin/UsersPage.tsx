import { useEffect, useState } from "react";
import { Badge, Button, Checkbox, Group, Modal, PasswordInput, Select, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import type { Locale, Role, User } from "../api/types";
import { formatDateTime } from "../format";
import { FormError, useServerErrors } from "./forms";

const ROLES: Role[] = ["agent", "supervisor", "admin"];

export function UsersPage() {
  const { t } = useTranslation();
  const [users, setUsers] = useState<User[]>([]);
  const [editing, setEditing] = useState<User | "new" | null>(null);

  const load = () => void api.get<User[]>("/users").then(setUsers);
  useEffect(load, []);

  return (
    <div className="page">
      <Group justify="space-between" mb="md">
        <Title order={1} size="h3">
          {t("users.title")}
        </Title>
        <Button onClick={() => setEditing("new")} data-testid="new-user">
          {t("users.new")}
        </Button>
      </Group>
      <Table striped highlightOnHover>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{t("users.name")}</Table.Th>
            <Table.Th>{t("users.email")}</Table.Th>
            <Table.Th>{t("users.role")}</Table.Th>
            <Table.Th>{t("users.language")}</Table.Th>
            <Table.Th>{t("users.lastLogin")}</Table.Th>
            <Table.Th />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {users.map((u) => (
            <Table.Tr key={u.id} data-testid="user-row">
              <Table.Td>
                {u.name} {u.disabled && <Badge color="gray">{t("users.disabled")}</Badge>}
                {!u.has_password && <Badge color="yellow">{t("users.noPassword")}</Badge>}
              </Table.Td>
              <Table.Td>{u.email}</Table.Td>
              <Table.Td>{t(`roles.${u.role}`)}</Table.Td>
              <Table.Td>{t(`languages.${u.locale}`)}</Table.Td>
              <Table.Td>{formatDateTime(u.last_login_at)}</Table.Td>
              <Table.Td>
                <Button size="xs" variant="subtle" onClick={() => setEditing(u)}>
                  {t("common.edit")}
                </Button>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      <Modal opened={editing !== null} onClose={() => setEditing(null)} title={editing === "new" ? t("users.new") : t("users.edit")}>
        {editing !== null && (
          <UserForm
            user={editing === "new" ? null : editing}
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

function UserForm({ user, onDone }: { user: User | null; onDone: () => void }) {
  const { t } = useTranslation();
  const [email, setEmail] = useState(user?.email ?? "");
  const [name, setName] = useState(user?.name ?? "");
  const [role, setRole] = useState<Role>(user?.role ?? "agent");
  const [locale, setLocaleValue] = useState<Locale>(user?.locale ?? "en");
  const [password, setPassword] = useState("");
  const [disabled, setDisabled] = useState(user?.disabled ?? false);
  const [busy, setBusy] = useState(false);
  const errors = useServerErrors(["email", "name", "role", "locale", "password", "disabled"]);

  async function submit(event: React.FormEvent) {
    event.preventDefault();
    setBusy(true);
    errors.clear();
    try {
      if (user) {
        await api.patch(`/users/${user.id}`, {
          name,
          role,
          locale,
          disabled,
          ...(password ? { password } : {}),
        });
      } else {
        await api.post("/users", { email, name, role, locale, password: password || null });
      }
      onDone();
    } catch (err) {
      errors.take(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} noValidate>
      <Stack>
        <TextInput label={t("users.email")} value={email} onChange={(e) => setEmail(e.currentTarget.value)} disabled={!!user} error={errors.fields.email} required />
        <TextInput label={t("users.name")} value={name} onChange={(e) => setName(e.currentTarget.value)} error={errors.fields.name} required />
        <Select
          label={t("users.role")}
          data={ROLES.map((r) => ({ value: r, label: t(`roles.${r}`) }))}
          value={role}
          onChange={(v) => v && setRole(v as Role)}
          allowDeselect={false}
          error={errors.fields.role}
          comboboxProps={{ withinPortal: false }}
        />
        <Select
          label={t("users.language")}
          data={(["en", "ja"] as Locale[]).map((l) => ({ value: l, label: t(`languages.${l}`) }))}
          value={locale}
          onChange={(v) => v && setLocaleValue(v as Locale)}
          allowDeselect={false}
          error={errors.fields.locale}
          comboboxProps={{ withinPortal: false }}
        />
        <PasswordInput
          label={user ? t("users.newPassword") : t("users.password")}
          description={t("users.passwordHint")}
          value={password}
          onChange={(e) => setPassword(e.currentTarget.value)}
          error={errors.fields.password}
          aria-invalid={!!errors.fields.password}
          autoComplete="new-password"
        />
        {user && <Checkbox label={t("users.disabled")} checked={disabled} onChange={(e) => setDisabled(e.currentTarget.checked)} error={errors.fields.disabled} />}
        <FormError message={errors.general} />
        <Group justify="flex-end">
          <Button type="submit" loading={busy}>
            {t("common.save")}
          </Button>
        </Group>
        <Text size="xs" c="dimmed">
          {t("users.neverDeleted")}
        </Text>
      </Stack>
    </form>
  );
}
