// Test the draft against a real number (the simulator in demos): POST /flows/{id}/test
// binds the saved draft to one test customer for a while, without publishing it; the
// panel then follows the run (GET /flows/{id}/test, every second) and the editor
// highlights the widget it is at. The server checks everything; this shows what it says.
import { useEffect, useState } from "react";
import { Alert, Anchor, Badge, Button, Group, Select, Stack, Text, TextInput, Title } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api, ApiError } from "../api/client";
import { useNewest } from "../api/newest";
import type { PhoneNumber } from "../api/types";
import { formatClock, formatTime } from "../format";
import type { FlowTest, Problem } from "./model";

const POLL_MS = 1000;

interface Props {
  flowId: number;
  /** The numbers the draft's Start names or the flow is bound to (offered first). */
  flowNumbers: string[];
  labelOf: (node: string) => string;
  /** Save unsaved edits first (the test runs the saved draft); false when that failed. */
  beforeStart: () => Promise<boolean>;
  onProblems: (problems: Problem[]) => void;
  onTest: (test: FlowTest | null) => void;
  onClose: () => void;
}

function problemsOf(err: unknown): Problem[] | null {
  if (!(err instanceof ApiError)) return null;
  return (err.body as { detail?: { problems?: Problem[] } } | null)?.detail?.problems ?? null;
}

