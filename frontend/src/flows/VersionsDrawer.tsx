// The flow's published versions (GET /flows/{id}/versions): when, by whom, which is live.
// Opening one shows it read-only on the canvas; restoring copies it into the draft
// (POST …/versions/{n}/restore), which the admin then saves and publishes as usual.
import { useEffect, useState } from "react";
import { Alert, Badge, Button, Drawer, Group, Stack, Text } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api, ApiError } from "../api/client";
import { formatDateTime } from "../format";
import type { FlowVersionSummary } from "./model";

interface Props {
  flowId: number;
  opened: boolean;
  viewing: number | null;
  onClose: () => void;
  onOpenVersion: (version: number) => void;
  onRestore: (version: number) => void;
}

export function VersionsDrawer({ flowId, opened, viewing, onClose, onOpenVersion, onRestore }: Props) {
  const { t } = useTranslation();
  const [versions, setVersions] = useState<FlowVersionSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (!opened) return;
    setError(null);
    api
      .get<FlowVersionSummary[]>(`/flows/${flowId}/versions`)
      .then(setVersions)
      .catch((err) => setError(err instanceof ApiError ? err.message : String(err)));
  }, [opened, flowId]);

  return (
    <Drawer opened={opened} onClose={onClose} position="right" size={380} title={t("flowVersions.title")} closeButtonProps={{ "aria-label": t("flowVersions.close") }}>
      {error && (
        <Alert color="red" role="alert">
          {error}
        </Alert>
      )}
      {versions && versions.length === 0 && (
        <Text size="sm" c="dimmed" data-testid="versions-empty">
          {t("flowVersions.none")}
        </Text>
      )}
      <Stack gap="sm" component="ol" style={{ listStyle: "none", padding: 0, margin: 0 }} aria-label={t("flowVersions.title")}>
        {(versions ?? []).map((v) => (
          <li key={v.version} data-testid="version-row" data-version={v.version} style={{ borderBottom: "1px solid var(--mantine-color-gray-2)", paddingBottom: 8 }}>
            <Group justify="space-between" gap="xs">
              <Group gap="xs">
                <Text fw={600}>v{v.version}</Text>
                {v.live && (
                  <Badge color="teal" size="sm" data-testid="version-live">
                    {t("flowVersions.live")}
                  </Badge>
                )}
                {viewing === v.version && (
                  <Badge variant="outline" size="sm">
                    {t("flowVersions.onCanvas")}
                  </Badge>
                )}
              </Group>
            </Group>
            <Text size="xs" c="dimmed">
              {t("flowVersions.publishedAt", { when: formatDateTime(v.published_at) })}
              {" · "}
              {v.published_by ? t("flowVersions.by", { name: v.published_by.name }) : t("flowVersions.byToken")}
            </Text>
            <Group gap="xs" mt={6}>
              <Button size="compact-xs" variant="light" onClick={() => onOpenVersion(v.version)} aria-label={t("flowVersions.openLabel", { version: v.version })} data-testid="version-open">
                {t("flowVersions.open")}
              </Button>
              <Button size="compact-xs" variant="default" onClick={() => onRestore(v.version)} aria-label={t("flowVersions.restoreLabel", { version: v.version })} data-testid="version-restore">
                {t("flowVersions.restore")}
              </Button>
            </Group>
          </li>
        ))}
      </Stack>
    </Drawer>
  );
}
