import { useEffect, useState } from "react";
import { Alert, Badge, Button, Group, SimpleGrid, Stack, Table, Text, Title } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api, ApiError } from "../api/client";
import type { NumberHealthReport, PhoneNumber } from "../api/types";
import { formatDateTime } from "../format";

function Fact({ label, value, testId }: { label: string; value: React.ReactNode; testId?: string }) {
  return (
    <div>
      <Text size="xs" c="dimmed">
        {label}
      </Text>
      <Text size="sm" fw={500} data-testid={testId}>
        {value ?? "—"}
      </Text>
    </div>
  );
}

/** A number's health: warnings first, then what Meta says and what our traffic says. */
export function NumberHealth({ number, onChanged }: { number: PhoneNumber; onChanged: () => void }) {
  const { t } = useTranslation();
  const [report, setReport] = useState<NumberHealthReport | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const when = (iso: string | null | undefined) => (iso ? formatDateTime(iso) : t("health.never"));

  async function run(action: () => Promise<NumberHealthReport>) {
    setBusy(true);
    setError(null);
    try {
      setReport(await action());
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }

  useEffect(() => {
    void run(() => api.get<NumberHealthReport>(`/phone-numbers/${number.id}/health`));
  }, [number.id]);

  async function disconnect() {
    if (!window.confirm(t("health.confirmDisconnect", { number: number.display_phone_number }))) return;
    setBusy(true);
    setError(null);
    try {
      const done = await api.post<{ message: string }>(`/phone-numbers/${number.id}/disconnect`);
      setNote(done.message);
      onChanged();
      setReport(await api.get<NumberHealthReport>(`/phone-numbers/${number.id}/health`));
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }

  const meta = report?.meta ?? {};
  const token = report?.token ?? {};
  const traffic = report?.traffic;
  return (
    <Stack data-testid="health-panel">
      {error && (
        <Alert color="red" role="alert">
          {error}
        </Alert>
      )}
      {note && (
        <Alert color="gray" data-testid="health-note">
          {note}
        </Alert>
      )}
      {report && (
        <>
          <Text size="xs" c="dimmed" data-testid="health-checked">
            {t("health.checkedAt", { when: when(report.checked_at) })}
          </Text>
          {report.warnings.length === 0 ? (
            <Alert color="teal" data-testid="health-ok">
              {t("health.allGood")}
            </Alert>
          ) : (
            report.warnings.map((w) => (
              <Alert key={w.code} color={w.level === "danger" ? "red" : "yellow"} data-testid="health-warning" data-code={w.code}>
                {w.message}
              </Alert>
            ))
          )}
          <Title order={3} size="h5">
            {t("health.meta")}
          </Title>
          <SimpleGrid cols={3}>
            <Fact label={t("health.status")} value={meta.status} testId="health-status" />
            <Fact label={t("numbers.quality_rating")} value={meta.quality_rating} testId="health-quality" />
            <Fact label={t("health.limit")} value={meta.messaging_limit_tier} testId="health-limit" />
            <Fact label={t("health.throughput")} value={meta.throughput_level} />
            <Fact label={t("health.nameStatus")} value={meta.name_status} />
            <Fact label={t("health.calling")} value={report.calling.status ?? t("health.unknown")} />
          </SimpleGrid>
          <Title order={3} size="h5">
            {t("health.tokenAndWebhooks")}
          </Title>
          <SimpleGrid cols={3}>
            <Fact
              label={t("health.token")}
              testId="health-token"
              value={token.checked ? (token.valid ? t("health.valid") : t("health.invalid")) : t("health.unknown")}
            />
            <Fact label={t("health.expires")} value={token.valid ? (token.expires_at ? when(token.expires_at) : t("health.neverExpires")) : null} />
            <Fact label={t("health.scopes")} value={(token.scopes ?? []).join(", ") || null} />
            <Fact
              label={t("health.subscribed")}
              testId="health-subscribed"
              value={report.webhooks.subscribed == null ? t("health.unknown") : report.webhooks.subscribed ? t("health.yes") : t("health.no")}
            />
            <Fact label={t("health.lastWebhook")} value={when(traffic?.last_webhook_at)} />
            <Fact label={t("health.lastSend")} value={when(traffic?.last_send_at)} />
          </SimpleGrid>
          <Title order={3} size="h5">
            {t("health.errors")}
          </Title>
          {traffic && traffic.errors.length > 0 ? (
            <Table data-testid="health-errors">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>{t("health.code")}</Table.Th>
                  <Table.Th>{t("health.count")}</Table.Th>
                  <Table.Th>{t("health.message")}</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {traffic.errors.map((e) => (
                  <Table.Tr key={String(e.code)}>
                    <Table.Td>{e.code ?? "—"}</Table.Td>
                    <Table.Td>{e.count}</Table.Td>
                    <Table.Td>{e.message}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          ) : (
            <Text size="sm" c="dimmed">
              {t("health.noErrors")}
            </Text>
          )}
        </>
      )}
      <Group justify="space-between">
        <Button
          color="red"
          variant="light"
          onClick={() => void disconnect()}
          disabled={busy || report?.status === "disconnected"}
          data-testid="number-disconnect"
        >
          {t("health.disconnect")}
        </Button>
        <Button onClick={() => void run(() => api.post<NumberHealthReport>(`/phone-numbers/${number.id}/health/check`))} loading={busy} data-testid="health-check">
          {t("health.checkNow")}
        </Button>
      </Group>
      {busy && !report && (
        <Badge variant="light" color="gray">
          …
        </Badge>
      )}
    </Stack>
  );
}
