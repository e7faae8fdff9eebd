import { useEffect, useMemo, useState } from "react";
import { Button, Group, Select, Stack, Text, TextInput } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import type { Template } from "../api/types";
import { CostEstimate } from "./CostEstimate";

/** The list of templates, whatever envelope the server wraps it in. */
export function templateRows(data: unknown): Template[] {
  if (Array.isArray(data)) return data as Template[];
  const obj = (data ?? {}) as Record<string, unknown>;
  for (const key of ["templates", "items", "data"]) {
    if (Array.isArray(obj[key])) return obj[key] as Template[];
  }
  return [];
}

function bodyText(template: Template | undefined): string {
  const body = template?.components?.find((c) => String(c.type).toUpperCase() === "BODY");
  return typeof body?.text === "string" ? body.text : "";
}

function placeholders(text: string): string[] {
  const seen: string[] = [];
  for (const match of text.matchAll(/\{\{\s*([\w.]+)\s*\}\}/g)) {
    if (!seen.includes(match[1])) seen.push(match[1]);
  }
  return seen;
}

interface Props {
  onSend: (message: Record<string, unknown>) => Promise<boolean>;
  busy: boolean;
  /** The conversation the template goes to: its estimated cost is shown before sending. */
  conversationId?: number;
}

export function TemplateSender({ onSend, busy, conversationId }: Props) {
  const { t } = useTranslation();
  const [templates, setTemplates] = useState<Template[] | null>(null);
  const [choice, setChoice] = useState<string | null>(null);
  const [name, setName] = useState("");
  const [language, setLanguage] = useState("en");
  const [params, setParams] = useState<Record<string, string>>({});

  useEffect(() => {
    api
      .get<unknown>("/templates")
      .then((data) => {
        const rows = templateRows(data).filter((tpl) => !tpl.status || tpl.status.toUpperCase() === "APPROVED");
        setTemplates(rows);
        if (rows.length) setChoice(`${rows[0].name}|${rows[0].language}`);
      })
      .catch(() => setTemplates([]));
  }, []);

  const selected = useMemo(
    () => templates?.find((tpl) => `${tpl.name}|${tpl.language}` === choice),
    [templates, choice],
  );
  const text = bodyText(selected);
  // The server lists each parameter ("body.1", "body.first_name"); older servers do not.
  const names = selected?.parameters
    ? selected.parameters.filter((p) => p.component.toLowerCase() === "body").map((p) => p.key.replace(/^body\./, ""))
    : placeholders(text);

  async function submit(event: React.FormEvent) {
    event.preventDefault();
    const tplName = selected?.name ?? name.trim();
    const tplLanguage = selected?.language ?? language.trim();
    if (!tplName || !tplLanguage) return;
    const template: Record<string, unknown> = { name: tplName, language: { code: tplLanguage } };
    if (names.length) {
      const named = selected?.parameter_format
        ? selected.parameter_format.toUpperCase() === "NAMED"
        : names.some((n) => !/^\d+$/.test(n));
      template.components = [
        {
          type: "body",
          parameters: names.map((n) =>
            named ? { type: "text", parameter_name: n, text: params[n] ?? "" } : { type: "text", text: params[n] ?? "" },
          ),
        },
      ];
    }
    if (await onSend({ type: "template", template })) setParams({});
  }

  return (
    <form onSubmit={submit} aria-label={t("template.formLabel")} data-testid="template-form">
      <Stack gap={6}>
        {templates && templates.length > 0 ? (
          <Select
            label={t("template.choose")}
            data={templates.map((tpl) => ({
              value: `${tpl.name}|${tpl.language}`,
              label: `${tpl.name} (${tpl.language})${tpl.category ? ` · ${tpl.category}` : ""}`,
            }))}
            value={choice}
            onChange={setChoice}
            allowDeselect={false}
            data-testid="template-select"
          />
        ) : (
          <Group grow>
            <TextInput
              label={t("template.name")}
              value={name}
              onChange={(e) => setName(e.currentTarget.value)}
              required
              data-testid="template-name"
            />
            <TextInput
              label={t("template.language")}
              value={language}
              onChange={(e) => setLanguage(e.currentTarget.value)}
              required
              maw={120}
            />
          </Group>
        )}
        {text && (
          <Text size="sm" c="dimmed" style={{ whiteSpace: "pre-wrap" }} data-testid="template-preview">
            {text}
          </Text>
        )}
        {names.map((n) => (
          <TextInput
            key={n}
            size="xs"
            label={t("template.parameter", { name: n })}
            value={params[n] ?? ""}
            onChange={(e) => {
              const value = e.currentTarget.value;
              setParams((p) => ({ ...p, [n]: value }));
            }}
            required
          />
        ))}
        <Group justify="space-between">
          {conversationId !== undefined ? (
            <CostEstimate
              conversationId={conversationId}
              templateName={selected?.name ?? null}
              language={selected?.language ?? null}
            />
          ) : (
            <span />
          )}
          <Button type="submit" size="xs" loading={busy} data-testid="template-send">
            {t("template.send")}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
