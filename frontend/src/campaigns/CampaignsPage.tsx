import { useEffect, useState } from "react";
import {
  Alert,
  Anchor,
  Badge,
  Button,
  Card,
  FileInput,
  Group,
  NumberInput,
  SegmentedControl,
  Select,
  SimpleGrid,
  Stack,
  Table,
  TagsInput,
  Text,
  TextInput,
  Title,
} from "@mantine/core";
import { useTranslation } from "react-i18next";
import { ApiError, api } from "../api/client";
import { useNewest } from "../api/newest";
import {
  RECIPIENT_STATUSES,
  campaignsApi,
  type AudienceReport,
  type Campaign,
  type CampaignPreview,
  type CampaignStatus,
} from "../api/campaigns";
import type { PhoneNumber, Queue, Template } from "../api/types";
import { FormError, useServerErrors } from "../admin/forms";
import { formatDateTime, formatNumber } from "../format";
import { navigate } from "../router";

const STATUS_COLOR: Record<CampaignStatus, string> = {
  draft: "gray",
  scheduled: "blue",
  sending: "teal",
  paused: "yellow",
  finished: "green",
  stopped: "red",
};
const LIVE: CampaignStatus[] = ["scheduled", "sending", "paused"];

/** How often an open campaign page reads the campaign again (ms), or null for never. */
function refreshInterval(campaign: Campaign): number | null {
  if (LIVE.includes(campaign.status)) return 1500;
  if (campaign.status === "draft") return null;
  const counts = campaign.progress.counts;
  return counts.sent + counts.accepted > 0 ? 5000 : 30000;
}
const SHOWN_COUNTS = ["pending", "queued", "sent", "delivered", "read", "failed", "replied", "opted_out"] as const;

function errorText(err: unknown): string {
  return err instanceof ApiError ? err.message : String(err);
}

function StatusBadge({ status }: { status: CampaignStatus }) {
  const { t } = useTranslation();
  return (
    <Badge color={STATUS_COLOR[status]} variant="light" data-testid="campaign-status" data-status={status}>
      {t(`campaigns.status.${status}`)}
    </Badge>
  );
}

/** /campaigns (the list), /campaigns/new (a draft), /campaigns/{id} (fill, schedule, watch). */
export function CampaignsPage({ path }: { path: string }) {
  const match = /^\/campaigns\/(\d+)$/.exec(path);
  if (path === "/campaigns/new") return <NewCampaign />;
  if (match) return <CampaignDetail id={Number(match[1])} />;
  return <CampaignList />;
}

