import { useEffect, useState } from "react";
import { Alert, Badge, Button, Group, Modal, NumberInput, PasswordInput, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api, ApiError } from "../api/client";
import type { PhoneNumber, Queue } from "../api/types";
import { formatNumber } from "../format";
import { DefaultQueueSelect, FormError, useServerErrors } from "./forms";
import { ConnectWithMeta } from "./ConnectWithMeta";
import type { MetaAppConfig } from "./metaSignup";
import { NumberHealth } from "./NumberHealth";
import { CallingSettings } from "./CallingSettings";

const FIELDS = [
  "waba_id",
  "account_name",
  "phone_number_id",
  "display_phone_number",
  "access_token",
  "rate_limit_per_second",
  "default_queue_id",
];

/** Meta's status of a number as a coloured badge (connected is the good one). */
function statusColor(status: string): string {
  const s = status.toLowerCase();
  if (s === "connected") return "teal";
  if (s === "pending" || s === "unverified") return "yellow";
  return "red";
}

function qualityColor(rating: string | null): string {
  return rating === "GREEN" ? "teal" : rating === "YELLOW" ? "yellow" : rating === "RED" ? "red" : "gray";
}

/** The workspace's WhatsApp numbers: connect one (Meta checks its token first), change or remove it. */
export function NumbersPage() {
  const { t } = useTranslation();
  const [rows, setRows] = useState<PhoneNumber[] | null>(null);
  const [queues, setQueues] = useState<Queue[]>([]);
  const [editing, setEditing] = useState<PhoneNumber | "new" | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [metaApp, setMetaApp] = useState<MetaAppConfig | null>(null);
  const [signingUp, setSigningUp] = useState(false);
  const [healthOf, setHealthOf] = useState<PhoneNumber | null>(null);
  const [callingOf, setCallingOf] = useState<PhoneNumber | null>(null);

  const load = () =>
    void api
      .get<PhoneNumber[]>("/phone-numbers")
      .then(setRows)
      .catch((err) => setError(err instanceof ApiError ? err.message : String(err)));
  useEffect(() => {
    load();
    void api.get<Queue[]>("/queues").then(setQueues).catch(() => setQueues([]));
    void api.get<MetaAppConfig>("/onboarding/meta-app").then(setMetaApp).catch(() => setMetaApp(null));
  }, []);

  async function remove(row: PhoneNumber) {
    if (!window.confirm(t("numbers.confirmRemove", { number: row.display_phone_number }))) return;
    setError(null);
    try {
      await api.del(`/phone-numbers/${row.id}`);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
    load();
  }

  const queueName = (id: number | null) => queues.find((q) => q.id === id)?.name ?? "";

  return (
    <div className="page">
      <Group justify="space-between" mb="md">
        <Title order={1} size="h3">
          {t("nav.numbers")}
        </Title>
        <Group gap="xs">
          <Button
            onClick={() => setSigningUp(true)}
            disabled={!metaApp?.ready}
            data-testid="connect-with-meta"
          >
            {t("onboarding.connectWithMeta")}
          </Button>
          <Button variant="default" onClick={() => setEditing("new")} data-testid="connect-number">
            {t("numbers.connect")}
          </Button>
        </Group>
      </Group>
      {metaApp && !metaApp.ready && (
        <Alert color="yellow" mb="md" data-testid="meta-app-missing">
          {t("onboarding.missing", { settings: metaApp.missing.join(", ") })}
        </Alert>
      )}
      <Alert color="gray" mb="md">
        {t("numbers.hint")}
      </Alert>
      {error && (
        <Alert color="red" role="alert" mb="md" data-testid="numbers-error">
          {error}
        </Alert>
      )}
      {rows && rows.length === 0 && <Text c="dimmed">{t("numbers.empty")}</Text>}
      {rows && rows.length > 0 && (
        <Table striped highlightOnHover>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>{t("numbers.display_phone_number")}</Table.Th>
              <Table.Th>{t("numbers.verified_name")}</Table.Th>
              <Table.Th>{t("numbers.status")}</Table.Th>
              <Table.Th>{t("numbers.quality_rating")}</Table.Th>
              <Table.Th>{t("numbers.account_name")}</Table.Th>
              <Table.Th>{t("numbers.rate_limit_per_second")}</Table.Th>
              <Table.Th>{t("numbers.default_queue_id")}</Table.Th>
              <Table.Th />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((row) => (
              <Table.Tr key={row.id} data-testid="number-row" data-phone-number-id={row.phone_number_id}>
                <Table.Td>
                  <Text size="sm" fw={500}>
                    {row.display_phone_number}
                  </Text>
                  <Text size="xs" c="dimmed">
                    {t("numbers.idLine", { id: row.phone_number_id })}
                  </Text>
                </Table.Td>
                <Table.Td>{row.verified_name ?? ""}</Table.Td>
                <Table.Td style={{ whiteSpace: "nowrap" }}>
                  <Badge variant="light" tt="none" color={statusColor(row.status)} data-testid="number-status">
                    {t(`numbers.statuses.${row.status.toLowerCase()}`, { defaultValue: row.status })}
                  </Badge>
                </Table.Td>
                <Table.Td>
                  {row.quality_rating && (
                    <Badge variant="dot" color={qualityColor(row.quality_rating)}>
                      {row.quality_rating}
                    </Badge>
                  )}
                </Table.Td>
                <Table.Td>
                  <Text size="sm">{row.account_name}</Text>
                  <Text size="xs" c="dimmed">
                    {t("numbers.wabaLine", { id: row.waba_id })}
                  </Text>
                </Table.Td>
                <Table.Td>{formatNumber(row.rate_limit_per_second)}</Table.Td>
                <Table.Td>{queueName(row.default_queue_id)}</Table.Td>
                <Table.Td>
                  <Group gap={4} wrap="nowrap">
                    <Button size="xs" variant="subtle" onClick={() => setHealthOf(row)} data-testid="number-health">
                      {t("health.open")}
                    </Button>
                    <Button size="xs" variant="subtle" onClick={() => setCallingOf(row)} data-testid="number-calling">
                      {t("calling.open")}
                    </Button>
                    <Button size="xs" variant="subtle" onClick={() => setEditing(row)} data-testid="edit-number">
                      {t("common.edit")}
                    </Button>
                    <Button size="xs" variant="subtle" color="red" onClick={() => void remove(row)}>
                      {t("numbers.remove")}
                    </Button>
                  </Group>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      <Modal
        opened={signingUp}
        onClose={() => {
          setSigningUp(false);
          load();
        }}
        title={t("onboarding.connectWithMeta")}
        size="lg"
      >
        {signingUp && metaApp && (
          <ConnectWithMeta
            config={metaApp}
            queues={queues}
            onDone={() => {
              setSigningUp(false);
              load();
            }}
          />
        )}
      </Modal>
      <Modal
        opened={healthOf !== null}
        onClose={() => setHealthOf(null)}
        title={healthOf ? t("health.title", { number: healthOf.display_phone_number }) : ""}
        size="xl"
      >
        {healthOf && <NumberHealth number={healthOf} onChanged={load} />}
      </Modal>
      <Modal
        opened={callingOf !== null}
        onClose={() => setCallingOf(null)}
        title={callingOf ? t("calling.title", { number: callingOf.display_phone_number }) : ""}
        size="lg"
      >
        {callingOf && <CallingSettings number={callingOf} />}
      </Modal>
      <Modal
        opened={editing !== null}
        onClose={() => setEditing(null)}
        title={t(editing === "new" ? "numbers.connect" : "numbers.edit")}
        size="lg"
      >
        {editing !== null && (
          <NumberForm
            row={editing === "new" ? null : editing}
            queues={queues}
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

function NumberForm({ row, queues, onDone }: { row: PhoneNumber | null; queues: Queue[]; onDone: () => void }) {
  const { t } = useTranslation();
  const [wabaId, setWabaId] = useState(row?.waba_id ?? "");
  const [accountName, setAccountName] = useState(row?.account_name ?? "");
  const [phoneNumberId, setPhoneNumberId] = useState(row?.phone_number_id ?? "");
  const [display, setDisplay] = useState(row?.display_phone_number ?? "");
  const [token, setToken] = useState("");
  const [rate, setRate] = useState<number | string>(row?.rate_limit_per_second ?? 80);
  const [queueId, setQueueId] = useState<string | null>(row?.default_queue_id ? String(row.default_queue_id) : null);
  const [busy, setBusy] = useState(false);
  const errors = useServerErrors(FIELDS);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    errors.clear();
    // The server checks every value (and asks Meta about the token): send what was typed.
    const rateValue = typeof rate === "number" ? rate : Number(rate);
    const common = {
      display_phone_number: display,
      rate_limit_per_second: Number.isFinite(rateValue) ? rateValue : 0,
      default_queue_id: queueId ? Number(queueId) : null,
    };
    try {
      if (row) {
        await api.patch(`/phone-numbers/${row.id}`, { ...common, ...(token ? { access_token: token } : {}) });
      } else {
        await api.post("/phone-numbers", {
          ...common,
          waba_id: wabaId.trim(),
          account_name: accountName.trim() || null,
          phone_number_id: phoneNumberId.trim(),
          access_token: token,
        });
      }
      onDone();
    } catch (err) {
      errors.take(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} noValidate data-testid="number-form">
      <Stack>
        <TextInput
          label={t("numbers.waba_id")}
          description={t("numbers.wabaHint")}
          value={wabaId}
          onChange={(e) => setWabaId(e.currentTarget.value)}
          error={errors.fields.waba_id}
          disabled={!!row}
          required
          inputMode="numeric"
          data-testid="number-waba-id"
        />
        <TextInput
          label={t("numbers.account_name")}
          description={t("numbers.accountHint")}
          value={accountName}
          onChange={(e) => setAccountName(e.currentTarget.value)}
          error={errors.fields.account_name}
          disabled={!!row}
          data-testid="number-account-name"
        />
        <TextInput
          label={t("numbers.phone_number_id")}
          description={t("numbers.phoneIdHint")}
          value={phoneNumberId}
          onChange={(e) => setPhoneNumberId(e.currentTarget.value)}
          error={errors.fields.phone_number_id}
          disabled={!!row}
          required
          inputMode="numeric"
          data-testid="number-phone-number-id"
        />
        <TextInput
          label={t("numbers.display_phone_number")}
          description={t("numbers.displayHint")}
          value={display}
          onChange={(e) => setDisplay(e.currentTarget.value)}
          error={errors.fields.display_phone_number}
          required
          data-testid="number-display"
        />
        <PasswordInput
          label={row ? t("numbers.newToken") : t("numbers.access_token")}
          description={t("numbers.tokenHint")}
          value={token}
          onChange={(e) => setToken(e.currentTarget.value)}
          error={errors.fields.access_token}
          aria-invalid={!!errors.fields.access_token}
          required={!row}
          autoComplete="off"
          data-testid="number-token"
        />
        <NumberInput
          label={t("numbers.rate_limit_per_second")}
          description={t("numbers.rateHint")}
          value={rate}
          onChange={setRate}
          allowDecimal={false}
          error={errors.fields.rate_limit_per_second}
          data-testid="number-rate"
        />
        <DefaultQueueSelect
          queues={queues}
          value={queueId}
          onChange={setQueueId}
          error={errors.fields.default_queue_id}
          testId="number-queue"
        />
        <FormError message={errors.general} />
        <Group justify="flex-end">
          <Button type="submit" loading={busy} data-testid="number-save">
            {row ? t("common.save") : t("numbers.connectSubmit")}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
