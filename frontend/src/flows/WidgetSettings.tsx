import { useEffect, useState } from "react";
import { ActionIcon, Alert, Button, Checkbox, Group, NumberInput, PasswordInput, Select, Stack, TagsInput, Text, Textarea, TextInput, Title } from "@mantine/core";
import { useTranslation } from "react-i18next";
import type { Problem, Widget } from "./model";

interface Props {
  widget: Widget;
  problems: Problem[];
  queues: string[];
  onChange: (w: Widget) => void;
  onDelete: () => void;
}

export function WidgetSettings({ widget: w, problems, queues, onChange, onDelete }: Props) {
  const { t } = useTranslation();
  const errorOf = (field: string) =>
    problems
      .filter((p) => p.field === field || p.field.startsWith(`${field}[`) || p.field.startsWith(`${field}.`))
      .map((p) => (p.field === field ? p.message : `${p.field}: ${p.message}`))
      .join("; ") || undefined;
  const set = (key: string, value: unknown) => {
    const next = { ...w };
    if (value === "" || value === null || value === undefined) delete next[key];
    else next[key] = value;
    onChange(next);
  };
  const str = (key: string) => (typeof w[key] === "string" ? (w[key] as string) : "");
  const text = (key: string, label: string, multiline = false) =>
    multiline ? (
      <Textarea key={key} label={label} value={str(key)} onChange={(e) => set(key, e.currentTarget.value)} error={errorOf(key)} autosize minRows={2} />
    ) : (
      <TextInput key={key} label={label} value={str(key)} onChange={(e) => set(key, e.currentTarget.value)} error={errorOf(key)} />
    );
  const claimed = new Set<string>(["label"]);
  const fields: React.ReactNode[] = [];
  const claim = (...keys: string[]) => keys.forEach((k) => claimed.add(k));

  switch (w.type) {
    case "start":
      claim("numbers", "callable");
      fields.push(
        <TagsInput key="numbers" label={t("flowFields.numbers")} description={t("flowFields.numbersHint")} value={(w.numbers as string[]) ?? []} onChange={(v) => set("numbers", v)} error={errorOf("numbers")} data-testid="start-numbers" />,
        <Checkbox key="callable" label={t("flowFields.callable")} checked={!!w.callable} onChange={(e) => set("callable", e.currentTarget.checked || undefined)} />,
      );
      break;
    case "send_media":
      claim("kind", "text", "media_url");
      fields.push(
        <Select key="kind" label={t("flowFields.kind")} data={["text", "image", "video", "audio", "document", "sticker", "location"]} value={str("kind") || "text"} onChange={(v) => set("kind", v)} allowDeselect={false} comboboxProps={{ withinPortal: false }} />,
        text("text", t("flowFields.text"), true),
      );
      if (str("kind") && str("kind") !== "text" && str("kind") !== "location") fields.push(text("media_url", t("flowFields.mediaUrl")));
      break;
    case "collect_input":
      claim("prompt", "variable", "input", "choices", "timeout_seconds");
      fields.push(
        text("prompt", t("flowFields.prompt"), true),
        text("variable", t("flowFields.variable")),
        <Select key="input" label={t("flowFields.input")} data={["text", "buttons", "list"]} value={str("input") || "text"} onChange={(v) => set("input", v)} allowDeselect={false} comboboxProps={{ withinPortal: false }} />,
        <TagsInput
          key="choices"
          label={t("flowFields.choices")}
          description={t("flowFields.choicesHint")}
          value={((w.choices as Array<{ id: string; title: string }>) ?? []).map((c) => c.title)}
          onChange={(titles) =>
            set(
              "choices",
              titles.length ? titles.map((title) => ({ id: title.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_|_$/g, "") || title, title })) : undefined,
            )
          }
          error={errorOf("choices")}
        />,
        <NumberInput key="timeout" label={t("flowFields.timeout")} value={(w.timeout_seconds as number) ?? ""} onChange={(v) => set("timeout_seconds", v === "" ? undefined : Number(v))} error={errorOf("timeout_seconds")} />,
      );
      break;
    case "route_to":
      claim("target", "queue", "agent", "flow", "priority");
      fields.push(
        <Select key="target" label={t("flowFields.target")} data={["queue", "agent", "flow"]} value={str("target") || "queue"} onChange={(v) => set("target", v)} allowDeselect={false} comboboxProps={{ withinPortal: false }} />,
      );
      if (str("target") !== "flow")
        fields.push(
          <Select key="queue" label={t("flowFields.queue")} data={queues} value={str("queue") || null} onChange={(v) => set("queue", v)} error={errorOf("queue")} searchable comboboxProps={{ withinPortal: false }} data-testid="route-queue" />,
        );
      if (str("target") === "agent") fields.push(text("agent", t("flowFields.agent")));
      if (str("target") === "flow") fields.push(text("flow", t("flowFields.flow")));
      break;
    case "business_hours":
      claim("queue");
      fields.push(<Select key="queue" label={t("flowFields.queue")} data={queues} value={str("queue") || null} onChange={(v) => set("queue", v)} error={errorOf("queue")} comboboxProps={{ withinPortal: false }} />);
      break;
    case "send_template":
      claim("name", "language", "parameters");
      fields.push(
        text("name", t("flowFields.templateName")),
        text("language", t("flowFields.language")),
        <TagsInput key="parameters" label={t("flowFields.parameters")} value={(w.parameters as string[]) ?? []} onChange={(v) => set("parameters", v.length ? v : undefined)} error={errorOf("parameters")} />,
      );
      break;
    case "http_request":
      claim("method", "url", "headers", "secret_headers");
      fields.push(
        <Select key="method" label={t("flowFields.method")} data={["GET", "POST", "PUT", "PATCH", "DELETE"]} value={str("method") || "GET"} onChange={(v) => set("method", v)} allowDeselect={false} comboboxProps={{ withinPortal: false }} />,
        text("url", t("flowFields.url")),
        <HeadersEditor key={`headers-${w.id}`} widget={w} error={errorOf("headers") ?? errorOf("secret_headers")} onChange={(headers, secrets) => onChange(withHeaders(w, headers, secrets))} />,
      );
      break;
    case "end":
      claim("message");
      fields.push(text("message", t("flowFields.goodbye"), true));
      break;
  }

  const rest = Object.fromEntries(Object.entries(w).filter(([k]) => !["id", "type", "position", ...claimed].includes(k)));
  const unclaimed = problems.filter((p) => ![...claimed].some((k) => p.field === k || p.field.startsWith(`${k}[`) || p.field.startsWith(`${k}.`)));

  return (
    <Stack gap="xs" data-testid="widget-settings">
      <Title order={3} size="h6">
        {t(`widgets.${w.type}`)} · {w.id}
      </Title>
      <Text size="xs" c="dimmed">
        {t(`widgetHelp.${w.type}`)}
      </Text>
      {/* A widget without a label is shown by its id: the field shows the same name. */}
      <TextInput label={t("flows.widgetName")} description={t("flowEditor.widgetId", { id: w.id })} value={str("label") || w.id} onChange={(e) => set("label", e.currentTarget.value)} error={errorOf("label")} data-testid="widget-name" />
      {fields}
      <JsonSettings
        value={rest}
        onChange={(settings) => {
          const next: Widget = { id: w.id, type: w.type, ...(w.position ? { position: w.position } : {}) };
          for (const k of claimed) if (w[k] !== undefined) next[k] = w[k];
          onChange({ ...next, ...settings });
        }}
      />
      {unclaimed.length > 0 && (
        <Alert color="red" p="xs" role="alert">
          {unclaimed.map((p, i) => (
            <div key={i}>
              {p.field ? `${p.field}: ` : ""}
              {p.message}
            </div>
          ))}
        </Alert>
      )}
      <Button color="red" variant="subtle" size="xs" onClick={onDelete}>
        {t("flows.deleteWidget")}
      </Button>
    </Stack>
  );
}

