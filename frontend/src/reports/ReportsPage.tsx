import { useCallback, useEffect, useMemo, useState } from "react";
import {
  Alert,
  Button,
  Card,
  Group,
  Loader,
  MultiSelect,
  SegmentedControl,
  Select,
  SimpleGrid,
  Stack,
  Table,
  Tabs,
  Text,
  TextInput,
  Title,
} from "@mantine/core";
import { useTranslation } from "react-i18next";
import {
  Bar,
  BarChart,
  CartesianGrid,
  Legend,
  Line as ChartLine,
  LineChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";
import { ApiError, api } from "../api/client";
import { useNewest } from "../api/newest";
import type { Agent, PhoneNumber, Queue } from "../api/types";
import { navigate } from "../router";
import { Heatmap } from "./Heatmap";
import { useFigureFormat } from "./format";
import {
  DEFAULT_FILTERS,
  GROUPS,
  HEADLINES,
  PERIODS,
  REPORTS,
  TREND_DEFAULTS,
  reportQuery,
  type Filters,
  type Line,
  type ReportBody,
  type ReportName,
} from "./types";

// Figures that count things (whole numbers on the axis); rates and times are not.
const isCount = (key: string) => !/(_seconds|_percent)$/.test(key) && key !== "score";

/** A series bucket as people read it: "2026-12-03T09:00" → "12-03 09:00", days as they are. */
export function bucketLabel(bucket: string): string {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d:\d\d)/.exec(bucket);
  return m ? `${m[2]}-${m[3]} ${m[4]}` : bucket;
}

const COLORS = ["#1c7ed6", "#2f9e44", "#e8590c", "#ae3ec9", "#f08c00", "#0c8599"];

function reportOf(path: string): ReportName {
  const name = path.split("/")[2] as ReportName | undefined;
  return name && (REPORTS as readonly string[]).includes(name) ? name : "overview";
}

function numericKeys(lines: Line[] | undefined): string[] {
  const keys: string[] = [];
  for (const line of lines ?? []) {
    for (const [key, value] of Object.entries(line)) {
      if (key !== "bucket" && !key.endsWith("_id") && typeof value === "number" && !keys.includes(key)) keys.push(key);
    }
  }
  return keys;
}

