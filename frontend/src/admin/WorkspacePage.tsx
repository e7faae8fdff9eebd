import { useEffect, useMemo, useState } from "react";
import { Alert, Button, Group, Select, Stack, Text, TextInput, Title } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import type { Workspace } from "../api/types";
import { formatDateTime, knownTimeZones } from "../format";
import { useSession } from "../session";
import { FormError, useServerErrors } from "./forms";

/** The workspace's name and time zone (every date in the app is written in that zone). */
export function WorkspacePage() {
  const { t } = useTranslation();
  const { refresh } = useSession();
  const [workspace, setWorkspace] = useState<Workspace | null>(null);
  const [name, setName] = useState("");
  const [timezone, setTimezone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);
  const errors = useServerErrors(["name", "timezone"]);

  useEffect(() => {
    void api.get<Workspace>("/workspace").then((w) => {
      setWorkspace(w);
      setName(w.name);
      setTimezone(w.timezone);
    });
  }, []);

  const zones = useMemo(() => {
    const all = knownTimeZones();
    return timezone && !all.includes(timezone) ? [timezone, ...all] : all;
  }, [timezone]);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setSaved(false);
    errors.clear();
    try {
      const w = await api.patch<Workspace>("/workspace", { name, timezone });
      setWorkspace(w);
      setSaved(true);
      await refresh(); // the whole app now writes dates in the new zone
    } catch (err) {
      errors.take(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="page" style={{ maxWidth: 640 }}>
      <Title order={1} size="h3" mb="md">
        {t("workspace.title")}
      </Title>
      {workspace && (
        <form onSubmit={submit} noValidate data-testid="workspace-form">
          <Stack>
            <TextInput label={t("workspace.slug")} value={workspace.slug} readOnly description={t("workspace.slugHint")} />
            <TextInput
              label={t("workspace.name")}
              value={name}
              onChange={(e) => setName(e.currentTarget.value)}
              error={errors.fields.name}
              required
              data-testid="workspace-name"
            />
            <Select
              label={t("workspace.timezone")}
              description={t("workspace.timezoneHint")}
              data={zones}
              value={timezone}
              onChange={(v) => setTimezone(v)}
              searchable
              allowDeselect={false}
              nothingFoundMessage={t("workspace.noZone")}
              error={errors.fields.timezone}
              comboboxProps={{ withinPortal: false }}
              data-testid="workspace-timezone"
            />
            <Text size="sm" c="dimmed" data-testid="workspace-now">
              {t("workspace.nowThere", { time: formatDateTime(new Date().toISOString()) })}
            </Text>
            <FormError message={errors.general} />
            {saved && (
              <Alert color="teal" data-testid="workspace-saved">
                {t("workspace.saved")}
              </Alert>
            )}
            <Group justify="flex-end">
              <Button type="submit" loading={busy} data-testid="workspace-save">
                {t("common.save")}
              </Button>
            </Group>
          </Stack>
        </form>
      )}
    </div>
  );
}