function JsonSettings({ value, onChange }: { value: Record<string, unknown>; onChange: (v: Record<string, unknown>) => void }) {
  const { t } = useTranslation();
  const serialized = JSON.stringify(value, null, 2);
  const [draft, setDraft] = useState(serialized);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setDraft(serialized);
    setError(null);
  }, [serialized]);
  return (
    <Textarea
      label={t("flows.json")}
      description={t("flows.jsonHint")}
      value={draft}
      autosize
      minRows={2}
      maxRows={14}
      styles={{ input: { fontFamily: "monospace", fontSize: 12 } }}
      error={error}
      onChange={(e) => setDraft(e.currentTarget.value)}
      onBlur={() => {
        try {
          const parsed = JSON.parse(draft || "{}");
          if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error();
          setError(null);
          onChange(parsed as Record<string, unknown>);
        } catch {
          setError(t("flows.jsonInvalid"));
        }
      }}
    />
  );
}

/** A secret header's value as the server shows it: {"set": true|false}; a string is a
 * new value typed in this editor (sent once, stored encrypted, never shown again). */
type SecretValue = string | { set?: boolean } | null;

interface HeaderRow {
  name: string;
  secret: boolean;
  value: string; // plain: the value; secret: a new value typed here ("" = keep)
  stored: boolean; // secret: the server holds a value
}