/** /reports/<name>: historical reports for supervisors and admins, with charts and CSV. */
export function ReportsPage({ path }: { path: string }) {
  const { t } = useTranslation();
  const name = reportOf(path);
  const [filters, setFilters] = useState<Filters>(DEFAULT_FILTERS);
  const [body, setBody] = useState<ReportBody | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [queues, setQueues] = useState<Queue[]>([]);
  const [agents, setAgents] = useState<Agent[]>([]);
  const [numbers, setNumbers] = useState<PhoneNumber[]>([]);
  const [picked, setPicked] = useState<string[] | null>(null);

  useEffect(() => {
    api.get<Queue[]>("/queues").then(setQueues).catch(() => setQueues([]));
    api.get<Agent[]>("/agents").then(setAgents).catch(() => setAgents([]));
    api.get<PhoneNumber[]>("/phone-numbers").then(setNumbers).catch(() => setNumbers([]));
  }, []);

  // Filters change faster than reports answer (an older answer landing last showed the
  // period asked for before).
  const reads = useNewest();
  const load = useCallback((report: ReportName, f: Filters) => {
    if (f.period === "custom" && (!f.from || !f.to)) return;
    const newest = reads.begin();
    setLoading(true);
    setError(null);
    api
      .get<ReportBody>(`/reports/${report}?${reportQuery(f)}`)
      .then((r) => newest() && setBody(r))
      .catch((err) => newest() && setError(err instanceof ApiError ? err.message : String(err)))
      .finally(() => newest() && setLoading(false));
  }, [reads]);

  useEffect(() => {
    setPicked(null);
    setBody(null);
  }, [name]);

  useEffect(() => load(name, filters), [name, filters, load]);

  function change(patch: Partial<Filters>) {
    setFilters((f) => {
      const next = { ...f, ...patch };
      if (patch.period === "custom" && (!next.from || !next.to) && body) {
        next.from = body.period.from;
        next.to = body.period.to;
      }
      return next;
    });
  }

  const current = body && body.report === name ? body : null;
  const available = numericKeys(current?.series);
  const shown = (picked ?? TREND_DEFAULTS[name]).filter((k) => available.includes(k));
  const trendKeys = shown.length ? shown : available.slice(0, 3);

  return (
    <div className="page" data-testid="reports-page" data-report={name} data-loading={loading || undefined}>
      <Group justify="space-between" mb="sm">
        <Title order={1} size="h3">
          {t("reports.title")}
        </Title>
        <Button
          component="a"
          variant="light"
          href={`/api/v1/reports/${name}?${reportQuery(filters, { format: "csv" })}`}
          download
          data-testid="reports-csv"
        >
          {t("reports.csv")}
        </Button>
      </Group>
      <Tabs value={name} onChange={(v) => v && navigate(`/reports/${v}`)} mb="md">
        <Tabs.List>
          {REPORTS.map((r) => (
            <Tabs.Tab key={r} value={r} data-testid={`reports-tab-${r}`}>
              {t(`reports.names.${r}`)}
            </Tabs.Tab>
          ))}
        </Tabs.List>
      </Tabs>
      <Controls
        filters={filters}
        change={change}
        queues={queues}
        agents={agents}
        numbers={numbers}
      />
      {error && (
        <Alert color="red" mb="md" data-testid="reports-error">
          {error}
        </Alert>
      )}
      {!current && !error && <Loader aria-label={t("common.loading")} />}
      {current && (
        <Stack gap="md" data-testid="reports-body" data-period-from={current.period.from} data-period-to={current.period.to} data-group={current.group}>
          <Text size="sm" c="dimmed" data-testid="reports-period">
            {t("reports.periodShown", { from: current.period.from, to: current.period.to, tz: current.period.tz })}
          </Text>
          <Totals name={name} totals={current.totals} />
          <Card withBorder>
            <Group justify="space-between" mb="xs">
              <Title order={2} size="h5">
                {t("reports.trend")}
              </Title>
              <MultiSelect
                aria-label={t("reports.metricsShown")}
                data={available.map((k) => ({ value: k, label: t(`reports.metrics.${k}`, { defaultValue: k }) }))}
                value={trendKeys}
                onChange={setPicked}
                w={420}
                size="xs"
                comboboxProps={{ withinPortal: false }}
                data-testid="reports-trend-metrics"
              />
            </Group>
            <TrendChart series={current.series ?? []} keys={trendKeys} />
          </Card>
          {current.distributions && Object.keys(current.distributions).length > 0 && (
            <SimpleGrid cols={{ base: 1, md: 2 }}>
              {Object.entries(current.distributions).map(([key, buckets]) => (
                <Card withBorder key={key} data-testid={`reports-distribution-${key}`}>
                  <Title order={2} size="h5" mb="xs">
                    {t(`reports.distributions.${key}`, { defaultValue: key })}
                  </Title>
                  <ResponsiveContainer width="100%" height={220}>
                    <BarChart data={buckets}>
                      <CartesianGrid strokeDasharray="3 3" />
                      <XAxis dataKey="bucket" fontSize={12} />
                      <YAxis allowDecimals={false} fontSize={12} />
                      <Tooltip />
                      <Bar dataKey="count" name={t("reports.count")} fill={COLORS[0]} isAnimationActive={false} />
                    </BarChart>
                  </ResponsiveContainer>
                </Card>
              ))}
            </SimpleGrid>
          )}
          {current.heatmap && current.heatmap.length > 0 && (
            <Card withBorder data-testid="reports-heatmap">
              <Title order={2} size="h5" mb="xs">
                {t("reports.heatmap")}
              </Title>
              <Heatmap cells={current.heatmap} />
            </Card>
          )}
          {current.funnel && (
            <Card withBorder data-testid="reports-funnel">
              <Title order={2} size="h5" mb="xs">
                {t("reports.funnel")}
              </Title>
              {current.funnel.length === 0 ? (
                <Text c="dimmed">{t("reports.empty")}</Text>
              ) : (
                <ResponsiveContainer width="100%" height={Math.max(160, 36 * current.funnel.length)}>
                  <BarChart data={current.funnel} layout="vertical" margin={{ left: 40 }}>
                    <CartesianGrid strokeDasharray="3 3" />
                    <XAxis type="number" allowDecimals={false} fontSize={12} />
                    <YAxis type="category" dataKey="widget" width={140} fontSize={12} />
                    <Tooltip />
                    <Legend />
                    <Bar dataKey="entered" name={t("reports.metrics.entered")} fill={COLORS[0]} isAnimationActive={false} />
                    <Bar dataKey="left" name={t("reports.metrics.left")} fill={COLORS[2]} isAnimationActive={false} />
                  </BarChart>
                </ResponsiveContainer>
              )}
            </Card>
          )}
          {current.occupancy && !current.occupancy.shown && (
            <Alert color="gray" data-testid="reports-occupancy-note">
              {t("reports.occupancyNotShown")}
            </Alert>
          )}
          {current.occupancy?.shown && current.rows && current.rows.some((r) => r.occupancy_percent != null) && (
            <Card withBorder data-testid="reports-occupancy">
              <Title order={2} size="h5" mb="xs">
                {t("reports.occupancyChart")}
              </Title>
              <ResponsiveContainer width="100%" height={Math.max(120, 36 * current.rows.length)}>
                <BarChart data={current.rows} layout="vertical" margin={{ left: 40 }}>
                  <CartesianGrid strokeDasharray="3 3" />
                  <XAxis type="number" domain={[0, 100]} unit=" %" fontSize={12} />
                  <YAxis type="category" dataKey="agent" width={140} fontSize={12} />
                  <Tooltip />
                  <Bar
                    dataKey="occupancy_percent"
                    name={t("reports.metrics.occupancy_percent")}
                    fill={COLORS[1]}
                    isAnimationActive={false}
                  />
                </BarChart>
              </ResponsiveContainer>
            </Card>
          )}
          {current.rows && current.rows.length > 0 && (
            <Card withBorder>
              <Title order={2} size="h5" mb="xs">
                {t("reports.table")}
              </Title>
              <FigureTable lines={current.rows} testid="reports-row" />
            </Card>
          )}
          {current.agents && current.agents.length > 0 && (
            <Card withBorder>
              <Title order={2} size="h5" mb="xs">
                {t("reports.names.agents")}
              </Title>
              <FigureTable lines={current.agents} testid="reports-agent-row" />
            </Card>
          )}
          <Card withBorder>
            <Title order={2} size="h5" mb="xs">
              {t("reports.byBucket")}
            </Title>
            <FigureTable lines={current.series ?? []} testid="reports-series-row" limit={SERIES_ROWS_SHOWN} />
          </Card>
        </Stack>
      )}
    </div>
  );
}

