import { useEffect, useState } from "react";
import {
  ActionIcon,
  Button,
  Fieldset,
  Switch,
  Group,
  Modal,
  MultiSelect,
  NumberInput,
  Select,
  Stack,
  Table,
  TagsInput,
  Text,
  Textarea,
  TextInput,
  Title,
} from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import type { CsatSettings, Disposition, Queue, QueueSpec, User } from "../api/types";
import { formatNumber } from "../format";
import { useSession } from "../session";
import { FormError, useServerErrors } from "./forms";

const METHODS = ["longest_idle", "least_busy", "round_robin"];
const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

export function QueuesPage() {
  const { t } = useTranslation();
  const { me } = useSession();
  const [queues, setQueues] = useState<Queue[]>([]);
  const [users, setUsers] = useState<User[]>([]);
  const [editing, setEditing] = useState<Queue | "new" | null>(null);
  const admin = me.role === "admin";

  const load = () => void api.get<Queue[]>("/queues").then(setQueues);
  useEffect(() => {
    load();
    if (admin) void api.get<User[]>("/users").then(setUsers).catch(() => setUsers([]));
  }, [admin]);

  return (
    <div className="page">
      <Group justify="space-between" mb="md">
        <Title order={1} size="h3">
          {t("queues.title")}
        </Title>
        {admin && (
          <Button onClick={() => setEditing("new")} data-testid="new-queue">
            {t("queues.new")}
          </Button>
        )}
      </Group>
      <Table striped highlightOnHover>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{t("queues.name")}</Table.Th>
            <Table.Th>{t("queues.method")}</Table.Th>
            <Table.Th>{t("queues.capacity")}</Table.Th>
            <Table.Th>{t("queues.members")}</Table.Th>
            <Table.Th>{t("queues.hours")}</Table.Th>
            <Table.Th>{t("queues.waiting")}</Table.Th>
            <Table.Th />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {queues.map((q) => (
            <Table.Tr key={q.id} data-testid="queue-row">
              <Table.Td>{q.name}</Table.Td>
              <Table.Td>{t(`queues.methods.${q.routing_method}`)}</Table.Td>
              <Table.Td>{formatNumber(q.max_per_agent)}</Table.Td>
              <Table.Td>{q.members.length}</Table.Td>
              <Table.Td>{q.hours ? `${q.timezone}` : t("queues.alwaysOpen")}</Table.Td>
              <Table.Td>{formatNumber(q.waiting ?? 0)}</Table.Td>
              <Table.Td>
                {admin && (
                  <Button size="xs" variant="subtle" onClick={() => setEditing(q)}>
                    {t("common.edit")}
                  </Button>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      <Modal size="lg" opened={editing !== null} onClose={() => setEditing(null)} title={editing === "new" ? t("queues.new") : t("queues.edit")}>
        {editing !== null && (
          <QueueForm
            queue={editing === "new" ? null : editing}
            queues={queues}
            users={users}
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

function hoursToText(hours: Record<string, string[][]> | null): Record<string, string> {
  const out: Record<string, string> = {};
  for (const day of DAYS) out[day] = (hours?.[day] ?? []).map((r) => r.join("-")).join(", ");
  return out;
}

function textToHours(text: Record<string, string>): Record<string, string[][]> {
  const out: Record<string, string[][]> = {};
  for (const day of DAYS) {
    const value = (text[day] ?? "").trim();
    if (!value) continue;
    out[day] = value.split(",").map((r) => r.trim().split("-").map((x) => x.trim()));
  }
  return out;
}

function QueueForm({ queue, queues, users, onDone }: { queue: Queue | null; queues: Queue[]; users: User[]; onDone: () => void }) {
  const { t } = useTranslation();
  const [spec, setSpec] = useState<QueueSpec>(
    queue ?? {
      name: "",
      routing_method: "longest_idle",
      max_per_agent: 3,
      offer_timeout_seconds: 30,
      timezone: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC",
      hours: null,
      holidays: [],
      closed_message: null,
      closed_target: null,
      max_wait_seconds: null,
      overflow_target: null,
      auto_close_after_seconds: null,
      members: [],
      dispositions: [],
    },
  );
  const [alwaysOpen, setAlwaysOpen] = useState(!queue?.hours);
  const [hours, setHours] = useState(hoursToText(queue?.hours ?? null));
  const [busy, setBusy] = useState(false);
  const errors = useServerErrors([
    "name",
    "routing_method",
    "max_per_agent",
    "offer_timeout_seconds",
    "timezone",
    "hours",
    "holidays",
    "closed_message",
    "closed_target",
    "max_wait_seconds",
    "overflow_target",
    "auto_close_after_seconds",
    "members",
    "dispositions",
    "csat",
  ]);
  const set = <K extends keyof QueueSpec>(key: K, value: QueueSpec[K]) => setSpec((s) => ({ ...s, [key]: value }));
  const otherQueues = queues.filter((q) => q.id !== queue?.id).map((q) => q.name);

  async function submit(event: React.FormEvent) {
    event.preventDefault();
    setBusy(true);
    errors.clear();
    const body = {
      ...spec,
      hours: alwaysOpen ? null : textToHours(hours),
      members: spec.members.map((m) => ({ user_id: m.user_id, priority: m.priority })),
    } as Record<string, unknown>;
    delete body.id;
    delete body.waiting;
    try {
      if (queue) await api.put(`/queues/${queue.id}`, body);
      else await api.post("/queues", body);
      onDone();
    } catch (err) {
      errors.take(err);
    } finally {
      setBusy(false);
    }
  }

  const memberIds = spec.members.map((m) => String(m.user_id));
  const e = errors.fields;

  return (
    <form onSubmit={submit} noValidate data-testid="queue-form">
      <Stack gap="sm">
        <TextInput label={t("queues.name")} value={spec.name} onChange={(ev) => set("name", ev.currentTarget.value)} error={e.name} required />
        <Group grow align="flex-end">
          <Select
            label={t("queues.method")}
            data={METHODS.map((m) => ({ value: m, label: t(`queues.methods.${m}`) }))}
            value={spec.routing_method}
            onChange={(v) => v && set("routing_method", v)}
            allowDeselect={false}
            error={e.routing_method}
            comboboxProps={{ withinPortal: false }}
          />
          <NumberInput label={t("queues.capacity")} description={t("queues.capacityHint")} value={spec.max_per_agent} onChange={(v) => set("max_per_agent", Number(v))} error={e.max_per_agent} />
          <NumberInput label={t("queues.offerTimeout")} value={spec.offer_timeout_seconds} onChange={(v) => set("offer_timeout_seconds", Number(v))} error={e.offer_timeout_seconds} />
        </Group>
        <MultiSelect
          label={t("queues.members")}
          data={users.map((u) => ({ value: String(u.id), label: `${u.name} (${t(`roles.${u.role}`)})` }))}
          value={memberIds}
          onChange={(ids) =>
            set(
              "members",
              ids.map((id) => spec.members.find((m) => String(m.user_id) === id) ?? { user_id: Number(id), priority: 0 }),
            )
          }
          error={e.members}
          searchable
          comboboxProps={{ withinPortal: false }}
          data-testid="queue-members"
        />
        <TextInput label={t("queues.timezone")} value={spec.timezone} onChange={(ev) => set("timezone", ev.currentTarget.value)} error={e.timezone} />
        <Select
          label={t("queues.hours")}
          data={[
            { value: "always", label: t("queues.alwaysOpen") },
            { value: "weekly", label: t("queues.weekly") },
          ]}
          value={alwaysOpen ? "always" : "weekly"}
          onChange={(v) => setAlwaysOpen(v === "always")}
          allowDeselect={false}
          comboboxProps={{ withinPortal: false }}
        />
        {!alwaysOpen && (
          <Stack gap={4}>
            <Text size="xs" c="dimmed">
              {t("queues.hoursHint")}
            </Text>
            <Group grow>
              {DAYS.map((day) => (
                <TextInput
                  key={day}
                  size="xs"
                  label={t(`days.${day}`)}
                  placeholder="09:00-18:00"
                  value={hours[day]}
                  onChange={(ev) => {
                    const value = ev.currentTarget.value;
                    setHours((h) => ({ ...h, [day]: value }));
                  }}
                />
              ))}
            </Group>
            {e.hours && (
              <Text c="red" size="xs" role="alert">
                {e.hours}
              </Text>
            )}
            <TagsInput label={t("queues.holidays")} placeholder="2026-12-31" value={spec.holidays} onChange={(v) => set("holidays", v)} error={e.holidays} />
            <Textarea label={t("queues.closedMessage")} value={spec.closed_message ?? ""} onChange={(ev) => set("closed_message", ev.currentTarget.value || null)} error={e.closed_message} />
            <Select label={t("queues.closedTarget")} data={otherQueues} value={spec.closed_target} onChange={(v) => set("closed_target", v)} clearable error={e.closed_target} comboboxProps={{ withinPortal: false }} />
          </Stack>
        )}
        <Group grow align="flex-end">
          <NumberInput label={t("queues.maxWait")} value={spec.max_wait_seconds ?? ""} onChange={(v) => set("max_wait_seconds", v === "" ? null : Number(v))} error={e.max_wait_seconds} />
          <Select label={t("queues.overflowTarget")} data={otherQueues} value={spec.overflow_target} onChange={(v) => set("overflow_target", v)} clearable error={e.overflow_target} comboboxProps={{ withinPortal: false }} />
          <NumberInput label={t("queues.autoClose")} value={spec.auto_close_after_seconds ?? ""} onChange={(v) => set("auto_close_after_seconds", v === "" ? null : Number(v))} error={e.auto_close_after_seconds} />
        </Group>
        <DispositionsEditor value={spec.dispositions} onChange={(d) => set("dispositions", d)} error={e.dispositions} />
        <CsatEditor value={spec.csat ?? CSAT_OFF} onChange={(c) => set("csat", c)} error={e.csat} />
        <FormError message={errors.general} />
        <Group justify="flex-end">
          <Button type="submit" loading={busy} data-testid="queue-save">
            {t("common.save")}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

// What the customer reads when a queue keeps the default question (madoguchi/domain/csat.py).
const CSAT_DEFAULT_QUESTION = {
  en: "How satisfied are you with the help you received today?",
  ja: "本日の対応にどの程度ご満足いただけましたか？",
};

const CSAT_OFF: CsatSettings = { enabled: false, kind: "list", language: "auto", texts: {} };

/** The customer-satisfaction question sent when an answered conversation closes. */
function CsatEditor({ value, onChange, error }: { value: CsatSettings; onChange: (c: CsatSettings) => void; error?: string }) {
  const { t } = useTranslation();
  const question = (lang: "en" | "ja") => value.texts?.[lang]?.question ?? "";
  const setQuestion = (lang: "en" | "ja", text: string) =>
    onChange({ ...value, texts: { ...value.texts, [lang]: { ...value.texts?.[lang], question: text || null } } });
  return (
    <Fieldset legend={t("queues.csat.title")} data-testid="queue-csat">
      <Stack gap="xs">
        <Switch
          label={t("queues.csat.enabled")}
          description={t("queues.csat.hint")}
          checked={value.enabled}
          onChange={(ev) => onChange({ ...value, enabled: ev.currentTarget.checked })}
          data-testid="queue-csat-enabled"
        />
        {value.enabled && (
          <>
            <Group grow>
              <Select
                label={t("queues.csat.kind")}
                data={(["list", "buttons"] as const).map((k) => ({ value: k, label: t(`queues.csat.kinds.${k}`) }))}
                value={value.kind}
                onChange={(v) => v && onChange({ ...value, kind: v as CsatSettings["kind"] })}
                allowDeselect={false}
                comboboxProps={{ withinPortal: false }}
                data-testid="queue-csat-kind"
              />
              <Select
                label={t("queues.csat.language")}
                data={(["auto", "en", "ja"] as const).map((l) => ({ value: l, label: t(`queues.csat.languages.${l}`) }))}
                value={value.language}
                onChange={(v) => v && onChange({ ...value, language: v as CsatSettings["language"] })}
                allowDeselect={false}
                comboboxProps={{ withinPortal: false }}
              />
            </Group>
            <Textarea
              label={t("queues.csat.questionEn")}
              placeholder={CSAT_DEFAULT_QUESTION.en}
              value={question("en")}
              onChange={(ev) => setQuestion("en", ev.currentTarget.value)}
              autosize
              minRows={1}
            />
            <Textarea
              label={t("queues.csat.questionJa")}
              placeholder={CSAT_DEFAULT_QUESTION.ja}
              value={question("ja")}
              onChange={(ev) => setQuestion("ja", ev.currentTarget.value)}
              autosize
              minRows={1}
            />
          </>
        )}
        {error && (
          <Text c="red" size="xs" role="alert">
            {error}
          </Text>
        )}
      </Stack>
    </Fieldset>
  );
}

function DispositionsEditor({ value, onChange, error }: { value: Disposition[]; onChange: (d: Disposition[]) => void; error?: string }) {
  const { t } = useTranslation();
  const update = (i: number, patch: Partial<Disposition>) => onChange(value.map((d, j) => (j === i ? { ...d, ...patch } : d)));
  return (
    <fieldset style={{ border: "1px solid var(--mantine-color-gray-3)", borderRadius: 6, padding: 8 }}>
      <legend style={{ fontSize: 14 }}>{t("queues.dispositions")}</legend>
      <Stack gap={4}>
        {value.map((d, i) => (
          <Group key={i} gap={4} wrap="nowrap">
            <TextInput size="xs" aria-label={t("queues.dispositionCode")} placeholder="resolved" value={d.code} onChange={(ev) => update(i, { code: ev.currentTarget.value })} />
            <TextInput size="xs" style={{ flex: 1 }} aria-label={t("queues.dispositionLabel")} placeholder={t("queues.dispositionLabel")} value={d.label} onChange={(ev) => update(i, { label: ev.currentTarget.value })} />
            <ActionIcon variant="subtle" color="red" aria-label={t("common.remove")} onClick={() => onChange(value.filter((_, j) => j !== i))}>
              ✕
            </ActionIcon>
          </Group>
        ))}
        <Button size="xs" variant="light" onClick={() => onChange([...value, { code: "", label: "" }])}>
          {t("queues.addDisposition")}
        </Button>
        {error && (
          <Text c="red" size="xs" role="alert">
            {error}
          </Text>
        )}
      </Stack>
    </fieldset>
  );
}