export function TestPanel({ flowId, flowNumbers, labelOf, beforeStart, onProblems, onTest, onClose }: Props) {
  const { t } = useTranslation();
  const [numbers, setNumbers] = useState<PhoneNumber[]>([]);
  const [number, setNumber] = useState<string | null>(null);
  const [customer, setCustomer] = useState("");
  const [test, setTest] = useState<FlowTest | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fields, setFields] = useState<Record<string, string>>({});

  // Every change of the test shown counts: a read asked before the last change (a poll
  // in flight when Stop or Start was pressed) is answered too late to be shown.
  const changes = useNewest();
  const show = (next: FlowTest | null) => {
    changes.begin();
    setTest(next);
    onTest(next);
  };

  useEffect(() => {
    void api.get<PhoneNumber[]>("/phone-numbers").then((list) => {
      const ours = list.filter((n) => flowNumbers.includes(n.phone_number_id));
      const ordered = [...ours, ...list.filter((n) => !ours.includes(n))];
      setNumbers(ordered);
      setNumber((current) => current ?? ordered[0]?.phone_number_id ?? null);
    });
    // A test already under way (another tab, a reload) is picked up where it is.
    const unchanged = changes.since();
    void api.get<FlowTest | null>(`/flows/${flowId}/test`).then((latest) => {
      if (!latest || latest.state === "expired" || !unchanged()) return;
      show(latest);
      setNumber(latest.phone_number_id);
      setCustomer(latest.customer.match(/^\d+$/) ? `+${latest.customer}` : latest.customer);
    });
    return () => onTest(null);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [flowId]);

  const live = test && (test.state === "waiting" || test.state === "running");
  useEffect(() => {
    if (!live || !test) return;
    const timer = window.setInterval(() => {
      const unchanged = changes.since();
      api
        .get<FlowTest | null>(`/flows/${flowId}/test?id=${test.id}`)
        .then((next) => next && unchanged() && show(next))
        .catch(() => undefined);
    }, POLL_MS);
    return () => window.clearInterval(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [live, test?.id, flowId]);

  async function start() {
    setError(null);
    setFields({});
    if (!(await beforeStart())) {
      setError(t("flowTest.saveFirst"));
      return;
    }
    setBusy(true);
    changes.begin(); // what is being read now is older than this start
    try {
      show(await api.post<FlowTest>(`/flows/${flowId}/test`, { phone_number_id: number ?? "", customer }));
    } catch (err) {
      const found = problemsOf(err);
      if (found?.length) {
        onProblems(found);
        setError(t("flows.invalid"));
      } else if (err instanceof ApiError) {
        const byField = err.fields;
        if (byField.customer || byField.phone_number_id) setFields(byField);
        else setError(err.message);
      } else setError(String(err));
    } finally {
      setBusy(false);
    }
  }

  async function stop() {
    setBusy(true);
    changes.begin(); // what is being read now is older than this stop
    try {
      show(await api.del<FlowTest | null>(`/flows/${flowId}/test`));
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }

  const stateColor = { waiting: "yellow", running: "orange", finished: "teal", expired: "gray" } as const;
  return (
    <Stack gap="sm" data-testid="test-panel" aria-labelledby="flow-test-title">
      <Group justify="space-between">
        <Title order={2} size="h5" id="flow-test-title">
          {t("flowTest.title")}
        </Title>
        <Button size="compact-xs" variant="subtle" onClick={onClose} data-testid="test-close">
          {t("flowTest.close")}
        </Button>
      </Group>
      <Text size="xs" c="dimmed">
        {t("flowTest.help")}
      </Text>
      <Select
        size="xs"
        label={t("flowTest.number")}
        data={numbers.map((n) => ({ value: n.phone_number_id, label: `${n.display_phone_number}${n.verified_name ? ` · ${n.verified_name}` : ""}` }))}
        value={number}
        onChange={setNumber}
        error={fields.phone_number_id}
        allowDeselect={false}
        comboboxProps={{ withinPortal: false }}
        data-testid="test-number"
      />
      <TextInput
        size="xs"
        label={t("flowTest.customer")}
        description={t("flowTest.customerHint")}
        placeholder="+81 90 1234 5678"
        value={customer}
        onChange={(e) => setCustomer(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter") void start();
        }}
        error={fields.customer}
        data-testid="test-customer"
      />
      <Group gap="xs">
        <Button size="xs" color="orange" onClick={() => void start()} loading={busy} disabled={!customer.trim() || !number} data-testid="test-start">
          {test ? t("flowTest.restart") : t("flowTest.start")}
        </Button>
        {test?.state === "waiting" && (
          <Button size="xs" variant="default" onClick={() => void stop()} disabled={busy} data-testid="test-stop">
            {t("flowTest.stop")}
          </Button>
        )}
      </Group>
      {error && (
        <Alert color="red" role="alert" data-testid="test-error">
          {error}
        </Alert>
      )}
      {test && (
        <Stack gap={6} aria-live="polite">
          <Group gap="xs">
            <Badge color={stateColor[test.state]} data-testid="test-state" data-state={test.state}>
              {t(`flowTest.state.${test.state}`)}
            </Badge>
            {test.state === "waiting" && (
              <Text size="xs" c="dimmed">
                {t("flowTest.until", { time: formatTime(test.expires_at) })}
              </Text>
            )}
          </Group>
          {test.state === "waiting" && (
            <Text size="sm">{t("flowTest.writeNow", { customer: test.customer, number: test.display_phone_number })}</Text>
          )}
          {test.phone_url ? (
            <Anchor href={test.phone_url} target="_blank" rel="noopener" size="sm" data-testid="test-phone-link">
              {t("flowTest.openPhone")} ↗
            </Anchor>
          ) : (
            <Alert color="blue" p="xs" data-testid="test-real-phone">
              {t("flowTest.realPhone", { number: test.display_phone_number })}
            </Alert>
          )}
          {test.open_conversation && (
            <Alert color="yellow" p="xs" data-testid="test-open-conversation">
              {t("flowTest.openConversation", {
                id: test.open_conversation.id,
                status: t(`status.conversation.${test.open_conversation.status}`),
              })}
            </Alert>
          )}
          {test.conversation_status && (
            <Text size="xs" data-testid="test-conversation">
              {t("flowTest.conversation", { id: test.conversation_id, status: t(`status.conversation.${test.conversation_status}`) })}
            </Text>
          )}
          {test.run?.error && (
            <Alert color="red" p="xs">
              {test.run.error}
            </Alert>
          )}
          {test.steps.length > 0 && (
            <>
              <Text size="sm" fw={600} id="flow-test-steps">
                {t("flowTest.steps")}
              </Text>
              <ol className="test-steps" data-testid="test-steps" aria-labelledby="flow-test-steps">
                {test.steps.map((s, i) => (
                  <li key={i} data-testid="test-step" data-node={s.node} data-result={s.result}>
                    <span className="test-step-time">{formatClock(s.at)}</span> <strong>{labelOf(s.node)}</strong> → {t(`flowTest.result.${s.result}`, { defaultValue: s.result })}
                  </li>
                ))}
              </ol>
            </>
          )}
        </Stack>
      )}
    </Stack>
  );
}
