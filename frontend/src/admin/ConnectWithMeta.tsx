import { useEffect, useState } from "react";
import { Alert, Badge, Button, Group, List, Stack, Text, TextInput } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api, ApiError } from "../api/client";
import type { Queue, Signup } from "../api/types";
import { DefaultQueueSelect, FormError, useServerErrors } from "./forms";
import { launchSignup, loadSdk, type MetaAppConfig } from "./metaSignup";

const FIELDS = ["pin", "account_name", "default_queue_id"];

function stepColor(state: string): string {
  return state === "done" ? "teal" : state === "skipped" ? "gray" : state === "failed" ? "red" : "yellow";
}

/**
 * Connect with Meta: the admin picks the number's two-step PIN (and optionally an account
 * name and default queue), Meta's signup popup does the rest at Meta, and the server runs
 * the steps (code exchange, webhooks, registration, details), each shown with its result.
 */
export function ConnectWithMeta({ config, queues, onDone }: { config: MetaAppConfig; queues: Queue[]; onDone: () => void }) {
  const { t } = useTranslation();
  const [pin, setPin] = useState("");
  const [accountName, setAccountName] = useState("");
  const [queueId, setQueueId] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [note, setNote] = useState<string | null>(null);
  const [signup, setSignup] = useState<Signup | null>(null);
  const [sdkError, setSdkError] = useState<string | null>(null);
  const errors = useServerErrors(FIELDS);

  useEffect(() => {
    // Loaded ahead, so that the click itself can open the popup.
    loadSdk(config).catch((err) => setSdkError(String(err instanceof Error ? err.message : err)));
  }, [config]);

  async function launch() {
    errors.clear();
    setNote(null);
    if (!/^\d{6}$/.test(pin)) {
      errors.take(new ApiError(422, t("onboarding.pinHint"), "invalid_pin", { pin: t("onboarding.pinHint") }));
      return;
    }
    const fb = window.FB;
    if (!fb) {
      setSdkError(t("onboarding.sdkMissing"));
      return;
    }
    const outcome = await launchSignup(fb, config);
    if (outcome.kind === "cancelled") {
      setNote(outcome.step ? t("onboarding.cancelledAt", { step: outcome.step }) : t("onboarding.cancelled"));
      return;
    }
    if (outcome.kind === "error") {
      setNote(outcome.message);
      return;
    }
    setBusy(true);
    try {
      const started = await api.post<Signup>("/onboarding/signups", {
        ...outcome.session,
        pin,
        account_name: accountName.trim() || null,
        default_queue_id: queueId ? Number(queueId) : null,
      });
      setSignup(started);
    } catch (err) {
      errors.take(err);
    } finally {
      setBusy(false);
    }
  }

  async function retry() {
    if (!signup) return;
    errors.clear();
    setBusy(true);
    try {
      const body = signup.retry_needs === "pin" ? { pin } : {};
      setSignup(await api.post<Signup>(`/onboarding/signups/${signup.id}/retry`, body));
    } catch (err) {
      errors.take(err);
    } finally {
      setBusy(false);
    }
  }

  const completed = signup?.state === "completed";
  const failed = signup?.state === "failed";
  const needsNewSignup = failed && signup?.retry_needs === "new_signup";

  return (
    <Stack data-testid="signup-panel">
      {sdkError && (
        <Alert color="red" data-testid="signup-sdk-error">
          {sdkError}
        </Alert>
      )}
      {config.simulated && (
        <Text size="sm" c="dimmed">
          {t("onboarding.simulated")}
        </Text>
      )}
      {(!signup || signup.retry_needs === "pin" || needsNewSignup) && (
        <TextInput
          label={t("onboarding.pin")}
          description={t("onboarding.pinHint")}
          value={pin}
          onChange={(e) => setPin(e.currentTarget.value.trim())}
          error={errors.fields.pin}
          inputMode="numeric"
          maxLength={6}
          autoComplete="off"
          data-testid="signup-pin"
        />
      )}
      {!signup && (
        <>
          <TextInput
            label={t("numbers.account_name")}
            description={t("onboarding.accountHint")}
            value={accountName}
            onChange={(e) => setAccountName(e.currentTarget.value)}
            error={errors.fields.account_name}
            data-testid="signup-account-name"
          />
          <DefaultQueueSelect
            queues={queues}
            value={queueId}
            onChange={setQueueId}
            error={errors.fields.default_queue_id}
            testId="signup-queue"
          />
        </>
      )}
      {note && (
        <Alert color="yellow" data-testid="signup-note">
          {note}
        </Alert>
      )}
      {signup && (
        <List spacing="xs" listStyleType="none" data-testid="signup-steps">
          {signup.steps.map((step) => (
            <List.Item key={step.step} data-testid="signup-step" data-step={step.step} data-state={step.state}>
              <Group gap="xs" wrap="nowrap" align="flex-start">
                <Badge color={stepColor(step.state)} variant="light" w={90}>
                  {t(`onboarding.states.${step.state}`)}
                </Badge>
                <div>
                  <Text size="sm" fw={500}>
                    {t(`onboarding.steps.${step.step}`)}
                  </Text>
                  {step.message && (
                    <Text size="xs" c={step.state === "failed" ? "red" : "dimmed"}>
                      {step.message}
                    </Text>
                  )}
                </div>
              </Group>
            </List.Item>
          ))}
        </List>
      )}
      {failed && signup?.message && (
        <Alert color="red" role="alert" data-testid="signup-failure">
          {t(`onboarding.failedAt`, { step: t(`onboarding.steps.${signup.failed_step}`) })} {signup.message}
        </Alert>
      )}
      {completed && (
        <Alert color="teal" data-testid="signup-done">
          {t("onboarding.done")}
        </Alert>
      )}
      <FormError message={errors.general} />
      <Group justify="flex-end">
        {completed ? (
          <Button onClick={onDone} data-testid="signup-close">
            {t("onboarding.close")}
          </Button>
        ) : failed && !needsNewSignup ? (
          <Button onClick={() => void retry()} loading={busy} data-testid="signup-retry">
            {t("onboarding.retry", { step: t(`onboarding.steps.${signup?.failed_step}`) })}
          </Button>
        ) : (
          <Button
            onClick={() => {
              setSignup(null);
              void launch();
            }}
            loading={busy}
            disabled={!!sdkError}
            data-testid="signup-launch"
          >
            {needsNewSignup ? t("onboarding.again") : t("onboarding.launch")}
          </Button>
        )}
      </Group>
    </Stack>
  );
}