function rowsOf(w: Widget): HeaderRow[] {
  const rows: HeaderRow[] = [];
  for (const [name, value] of Object.entries((w.headers as Record<string, string>) ?? {})) rows.push({ name, secret: false, value: String(value), stored: false });
  for (const [name, value] of Object.entries((w.secret_headers as Record<string, SecretValue>) ?? {})) {
    if (typeof value === "string") rows.push({ name, secret: true, value, stored: false });
    else rows.push({ name, secret: true, value: "", stored: !!value?.set });
  }
  return rows;
}

function withHeaders(w: Widget, headers: Record<string, string>, secrets: Record<string, SecretValue>): Widget {
  const next = { ...w };
  if (Object.keys(headers).length) next.headers = headers;
  else delete next.headers;
  if (Object.keys(secrets).length) next.secret_headers = secrets;
  else delete next.secret_headers;
  return next;
}

/** The HTTP Request's headers; a header marked secret is write-only (an API key): the
 * server stores it encrypted, shows only whether it is set, and never exports it. */
function HeadersEditor({ widget, error, onChange }: { widget: Widget; error?: string; onChange: (headers: Record<string, string>, secrets: Record<string, SecretValue>) => void }) {
  const { t } = useTranslation();
  const [rows, setRows] = useState<HeaderRow[]>(() => rowsOf(widget));
  const update = (next: HeaderRow[]) => {
    setRows(next);
    const headers: Record<string, string> = {};
    const secrets: Record<string, SecretValue> = {};
    for (const r of next) {
      if (!r.name.trim()) continue;
      if (!r.secret) headers[r.name.trim()] = r.value;
      else secrets[r.name.trim()] = r.value ? r.value : r.stored ? { set: true } : "";
    }
    onChange(headers, secrets);
  };
  const change = (i: number, patch: Partial<HeaderRow>) => update(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  return (
    <Stack gap={4} data-testid="http-headers">
      <Text size="sm" fw={500}>
        {t("flowFields.headers")}
      </Text>
      <Text size="xs" c="dimmed">
        {t("flowFields.headersHint")}
      </Text>
      {rows.map((r, i) => (
        <Group key={i} gap={4} wrap="nowrap" align="flex-end" data-testid="http-header">
          <TextInput size="xs" aria-label={t("flowFields.headerName")} placeholder={t("flowFields.headerName")} value={r.name} onChange={(e) => change(i, { name: e.currentTarget.value })} style={{ flex: 1 }} />
          {r.secret ? (
            <PasswordInput
              size="xs"
              aria-label={t("flowFields.headerValue")}
              placeholder={r.stored ? t("flowFields.secretSet") : t("flowFields.secretNotSet")}
              value={r.value}
              onChange={(e) => change(i, { value: e.currentTarget.value })}
              style={{ flex: 1 }}
              data-testid="secret-header-value"
              autoComplete="new-password"
            />
          ) : (
            <TextInput size="xs" aria-label={t("flowFields.headerValue")} placeholder={t("flowFields.headerValue")} value={r.value} onChange={(e) => change(i, { value: e.currentTarget.value })} style={{ flex: 1 }} />
          )}
          <Checkbox
            size="xs"
            label={t("flowFields.secret")}
            checked={r.secret}
            data-testid="secret-header-toggle"
            // Made secret, a typed value goes with it; made plain, a stored secret is not
            // revealed: its value must be typed again.
            onChange={(e) => change(i, e.currentTarget.checked ? { secret: true, stored: false } : { secret: false, value: r.stored ? "" : r.value, stored: false })}
          />
          <ActionIcon size="sm" variant="subtle" color="red" aria-label={t("flowFields.removeHeader")} onClick={() => update(rows.filter((_, j) => j !== i))}>
            ×
          </ActionIcon>
        </Group>
      ))}
      {rows.some((r) => r.secret) && (
        <Text size="xs" c="dimmed" data-testid="secret-header-status">
          {rows
            .filter((r) => r.secret && r.name.trim())
            .map((r) => `${r.name}: ${r.value ? t("flowFields.secretNew") : r.stored ? t("flowFields.secretSet") : t("flowFields.secretNotSet")}`)
            .join(" · ")}
        </Text>
      )}
      {error && (
        <Text size="xs" c="red">
          {error}
        </Text>
      )}
      <Button size="xs" variant="light" onClick={() => update([...rows, { name: "", secret: false, value: "", stored: false }])} data-testid="add-header">
        {t("flowFields.addHeader")}
      </Button>
    </Stack>
  );
}
