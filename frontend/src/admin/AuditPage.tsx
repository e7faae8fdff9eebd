import { useEffect, useState } from "react";
import { Button, Code, Group, Select, Table, Text, TextInput, Title } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { useNewest } from "../api/newest";
import type { User } from "../api/types";
import { formatDateTime } from "../format";

// The audit log (GET /api/v1/audit-log): who changed what, when, from where. Read-only:
// the product has no way to edit or delete an entry.
interface AuditEntry {
  id: number;
  at: string;
  actor_user_id: number | null;
  actor_label: string;
  actor_role: string;
  client_address: string | null;
  action: string;
  target_type: string;
  target_id: string | null;
  target_label: string | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

const KINDS = [
  "user",
  "token",
  "phone_number",
  "queue",
  "flow",
  "template",
  "templates",
  "workspace",
  "canned_response",
  "conversation",
  "contact",
  "campaign",
  "knowledge_article",
  "assist_settings",
  "rate_card",
  "budget",
  "signup",
];
const PAGE = 100;

function shown(value: unknown): string {
  if (value === null || value === undefined) return "—";
  return typeof value === "string" ? value : JSON.stringify(value);
}

function Changes({ entry }: { entry: AuditEntry }) {
  const keys = Array.from(new Set([...Object.keys(entry.before ?? {}), ...Object.keys(entry.after ?? {})]));
  if (!keys.length) return <Text c="dimmed">—</Text>;
  return (
    <div>
      {keys.map((key) => (
        <div key={key}>
          <Code>{key}</Code> {entry.before ? shown(entry.before[key]) : ""}
          {entry.before && entry.after ? " → " : ""}
          {entry.after ? shown(entry.after[key]) : ""}
        </div>
      ))}
    </div>
  );
}

export function AuditPage() {
  const { t } = useTranslation();
  const [entries, setEntries] = useState<AuditEntry[]>([]);
  const [users, setUsers] = useState<User[]>([]);
  const [person, setPerson] = useState<string | null>(null);
  const [kind, setKind] = useState<string | null>(null);
  const [since, setSince] = useState("");
  const [until, setUntil] = useState("");
  const [more, setMore] = useState(false);

  function query(beforeId?: number): string {
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (person) params.set("actor_user_id", person);
    if (kind) params.set("target_type", kind);
    if (since) params.set("since", new Date(since).toISOString());
    if (until) params.set("until", new Date(until).toISOString());
    if (beforeId) params.set("before_id", String(beforeId));
    return `/audit-log?${params.toString()}`;
  }

  // The filters change faster than the log answers (a read for the filters before,
  // landing last, listed its rows).
  const reads = useNewest();
  const load = () => {
    const newest = reads.begin();
    void api.get<AuditEntry[]>(query()).then((rows) => {
      if (!newest()) return;
      setEntries(rows);
      setMore(rows.length === PAGE);
    });
  };

  async function older() {
    const unchanged = reads.since();
    const last = entries[entries.length - 1];
    const rows = await api.get<AuditEntry[]>(query(last?.id));
    if (!unchanged()) return; // the filters changed meanwhile
    setEntries((shown) => [...shown, ...rows.filter((r) => !shown.some((e) => e.id === r.id))]);
    setMore(rows.length === PAGE);
  }

  useEffect(() => {
    void api.get<User[]>("/users").then(setUsers).catch(() => setUsers([]));
  }, []);
  useEffect(load, [person, kind, since, until]);

  return (
    <div className="page">
      <Title order={1} size="h3" mb="md">
        {t("audit.title")}
      </Title>
      <Text c="dimmed" mb="md">
        {t("audit.hint")}
      </Text>
      <Group mb="md" align="end">
        <Select
          label={t("audit.person")}
          placeholder={t("audit.anyone")}
          clearable
          value={person}
          onChange={setPerson}
          data={users.map((u) => ({ value: String(u.id), label: `${u.name} (${u.email})` }))}
        />
        <Select
          label={t("audit.object")}
          placeholder={t("audit.anything")}
          clearable
          value={kind}
          onChange={setKind}
          data={KINDS.map((k) => ({ value: k, label: t(`audit.kinds.${k}`) }))}
        />
        <TextInput type="datetime-local" label={t("audit.since")} value={since} onChange={(e) => setSince(e.currentTarget.value)} />
        <TextInput type="datetime-local" label={t("audit.until")} value={until} onChange={(e) => setUntil(e.currentTarget.value)} />
      </Group>
      <Table striped data-testid="audit-log">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{t("audit.when")}</Table.Th>
            <Table.Th>{t("audit.who")}</Table.Th>
            <Table.Th>{t("audit.what")}</Table.Th>
            <Table.Th>{t("audit.object")}</Table.Th>
            <Table.Th>{t("audit.changes")}</Table.Th>
            <Table.Th>{t("audit.from")}</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {entries.map((e) => (
            <Table.Tr key={e.id}>
              <Table.Td>{formatDateTime(e.at)}</Table.Td>
              <Table.Td>
                {e.actor_label} <Text span c="dimmed" size="sm">({t(`roles.${e.actor_role}`, { defaultValue: e.actor_role })})</Text>
              </Table.Td>
              <Table.Td>{t(`audit.actions.${e.action}`, { defaultValue: e.action })}</Table.Td>
              <Table.Td>
                {t(`audit.kinds.${e.target_type}`, { defaultValue: e.target_type })} {e.target_label ?? (e.target_id ? `#${e.target_id}` : "")}
              </Table.Td>
              <Table.Td>
                <Changes entry={e} />
              </Table.Td>
              <Table.Td>{e.client_address ?? "—"}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {!entries.length && (
        <Text c="dimmed" mt="md">
          {t("audit.empty")}
        </Text>
      )}
      {more && (
        <Button variant="light" mt="md" onClick={() => void older()}>
          {t("audit.older")}
        </Button>
      )}
    </div>
  );
}