function Controls({
  filters,
  change,
  queues,
  agents,
  numbers,
}: {
  filters: Filters;
  change: (patch: Partial<Filters>) => void;
  queues: Queue[];
  agents: Agent[];
  numbers: PhoneNumber[];
}) {
  const { t } = useTranslation();
  return (
    <Stack gap="xs" mb="md">
      <Group align="flex-end" wrap="wrap">
        <SegmentedControl
          aria-label={t("reports.period")}
          data-testid="reports-period-picker"
          value={filters.period}
          onChange={(v) => change({ period: v as Filters["period"] })}
          data={PERIODS.map((p) => ({ value: p, label: t(`reports.periods.${p}`) }))}
        />
        {filters.period === "custom" && (
          <>
            <TextInput
              type="date"
              label={t("reports.from")}
              value={filters.from}
              onChange={(e) => change({ from: e.currentTarget.value })}
              data-testid="reports-from"
            />
            <TextInput
              type="date"
              label={t("reports.to")}
              value={filters.to}
              onChange={(e) => change({ to: e.currentTarget.value })}
              data-testid="reports-to"
            />
          </>
        )}
        <Select
          label={t("reports.group")}
          data={GROUPS.map((g) => ({ value: g, label: t(`reports.groups.${g}`) }))}
          value={filters.group}
          onChange={(v) => v && change({ group: v as Filters["group"] })}
          allowDeselect={false}
          comboboxProps={{ withinPortal: false }}
          data-testid="reports-group"
          w={130}
        />
        <Select
          label={t("reports.businessHours")}
          data={[
            { value: "all", label: t("reports.hours.all") },
            { value: "true", label: t("reports.hours.inside") },
            { value: "false", label: t("reports.hours.outside") },
          ]}
          value={filters.business_hours}
          onChange={(v) => v && change({ business_hours: v as Filters["business_hours"] })}
          allowDeselect={false}
          comboboxProps={{ withinPortal: false }}
          data-testid="reports-business-hours"
          w={190}
        />
      </Group>
      <Group align="flex-end" wrap="wrap">
        <Select
          label={t("reports.queue")}
          placeholder={t("reports.any")}
          data={queues.map((q) => ({ value: String(q.id), label: q.name }))}
          value={filters.queue_id}
          onChange={(v) => change({ queue_id: v })}
          clearable
          comboboxProps={{ withinPortal: false }}
          data-testid="reports-queue"
          w={180}
        />
        <Select
          label={t("reports.agent")}
          placeholder={t("reports.any")}
          data={agents.map((a) => ({ value: String(a.user_id), label: a.name }))}
          value={filters.agent_id}
          onChange={(v) => change({ agent_id: v })}
          clearable
          searchable
          comboboxProps={{ withinPortal: false }}
          data-testid="reports-agent"
          w={180}
        />
        {numbers.length > 0 && (
          <Select
            label={t("reports.number")}
            placeholder={t("reports.any")}
            data={numbers.map((n) => ({ value: String(n.id), label: n.display_phone_number }))}
            value={filters.number_id}
            onChange={(v) => change({ number_id: v })}
            clearable
            comboboxProps={{ withinPortal: false }}
            data-testid="reports-number"
            w={180}
          />
        )}
        <TextInput
          label={t("reports.tag")}
          placeholder={t("reports.any")}
          defaultValue={filters.tag}
          onBlur={(e) => change({ tag: e.currentTarget.value })}
          onKeyDown={(e) => e.key === "Enter" && change({ tag: e.currentTarget.value })}
          data-testid="reports-tag"
          w={140}
        />
        <TextInput
          label={t("reports.disposition")}
          placeholder={t("reports.any")}
          defaultValue={filters.disposition}
          onBlur={(e) => change({ disposition: e.currentTarget.value })}
          onKeyDown={(e) => e.key === "Enter" && change({ disposition: e.currentTarget.value })}
          data-testid="reports-disposition"
          w={140}
        />
      </Group>
    </Stack>
  );
}

