import { useEffect, useState } from "react";
import { Alert, Button, Group, Modal, SegmentedControl, Select, Stack, Textarea } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api, ApiError } from "../api/client";
import type { Colleague, Conversation, Queue } from "../api/types";
import { nextTicket } from "../pages/useDesktop";
import { useSession } from "../session";
import { useLive } from "../live";

interface Props {
  conversation: Conversation;
  queues: Queue[];
  canAct: boolean;
  onChanged: (c: Conversation, ticket: number) => void;
}

export function ConversationActions({ conversation: c, queues, canAct, onChanged }: Props) {
  const { t } = useTranslation();
  const [dialog, setDialog] = useState<"transfer" | "close" | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function run(path: string, body: Record<string, unknown> = {}) {
    setBusy(true);
    setError(null);
    const ticket = nextTicket();
    try {
      onChanged(await api.post<Conversation>(`/conversations/${c.id}/${path}`, body), ticket);
      setDialog(null);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }

  if (!canAct) return null;
  return (
    <>
      <Group gap={4} wrap="nowrap">
        {c.status === "active" && (
          <Button size="xs" variant="default" onClick={() => { setError(null); setDialog("transfer"); }} data-testid="transfer-button">
            {t("actions.transfer")}
          </Button>
        )}
        {c.status === "active" && (
          <Button size="xs" variant="default" onClick={() => void run("wrap-up")} loading={busy && !dialog} data-testid="wrapup-button">
            {t("actions.wrapUp")}
          </Button>
        )}
        <Button size="xs" color="gray" onClick={() => { setError(null); setDialog("close"); }} data-testid="close-button">
          {t("actions.close")}
        </Button>
      </Group>
      {error && !dialog && (
        <Alert color="red" role="alert" p={4}>
          {error}
        </Alert>
      )}
      <Modal opened={dialog === "transfer"} onClose={() => setDialog(null)} title={t("actions.transferTitle")}>
        <TransferForm
          conversation={c}
          queues={queues}
          busy={busy}
          error={error}
          onSubmit={(body) => void run("transfer", body)}
        />
      </Modal>
      <Modal opened={dialog === "close"} onClose={() => setDialog(null)} title={t("actions.closeTitle")}>
        <CloseForm
          conversation={c}
          busy={busy}
          error={error}
          onSubmit={(body) => void run("close", body)}
        />
      </Modal>
    </>
  );
}

function TransferForm({
  conversation,
  queues,
  busy,
  error,
  onSubmit,
}: {
  conversation: Conversation;
  queues: Queue[];
  busy: boolean;
  error: string | null;
  onSubmit: (body: Record<string, unknown>) => void;
}) {
  const { t } = useTranslation();
  const { me } = useSession();
  const [kind, setKind] = useState<"queue" | "agent">("queue");
  const [target, setTarget] = useState<string | null>(null);
  const [note, setNote] = useState("");
  const [colleagues, setColleagues] = useState<Colleague[] | null>(null);
  const [reread, setReread] = useState(0);
  // A colleague who goes Available (or Away) while the dialog is open: read it again.
  useLive({
    onEvent: (e) => e.event === "agent.presence" && setReread((n) => n + 1),
    onResync: () => setReread((n) => n + 1),
  });

  // Everyone may read the directory (no e-mails); room is measured against the
  // conversation's queue, where a transfer to a person lands.
  useEffect(() => {
    let stale = false; // an answer for the queue shown before, or an older re-read
    const query = conversation.queue_id ? `?queue_id=${conversation.queue_id}` : "";
    api
      .get<Colleague[]>(`/agents/directory${query}`)
      .then((rows) => !stale && setColleagues(rows))
      .catch(() => !stale && setColleagues(null));
    return () => {
      stale = true;
    };
  }, [conversation.queue_id, reread]);

  const myId = me.user?.id ?? null;
  const ready = (c: Colleague) => c.presence === "available" && c.has_capacity;
  const others = (colleagues ?? [])
    .filter((c) => c.user_id !== myId)
    .sort((a, b) => Number(ready(b)) - Number(ready(a)) || a.name.localeCompare(b.name));

  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        if (!target) return;
        onSubmit({ [kind === "queue" ? "queue_id" : "agent_id"]: Number(target), note: note || null });
      }}
    >
      <Stack>
        {colleagues && (
          <SegmentedControl
            value={kind}
            onChange={(v) => {
              setKind(v as "queue" | "agent");
              setTarget(null);
            }}
            data={[
              { value: "queue", label: t("actions.toQueue") },
              { value: "agent", label: t("actions.toAgent") },
            ]}
            data-testid="transfer-kind"
          />
        )}
        {kind === "queue" ? (
          <Select
            label={t("actions.queue")}
            data-testid="transfer-queue"
            data={queues.map((q) => ({ value: String(q.id), label: q.name }))}
            value={target}
            onChange={setTarget}
            required
            comboboxProps={{ withinPortal: false }}
          />
        ) : (
          <Select
            label={t("actions.agent")}
            description={t("actions.agentHint")}
            data-testid="transfer-agent"
            data={others.map((c) => ({
              value: String(c.user_id),
              label: t(c.has_capacity ? "actions.colleague" : "actions.colleagueFull", {
                name: c.name,
                presence: t(`presence.${c.presence}`),
                load: c.open_conversations,
                capacity: c.capacity,
              }),
              disabled: !ready(c),
            }))}
            value={target}
            onChange={setTarget}
            nothingFoundMessage={t("actions.noColleagues")}
            required
            comboboxProps={{ withinPortal: false }}
          />
        )}
        <Textarea label={t("actions.transferNote")} value={note} onChange={(e) => setNote(e.currentTarget.value)} maxLength={4000} />
        {error && (
          <Alert color="red" role="alert">
            {error}
          </Alert>
        )}
        <Group justify="flex-end">
          <Button type="submit" loading={busy} disabled={!target} data-testid="transfer-submit">
            {t("actions.transfer")}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

function CloseForm({
  conversation,
  busy,
  error,
  onSubmit,
}: {
  conversation: Conversation;
  busy: boolean;
  error: string | null;
  onSubmit: (body: Record<string, unknown>) => void;
}) {
  const { t } = useTranslation();
  const [codes, setCodes] = useState<{ value: string; label: string }[]>([]);
  const [disposition, setDisposition] = useState<string | null>(null);
  const [reason, setReason] = useState("");

  useEffect(() => {
    // Another conversation's queue: none of its codes stay while this one's load.
    setCodes([]);
    setDisposition(null);
    if (!conversation.queue_id) return;
    let stale = false;
    api
      .get<Queue>(`/queues/${conversation.queue_id}`)
      .then((q) => !stale && setCodes(q.dispositions.map((d) => ({ value: d.code, label: d.label }))))
      .catch(() => !stale && setCodes([]));
    return () => {
      stale = true;
    };
  }, [conversation.queue_id]);

  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        onSubmit({ disposition, reason: reason || null });
      }}
    >
      <Stack>
        <Select
          label={t("actions.disposition")}
          description={codes.length ? undefined : t("actions.noDispositions")}
          data={codes}
          value={disposition}
          onChange={setDisposition}
          required={codes.length > 0}
          disabled={!codes.length}
          data-testid="disposition-select"
          comboboxProps={{ withinPortal: false }}
        />
        <Textarea label={t("actions.closeReason")} value={reason} onChange={(e) => setReason(e.currentTarget.value)} maxLength={200} />
        {error && (
          <Alert color="red" role="alert">
            {error}
          </Alert>
        )}
        <Group justify="flex-end">
          <Button type="submit" loading={busy} data-testid="close-submit">
            {t("actions.close")}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
