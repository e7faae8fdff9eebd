import { useEffect, useState } from "react";
import { Alert, Button, Checkbox, NumberInput, Select, Stack, TagsInput, Text, Textarea, TextInput, Title } from "@mantine/core";
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