function Totals({ name, totals }: { name: ReportName; totals?: Line }) {
  const { t } = useTranslation();
  const format = useFigureFormat();
  if (!totals) return null;
  const keys = HEADLINES[name].filter((k) => k in totals);
  return (
    <SimpleGrid cols={{ base: 2, sm: 3, lg: Math.min(7, Math.max(keys.length, 1)) }} data-testid="reports-totals">
      {keys.map((key) => (
        <Card withBorder key={key} padding="sm" data-testid="reports-total" data-key={key}>
          <Text size="xs" c="dimmed">
            {t(`reports.metrics.${key}`, { defaultValue: key })}
          </Text>
          <Text fw={700} size="xl" data-testid={`reports-total-${key}`}>
            {format(key, totals[key])}
          </Text>
        </Card>
      ))}
    </SimpleGrid>
  );
}

function TrendChart({ series, keys }: { series: Line[]; keys: string[] }) {
  const { t } = useTranslation();
  const data = useMemo(
    () => series.map((line) => ({ ...line, bucket: String(line.bucket) })),
    [series],
  );
  return (
    <div data-testid="reports-trend">
      <ResponsiveContainer width="100%" height={260}>
        <LineChart data={data}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis dataKey="bucket" fontSize={12} minTickGap={16} tickFormatter={bucketLabel} />
          <YAxis fontSize={12} allowDecimals={!keys.every(isCount)} />
          <Tooltip labelFormatter={(b) => bucketLabel(String(b))} />
          <Legend />
          {keys.map((key, i) => (
            <ChartLine
              key={key}
              type="linear"
              dataKey={key}
              name={t(`reports.metrics.${key}`, { defaultValue: key })}
              stroke={COLORS[i % COLORS.length]}
              dot={data.length < 40}
              isAnimationActive={false}
              connectNulls
            />
          ))}
        </LineChart>
      </ResponsiveContainer>
    </div>
  );
}

// A long series (30 days by hour: 720 buckets) is drawn whole but tabled in part, on demand.
const SERIES_ROWS_SHOWN = 100;

function FigureTable({ lines: all, testid, limit }: { lines: Line[]; testid: string; limit?: number }) {
  const { t } = useTranslation();
  const format = useFigureFormat();
  const [expanded, setExpanded] = useState(false);
  const lines = limit && !expanded ? all.slice(0, limit) : all;
  const columns: string[] = [];
  for (const line of lines) {
    for (const key of Object.keys(line)) {
      if (!key.endsWith("_id") && !columns.includes(key)) columns.push(key);
    }
  }
  return (
    <Table.ScrollContainer minWidth={600}>
      <Table striped highlightOnHover withTableBorder fz="sm">
        <Table.Thead>
          <Table.Tr>
            {columns.map((c) => (
              <Table.Th key={c}>{t(`reports.metrics.${c}`, { defaultValue: c })}</Table.Th>
            ))}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {lines.map((line, i) => (
            <Table.Tr key={i} data-testid={testid}>
              {columns.map((c) => (
                <Table.Td key={c} style={{ whiteSpace: "nowrap" }}>{c === "bucket" ? bucketLabel(String(line[c])) : format(c, line[c])}</Table.Td>
              ))}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {lines.length < all.length && (
        <Button variant="subtle" size="xs" mt="xs" onClick={() => setExpanded(true)} data-testid="reports-show-all">
          {t("reports.showAll", { count: all.length })}
        </Button>
      )}
    </Table.ScrollContainer>
  );
}