function CampaignList() {
  const { t } = useTranslation();
  const [rows, setRows] = useState<Campaign[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    campaignsApi.list().then(setRows).catch((err) => setError(errorText(err)));
  }, []);
  return (
    <div className="page">
      <Group justify="space-between" mb="md">
        <Title order={1} size="h3">
          {t("campaigns.title")}
        </Title>
        <Button onClick={() => navigate("/campaigns/new")} data-testid="new-campaign">
          {t("campaigns.new")}
        </Button>
      </Group>
      <Alert color="gray" mb="md">
        {t("campaigns.hint")}
      </Alert>
      {error && (
        <Alert color="red" role="alert">
          {error}
        </Alert>
      )}
      {rows && rows.length === 0 && <Text c="dimmed">{t("campaigns.empty")}</Text>}
      {rows && rows.length > 0 && (
        <Table striped highlightOnHover>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>{t("campaigns.name")}</Table.Th>
              <Table.Th>{t("campaigns.statusLabel")}</Table.Th>
              <Table.Th>{t("campaigns.template")}</Table.Th>
              <Table.Th>{t("campaigns.audience")}</Table.Th>
              <Table.Th>{t("campaigns.reached")}</Table.Th>
              <Table.Th>{t("campaigns.replied")}</Table.Th>
              <Table.Th>{t("campaigns.scheduledAt")}</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((row) => (
              <Table.Tr key={row.id} data-testid="campaign-row">
                <Table.Td>
                  <Anchor onClick={() => navigate(`/campaigns/${row.id}`)}>{row.name}</Anchor>
                </Table.Td>
                <Table.Td>
                  <StatusBadge status={row.status} />
                </Table.Td>
                <Table.Td>{row.template ? `${row.template.name} (${row.template.language})` : ""}</Table.Td>
                <Table.Td>{formatNumber(row.progress.total)}</Table.Td>
                <Table.Td>{formatNumber(row.progress.reached)}</Table.Td>
                <Table.Td>{formatNumber(row.progress.counts.replied)}</Table.Td>
                <Table.Td>{formatDateTime(row.scheduled_at)}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </div>
  );
}

interface Choices {
  numbers: PhoneNumber[];
  templates: Template[];
  queues: Queue[];
}

function useChoices(): Choices {
  const [choices, setChoices] = useState<Choices>({ numbers: [], templates: [], queues: [] });
  useEffect(() => {
    void Promise.all([
      api.get<PhoneNumber[]>("/phone-numbers").catch(() => []),
      api.get<Template[]>("/templates?status=APPROVED").catch(() => []),
      api.get<Queue[]>("/queues").catch(() => []),
    ]).then(([numbers, templates, queues]) => setChoices({ numbers, templates, queues }));
  }, []);
  return choices;
}

function NewCampaign() {
  const { t } = useTranslation();
  const choices = useChoices();
  const errors = useServerErrors(["name", "phone_number_id", "template_id", "queue_id", "route_back_hours"]);
  const [name, setName] = useState("");
  const [number, setNumber] = useState<string | null>(null);
  const [template, setTemplate] = useState<string | null>(null);
  const [queue, setQueue] = useState<string | null>(null);
  const [hours, setHours] = useState<number>(72);
  const [busy, setBusy] = useState(false);

  const waba = choices.numbers.find((n) => n.phone_number_id === number)?.waba_id;
  const templates = choices.templates.filter(
    (tpl) => !waba || (tpl as Template & { waba_id?: string }).waba_id === waba,
  );

  async function save() {
    errors.clear();
    setBusy(true);
    try {
      const created = await campaignsApi.create({
        name,
        phone_number_id: number ?? "",
        template_id: Number(template),
        values: {},
        queue_id: queue ? Number(queue) : null,
        route_back_hours: hours,
      });
      navigate(`/campaigns/${created.id}`);
    } catch (err) {
      errors.take(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="page">
      <Title order={1} size="h3" mb="md">
        {t("campaigns.new")}
      </Title>
      <Card withBorder maw={560} data-testid="campaign-form">
        <Stack>
          <TextInput
            label={t("campaigns.name")}
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            error={errors.fields.name}
            data-testid="campaign-name"
          />
          <Select
            label={t("campaigns.number")}
            data={choices.numbers.map((n) => ({ value: n.phone_number_id, label: n.display_phone_number }))}
            value={number}
            onChange={setNumber}
            error={errors.fields.phone_number_id}
            data-testid="campaign-number"
          />
          <Select
            label={t("campaigns.template")}
            description={t("campaigns.templateHint")}
            data={templates.map((tpl) => ({
              value: String(tpl.id),
              label: `${tpl.name} (${tpl.language}, ${tpl.category ?? ""})`,
            }))}
            value={template}
            onChange={setTemplate}
            error={errors.fields.template_id}
            data-testid="campaign-template"
          />
          <Select
            label={t("campaigns.queue")}
            description={t("campaigns.queueHint")}
            data={choices.queues.map((q) => ({ value: String(q.id), label: q.name }))}
            value={queue}
            onChange={setQueue}
            clearable
            error={errors.fields.queue_id}
            data-testid="campaign-queue"
          />
          <NumberInput
            label={t("campaigns.routeBackHours")}
            min={0}
            max={720}
            value={hours}
            onChange={(v) => setHours(typeof v === "number" ? v : 72)}
            error={errors.fields.route_back_hours}
          />
          <FormError message={errors.general} />
          <Group justify="flex-end">
            <Button variant="subtle" onClick={() => navigate("/campaigns")}>
              {t("common.cancel")}
            </Button>
            <Button onClick={() => void save()} loading={busy} data-testid="campaign-create">
              {t("campaigns.createDraft")}
            </Button>
          </Group>
        </Stack>
      </Card>
    </div>
  );
}

function CampaignDetail({ id }: { id: number }) {
  const { t } = useTranslation();
  const [campaign, setCampaign] = useState<Campaign | null>(null);
  const [preview, setPreview] = useState<CampaignPreview | null>(null);
  const [error, setError] = useState<string | null>(null);

  // Refreshes overlap with the buttons (a refresh started before "Pause" and answered
  // after it showed "sending" again).
  const reads = useNewest();
  const load = () => {
    const newest = reads.begin();
    return campaignsApi
      .get(id)
      .then((c) => {
        if (!newest()) return;
        setCampaign(c);
        if (c.status === "draft") void campaignsApi.preview(id).then(setPreview).catch(() => setPreview(null));
      })
      .catch((err) => newest() && setError(errorText(err)));
  };

  useEffect(() => {
    void load();
  }, [id]);
  // Sending is followed closely. Statuses (delivered, read) and replies keep coming after
  // the last message is sent, so a finished or stopped campaign is still refreshed while
  // the page is open: often while messages await delivery, slowly once none do.
  const refreshEvery = campaign === null ? null : refreshInterval(campaign);
  const live = campaign !== null && LIVE.includes(campaign.status);
  useEffect(() => {
    if (refreshEvery === null) return;
    const timer = window.setInterval(() => void load(), refreshEvery);
    return () => window.clearInterval(timer);
  }, [refreshEvery, id]);

  async function act(action: "pause" | "resume" | "stop") {
    if (action === "stop" && !window.confirm(t("campaigns.confirmStop"))) return;
    setError(null);
    reads.begin(); // refreshes started before or during the action are older than it
    try {
      const changed = await campaignsApi.action(id, action);
      reads.begin();
      setCampaign(changed);
    } catch (err) {
      setError(errorText(err));
    }
  }

  if (!campaign) return <div className="page">{error && <Alert color="red">{error}</Alert>}</div>;
  return (
    <div className="page">
      <Group justify="space-between" mb="xs">
        <Group>
          <Anchor onClick={() => navigate("/campaigns")}>{t("campaigns.title")}</Anchor>
          <Title order={1} size="h3" data-testid="campaign-title">
            {campaign.name}
          </Title>
          <StatusBadge status={campaign.status} />
        </Group>
        <Group gap="xs">
          {(campaign.status === "scheduled" || campaign.status === "sending") && (
            <Button variant="light" onClick={() => void act("pause")} data-testid="campaign-pause">
              {t("campaigns.pause")}
            </Button>
          )}
          {campaign.status === "paused" && (
            <Button variant="light" onClick={() => void act("resume")} data-testid="campaign-resume">
              {t("campaigns.resume")}
            </Button>
          )}
          {(campaign.status === "draft" || live) && (
            <Button color="red" variant="light" onClick={() => void act("stop")} data-testid="campaign-stop">
              {t("campaigns.stop")}
            </Button>
          )}
          {campaign.status !== "draft" && (
            <Button component="a" href={campaignsApi.exportUrl(id)} variant="default" data-testid="campaign-export">
              {t("campaigns.export")}
            </Button>
          )}
        </Group>
      </Group>
      <Text size="sm" c="dimmed" mb="md">
        {campaign.display_phone_number} · {campaign.template?.name} ({campaign.template?.language},{" "}
        {campaign.template?.category})
      </Text>
      {campaign.status_reason && (
        <Alert color="yellow" mb="md" data-testid="campaign-reason">
          {campaign.status_reason}
        </Alert>
      )}
      {error && (
        <Alert color="red" role="alert" mb="md">
          {error}
        </Alert>
      )}
      {campaign.status === "draft" ? (
        <DraftSteps campaign={campaign} preview={preview} onChange={() => void load()} />
      ) : (
        <ProgressView campaign={campaign} />
      )}
    </div>
  );
}

function DraftSteps({
  campaign,
  preview,
  onChange,
}: {
  campaign: Campaign;
  preview: CampaignPreview | null;
  onChange: () => void;
}) {
  return (
    <SimpleGrid cols={{ base: 1, lg: 2 }}>
      <Stack>
        <AudienceCard campaign={campaign} onChange={onChange} />
        <ValuesCard campaign={campaign} preview={preview} onChange={onChange} />
      </Stack>
      <Stack>
        <PreviewCard campaign={campaign} preview={preview} />
        <ScheduleCard campaign={campaign} onChange={onChange} />
      </Stack>
    </SimpleGrid>
  );
}

function AudienceCard({ campaign, onChange }: { campaign: Campaign; onChange: () => void }) {
  const { t } = useTranslation();
  const [file, setFile] = useState<File | null>(null);
  const [country, setCountry] = useState("");
  const [tags, setTags] = useState<string[]>([]);
  const [report, setReport] = useState<AudienceReport | null>(campaign.audience_report);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function run(call: () => Promise<AudienceReport>) {
    setBusy(true);
    setError(null);
    try {
      setReport(await call());
      onChange();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Card withBorder data-testid="audience-card">
      <Title order={2} size="h5" mb="xs">
        {t("campaigns.audience")}
      </Title>
      <Text size="sm" c="dimmed" mb="sm">
        {t("campaigns.audienceHint")}
      </Text>
      <Group align="flex-end" mb="sm">
        <FileInput
          label={t("campaigns.csvFile")}
          accept=".csv,text/csv"
          value={file}
          onChange={setFile}
          placeholder={t("campaigns.chooseFile")}
          data-testid="audience-file"
          style={{ flex: 1 }}
        />
        <TextInput
          label={t("campaigns.defaultCountry")}
          placeholder="JP"
          w={110}
          value={country}
          onChange={(e) => setCountry(e.currentTarget.value)}
        />
        <Button
          disabled={!file}
          loading={busy}
          onClick={() => file && void run(() => campaignsApi.upload(campaign.id, file, country || null))}
          data-testid="audience-upload"
        >
          {t("campaigns.upload")}
        </Button>
      </Group>
      <Group align="flex-end" mb="sm">
        <TagsInput label={t("campaigns.tags")} value={tags} onChange={setTags} style={{ flex: 1 }} />
        <Button
          variant="light"
          disabled={tags.length === 0}
          loading={busy}
          onClick={() => void run(() => campaignsApi.addTags(campaign.id, tags))}
        >
          {t("campaigns.addTagged")}
        </Button>
      </Group>
      {error && (
        <Alert color="red" role="alert" data-testid="audience-error">
          {error}
        </Alert>
      )}
      {report && (
        <Stack gap="xs" data-testid="audience-report">
          <Group gap="xs">
            <Badge color="teal" data-testid="report-added">
              {t("campaigns.report.added", { count: report.added })}
            </Badge>
            <Badge color="gray">{t("campaigns.report.duplicates", { count: report.duplicates })}</Badge>
            <Badge color="orange" data-testid="report-opted-out">
              {t("campaigns.report.optedOut", { count: report.opted_out })}
            </Badge>
            <Badge color="red" data-testid="report-invalid">
              {t("campaigns.report.invalid", { count: report.invalid })}
            </Badge>
          </Group>
          {report.problems.length > 0 && (
            <Table data-testid="report-problems">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>{t("campaigns.report.line")}</Table.Th>
                  <Table.Th>{t("campaigns.report.reason")}</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {report.problems.slice(0, 50).map((p) => (
                  <Table.Tr key={`${p.line}-${p.code}`}>
                    <Table.Td>{p.line}</Table.Td>
                    <Table.Td>{p.message}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
        </Stack>
      )}
      <Text size="sm" mt="sm" data-testid="audience-total">
        {t("campaigns.audienceTotal", {
          count: campaign.progress.counts.pending,
          opted: campaign.progress.counts.opted_out,
        })}
      </Text>
    </Card>
  );
}

type Source = { kind: "contact" | "column" | "text"; value: string };

function sourceOf(value: unknown): Source {
  if (value && typeof value === "object" && "from" in value) {
    const from = String((value as { from: string }).from);
    if (from.startsWith("row.")) return { kind: "column", value: from.slice(4) };
    return { kind: "contact", value: from };
  }
  return { kind: "text", value: value == null ? "" : String(value) };
}

function ValuesCard({
  campaign,
  preview,
  onChange,
}: {
  campaign: Campaign;
  preview: CampaignPreview | null;
  onChange: () => void;
}) {
  const { t } = useTranslation();
  const keys = preview?.parameters ?? [];
  const [values, setValues] = useState<Record<string, Source>>({});
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const next: Record<string, Source> = {};
    for (const key of keys) next[key] = sourceOf(campaign.values[key] ?? campaign.values[key.replace(/^body\./, "")]);
    setValues(next);
  }, [campaign.id, keys.join(",")]);
  if (keys.length === 0) return null;

  const options = [
    { value: "contact:contact.name", label: t("campaigns.source.contactName") },
    ...campaign.columns.map((c) => ({ value: `column:${c}`, label: t("campaigns.source.column", { column: c }) })),
    { value: "text:", label: t("campaigns.source.text") },
  ];

  async function save() {
    setError(null);
    const out: Record<string, unknown> = {};
    for (const [key, source] of Object.entries(values)) {
      if (source.kind === "column") out[key] = { from: `row.${source.value}` };
      else if (source.kind === "contact") out[key] = { from: source.value };
      else if (source.value) out[key] = source.value;
    }
    try {
      await campaignsApi.update(campaign.id, {
        name: campaign.name,
        phone_number_id: campaign.phone_number_id ?? "",
        template_id: campaign.template?.id ?? 0,
        values: out,
        queue_id: campaign.queue_id,
        route_back_hours: campaign.route_back_hours,
      });
      onChange();
    } catch (err) {
      setError(errorText(err));
    }
  }

  return (
    <Card withBorder data-testid="values-card">
      <Title order={2} size="h5" mb="xs">
        {t("campaigns.parameters")}
      </Title>
      <Stack gap="xs">
        {keys.map((key) => {
          const source = values[key] ?? { kind: "text", value: "" };
          const selected = source.kind === "text" ? "text:" : source.kind === "column" ? `column:${source.value}` : `contact:${source.value}`;
          return (
            <Group key={key} align="flex-end" wrap="nowrap">
              <Select
                label={key}
                data={options}
                value={selected}
                onChange={(v) => {
                  if (!v) return;
                  const [kind, ...rest] = v.split(":");
                  setValues({ ...values, [key]: { kind: kind as Source["kind"], value: rest.join(":") } });
                }}
                data-testid={`value-source-${key}`}
                style={{ flex: 1 }}
              />
              {source.kind === "text" && (
                <TextInput
                  aria-label={t("campaigns.source.text")}
                  value={source.value}
                  onChange={(e) => setValues({ ...values, [key]: { kind: "text", value: e.currentTarget.value } })}
                  style={{ flex: 1 }}
                />
              )}
            </Group>
          );
        })}
        {error && (
          <Alert color="red" role="alert">
            {error}
          </Alert>
        )}
        <Group justify="flex-end">
          <Button variant="light" onClick={() => void save()} data-testid="values-save">
            {t("campaigns.saveParameters")}
          </Button>
        </Group>
      </Stack>
    </Card>
  );
}

function PreviewCard({ campaign, preview }: { campaign: Campaign; preview: CampaignPreview | null }) {
  const { t } = useTranslation();
  const estimate = preview?.cost_estimate ?? campaign.cost_estimate;
  const limit = campaign.messaging_limit;
  return (
    <Card withBorder data-testid="preview-card">
      <Title order={2} size="h5" mb="xs">
        {t("campaigns.preview")}
      </Title>
      {preview && (
        <div className="bubble bubble-out" data-testid="campaign-preview" style={{ whiteSpace: "pre-wrap" }}>
          {preview.message.body}
          {preview.message.footer && (
            <Text size="xs" c="dimmed">
              {preview.message.footer}
            </Text>
          )}
        </div>
      )}
      {preview && preview.problems.length > 0 && (
        <Alert color="orange" mt="sm" data-testid="preview-problems">
          {preview.problems.map((p) => p.message).join("\n")}
        </Alert>
      )}
      {estimate && (
        <Stack gap={4} mt="sm" data-testid="cost-estimate">
          <Text size="sm" fw={500}>
            {estimate.currency
              ? t("campaigns.cost.money", {
                  total: estimate.total,
                  currency: estimate.currency,
                  count: estimate.recipients,
                })
              : t("campaigns.cost.counts", { count: estimate.recipients, category: estimate.category })}
          </Text>
          {estimate.currency && estimate.unpriced > 0 && (
            <Text size="xs" c="orange">
              {t("campaigns.cost.unpriced", { count: estimate.unpriced })}
            </Text>
          )}
          <Text size="xs" c="dimmed">
            {estimate.by_market
              .slice(0, 6)
              .map((m) => `${m.market ?? "?"}: ${formatNumber(m.recipients)}${estimate.currency ? ` (${m.total})` : ""}`)
              .join(" · ")}
          </Text>
        </Stack>
      )}
      {limit && limit.tier && (
        <Text size="sm" mt="sm" data-testid="messaging-limit">
          {limit.remaining_today == null
            ? t("campaigns.limit.unlimited", { tier: limit.tier })
            : t("campaigns.limit.today", {
                tier: limit.tier,
                remaining: formatNumber(limit.remaining_today),
                perDay: formatNumber(limit.per_day ?? 0),
              })}
        </Text>
      )}
    </Card>
  );
}

function ScheduleCard({ campaign, onChange }: { campaign: Campaign; onChange: () => void }) {
  const { t } = useTranslation();
  const [when, setWhen] = useState<"now" | "later">("now");
  const [at, setAt] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function schedule() {
    setBusy(true);
    setError(null);
    try {
      // A time without an offset: the server reads it in the workspace's zone.
      await campaignsApi.schedule(campaign.id, when === "now" ? null : at.length === 16 ? `${at}:00` : at);
      onChange();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Card withBorder data-testid="schedule-card">
      <Title order={2} size="h5" mb="xs">
        {t("campaigns.schedule")}
      </Title>
      <Stack gap="xs">
        <SegmentedControl
          value={when}
          onChange={(v) => setWhen(v as "now" | "later")}
          data={[
            { value: "now", label: t("campaigns.now") },
            { value: "later", label: t("campaigns.later") },
          ]}
        />
        {when === "later" && (
          <TextInput
            type="datetime-local"
            label={t("campaigns.startAt")}
            description={t("campaigns.startAtHint")}
            value={at}
            onChange={(e) => setAt(e.currentTarget.value)}
            data-testid="schedule-at"
          />
        )}
        {error && (
          <Alert color="red" role="alert" data-testid="schedule-error">
            {error}
          </Alert>
        )}
        <Group justify="flex-end">
          <Button onClick={() => void schedule()} loading={busy} data-testid="campaign-schedule">
            {when === "now" ? t("campaigns.sendNow") : t("campaigns.scheduleAt")}
          </Button>
        </Group>
      </Stack>
    </Card>
  );
}

function ProgressView({ campaign }: { campaign: Campaign }) {
  const { t } = useTranslation();
  const counts = campaign.progress.counts;
  const actual = campaign.cost_actual;
  return (
    <Stack>
      <Card withBorder data-testid="campaign-progress">
        <Group gap="lg" mb="sm">
          <Text size="sm">
            {t("campaigns.scheduledAt")}: {formatDateTime(campaign.scheduled_at)}
          </Text>
          {campaign.started_at && (
            <Text size="sm">
              {t("campaigns.startedAt")}: {formatDateTime(campaign.started_at)}
            </Text>
          )}
          {campaign.finished_at && (
            <Text size="sm">
              {t("campaigns.finishedAt")}: {formatDateTime(campaign.finished_at)}
            </Text>
          )}
        </Group>
        <SimpleGrid cols={{ base: 2, md: 4, lg: 8 }}>
          {SHOWN_COUNTS.map((status) => (
            <Card key={status} withBorder padding="xs" data-testid={`count-${status}`} data-count={counts[status]}>
              <Text size="xs" c="dimmed">
                {t(`campaigns.recipientStatus.${status}`)}
              </Text>
              <Text fw={700}>{formatNumber(counts[status] + (status === "sent" ? counts.accepted : 0))}</Text>
            </Card>
          ))}
        </SimpleGrid>
        {campaign.messaging_limit?.tier && (
          <Text size="sm" mt="sm" data-testid="messaging-limit">
            {campaign.messaging_limit.remaining_today == null
              ? t("campaigns.limit.unlimited", { tier: campaign.messaging_limit.tier })
              : t("campaigns.limit.today", {
                  tier: campaign.messaging_limit.tier,
                  remaining: formatNumber(campaign.messaging_limit.remaining_today),
                  perDay: formatNumber(campaign.messaging_limit.per_day ?? 0),
                })}
            {campaign.messaging_limit.remaining_today != null &&
              (campaign.messaging_limit.used_by_agents_last_24h ?? 0) > 0 &&
              " " +
                t("campaigns.limit.byOthers", {
                  count: campaign.messaging_limit.used_by_agents_last_24h,
                })}
          </Text>
        )}
        {(campaign.progress.opted_out_after_sending ?? 0) > 0 && (
          <Text size="sm" mt="xs" data-testid="opted-out-after">
            {t("campaigns.optedOutAfter", { count: campaign.progress.opted_out_after_sending })}
          </Text>
        )}
      </Card>
      {campaign.progress.failures.length > 0 && (
        <Card withBorder data-testid="campaign-failures">
          <Title order={2} size="h5" mb="xs">
            {t("campaigns.failures")}
          </Title>
          <Table>
            <Table.Tbody>
              {campaign.progress.failures.map((f) => (
                <Table.Tr key={`${f.error_code}-${f.reason}`}>
                  <Table.Td>{f.error_code ?? ""}</Table.Td>
                  <Table.Td>{f.reason}</Table.Td>
                  <Table.Td>{formatNumber(f.count)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Card>
      )}
      <Card withBorder data-testid="campaign-cost">
        <Title order={2} size="h5" mb="xs">
          {t("campaigns.cost.title")}
        </Title>
        {campaign.cost_estimate && (
          <Text size="sm">
            {t("campaigns.cost.estimated")}:{" "}
            {campaign.cost_estimate.currency
              ? `${campaign.cost_estimate.total} ${campaign.cost_estimate.currency}`
              : t("campaigns.cost.counts", {
                  count: campaign.cost_estimate.recipients,
                  category: campaign.cost_estimate.category,
                })}
          </Text>
        )}
        {actual && (
          <Text size="sm" data-testid="cost-actual">
            {t("campaigns.cost.actual")}: {actual.currency ? `${actual.total} ${actual.currency}` : "—"} (
            {t("campaigns.cost.settled", { settled: actual.settled, count: actual.messages })})
          </Text>
        )}
      </Card>
      <RecipientStatusList campaign={campaign} />
    </Stack>
  );
}

function RecipientStatusList({ campaign }: { campaign: Campaign }) {
  const { t } = useTranslation();
  const [status, setStatus] = useState<string | null>(null);
  const [rows, setRows] = useState<Array<Record<string, unknown>>>([]);
  useEffect(() => {
    const query = status ? `?status=${status}&limit=50` : "?limit=50";
    void api
      .get<{ recipients: Array<Record<string, unknown>> }>(`/campaigns/${campaign.id}/recipients${query}`)
      .then((r) => setRows(r.recipients))
      .catch(() => setRows([]));
  }, [campaign.id, status, campaign.progress.reached, campaign.progress.counts.replied]);
  return (
    <Card withBorder data-testid="campaign-recipients">
      <Group justify="space-between" mb="xs">
        <Title order={2} size="h5">
          {t("campaigns.recipients")}
        </Title>
        <Select
          size="xs"
          clearable
          placeholder={t("campaigns.allStatuses")}
          data={RECIPIENT_STATUSES.map((s) => ({ value: s, label: t(`campaigns.recipientStatus.${s}`) }))}
          value={status}
          onChange={setStatus}
        />
      </Group>
      <Table striped>
        <Table.Tbody>
          {rows.map((row) => (
            <Table.Tr key={String(row.id)} data-testid="recipient-row" data-status={String(row.status)}>
              <Table.Td>{String(row.name ?? "")}</Table.Td>
              <Table.Td>{row.wa_id ? `+${row.wa_id}` : String(row.user_id ?? "")}</Table.Td>
              <Table.Td>{t(`campaigns.recipientStatus.${row.status}`)}</Table.Td>
              <Table.Td>{String(row.error ?? "")}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Card>
  );
}
