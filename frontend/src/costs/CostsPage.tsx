import { useCallback, useEffect, useState } from "react";
import { Alert, Button, Card, Group, Select, SimpleGrid, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { ApiError, api } from "../api/client";
import { useNewest } from "../api/newest";
import { useSession } from "../session";
import { BudgetPanel } from "./BudgetPanel";
import { RateCardsPanel } from "./RateCardsPanel";
import { formatMoney, marketName } from "./money";
import type { CostReport, ReportLine } from "./types";

const GROUPS = ["day", "week", "month"] as const;
const DIMENSIONS = ["category", "market", "template", "queue", "agent", "number"] as const;

interface Filters {
  from: string;
  to: string;
  group: (typeof GROUPS)[number];
  by: (typeof DIMENSIONS)[number];
}

function query(f: Filters, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams({ group: f.group, by: f.by, ...extra });
  if (f.from) params.set("from", f.from);
  if (f.to) params.set("to", f.to);
  return params.toString();
}

/** /costs: what WhatsApp messages cost, by period and by what the manager picks. */
export function CostsPage() {
  const { t } = useTranslation();
  const { me } = useSession();
  const [filters, setFilters] = useState<Filters>({ from: "", to: "", group: "day", by: "category" });
  const [report, setReport] = useState<CostReport | null>(null);
  const [error, setError] = useState<string | null>(null);

  // Filters change faster than the report answers (an older answer landing last showed
  // the grouping asked for before).
  const reads = useNewest();
  const load = useCallback(
    (f: Filters) => {
      const newest = reads.begin();
      setError(null);
      api
        .get<CostReport>(`/costs/report?${query(f)}`)
        .then((r) => {
          if (!newest()) return;
          setReport(r);
          // the dates the server chose, unless the person changed the filters meanwhile
          if (!f.from || !f.to) setFilters((now) => (now.from || now.to ? now : { ...now, from: r.from, to: r.to }));
        })
        .catch((err) => newest() && setError(err instanceof ApiError ? err.message : String(err)));
    },
    [reads],
  );

  useEffect(() => load(filters), []); // eslint-disable-line react-hooks/exhaustive-deps

  function change(patch: Partial<Filters>) {
    const next = { ...filters, ...patch };
    setFilters(next);
    if (Boolean(next.from) === Boolean(next.to)) load(next); // both dates, or the default period
  }

  const currency = report?.currency ?? null;
  const money = (amount: string) => formatMoney(amount, currency);

  function label(line: ReportLine): string {
    if (line.key === null) return t("costs.none");
    if (filters.by === "category") return t(`costs.category.${line.key}`, { defaultValue: line.key });
    if (filters.by === "market") return marketName(line.key);
    return line.label ?? line.key;
  }

  const chart = (report?.series ?? []).map((line) => ({
    period: line.key,
    [t("costs.estimated")]: Number(line.estimated),
    [t("costs.actual")]: Number(line.actual),
  }));

  return (
    <div className="page" data-testid="costs-page">
      <Title order={1} size="h3" mb="md">
        {t("costs.title")}
      </Title>
      <Group align="flex-end" mb="md" wrap="wrap">
        <TextInput
          type="date"
          label={t("costs.from")}
          value={filters.from}
          onChange={(e) => change({ from: e.currentTarget.value })}
          data-testid="costs-from"
        />
        <TextInput
          type="date"
          label={t("costs.to")}
          value={filters.to}
          onChange={(e) => change({ to: e.currentTarget.value })}
          data-testid="costs-to"
        />
        <Select
          label={t("costs.group")}
          data={GROUPS.map((g) => ({ value: g, label: t(`costs.groups.${g}`) }))}
          value={filters.group}
          onChange={(v) => v && change({ group: v as Filters["group"] })}
          allowDeselect={false}
          comboboxProps={{ withinPortal: false }}
          data-testid="costs-group"
          w={140}
        />
        <Select
          label={t("costs.by")}
          data={DIMENSIONS.map((d) => ({ value: d, label: t(`costs.dimensions.${d}`) }))}
          value={filters.by}
          onChange={(v) => v && change({ by: v as Filters["by"] })}
          allowDeselect={false}
          comboboxProps={{ withinPortal: false }}
          data-testid="costs-by"
          w={160}
        />
        <Button
          component="a"
          variant="light"
          href={`/api/v1/costs/report.csv?${query(filters)}`}
          download
          data-testid="costs-csv"
        >
          {t("costs.csv")}
        </Button>
      </Group>
      {error && (
        <Alert color="red" role="alert" mb="md">
          {error}
        </Alert>
      )}
      {report && (
        <Stack>
          {report.other_currencies.length > 0 && (
            <Alert color="yellow">{t("costs.otherCurrencies", { currencies: report.other_currencies.join(", ") })}</Alert>
          )}
          <SimpleGrid cols={{ base: 2, md: 5 }} data-testid="costs-totals">
            <Total label={t("costs.cost")} value={money(report.total.cost)} testId="costs-total" hint={t("costs.costHint")} />
            <Total label={t("costs.estimated")} value={money(report.total.estimated)} />
            <Total label={t("costs.actual")} value={money(report.total.actual)} />
            <Total label={t("costs.difference")} value={money(report.total.difference)} hint={t("costs.differenceHint")} />
            <Total
              label={t("costs.messages")}
              value={String(report.total.messages)}
              hint={t("costs.messagesHint", { billable: report.total.billable, free: report.total.free, unsettled: report.total.unsettled })}
            />
          </SimpleGrid>
          {!currency && <Text c="dimmed">{t("costs.noCard")}</Text>}
          <Card withBorder data-testid="costs-chart">
            <ResponsiveContainer width="100%" height={260}>
              <BarChart data={chart}>
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis dataKey="period" fontSize={12} />
                <YAxis fontSize={12} />
                <Tooltip formatter={(value) => money(String(value))} />
                <Legend />
                <Bar dataKey={t("costs.estimated")} fill="#74c0fc" isAnimationActive={false} />
                <Bar dataKey={t("costs.actual")} fill="#1c7ed6" isAnimationActive={false} />
              </BarChart>
            </ResponsiveContainer>
          </Card>
          <Table striped data-testid="costs-breakdown" data-by={report.by} data-group={report.group}>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>{t(`costs.dimensions.${report.by}`)}</Table.Th>
                <Table.Th>{t("costs.messages")}</Table.Th>
                <Table.Th>{t("costs.billable")}</Table.Th>
                <Table.Th>{t("costs.estimated")}</Table.Th>
                <Table.Th>{t("costs.actual")}</Table.Th>
                <Table.Th>{t("costs.difference")}</Table.Th>
                <Table.Th>{t("costs.cost")}</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {report.breakdown.length === 0 && (
                <Table.Tr>
                  <Table.Td colSpan={7}>
                    <Text c="dimmed">{t("costs.empty")}</Text>
                  </Table.Td>
                </Table.Tr>
              )}
              {report.breakdown.map((line) => (
                <Table.Tr key={line.key ?? "-"} data-testid="costs-row" data-key={line.key ?? ""}>
                  <Table.Td>{label(line)}</Table.Td>
                  <Table.Td>{line.messages}</Table.Td>
                  <Table.Td>{line.billable}</Table.Td>
                  <Table.Td>{money(line.estimated)}</Table.Td>
                  <Table.Td>{money(line.actual)}</Table.Td>
                  <Table.Td>{money(line.difference)}</Table.Td>
                  <Table.Td fw={600}>{money(line.cost)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Stack>
      )}
      <SimpleGrid cols={{ base: 1, md: 2 }} mt="xl">
        <BudgetPanel admin={me.role === "admin"} />
        <RateCardsPanel admin={me.role === "admin"} onChange={() => load(filters)} />
      </SimpleGrid>
    </div>
  );
}

function Total({ label, value, hint, testId }: { label: string; value: string; hint?: string; testId?: string }) {
  return (
    <Card withBorder padding="sm">
      <Text size="xs" c="dimmed">
        {label}
      </Text>
      <Text fw={700} size="lg" data-testid={testId}>
        {value}
      </Text>
      {hint && (
        <Text size="xs" c="dimmed">
          {hint}
        </Text>
      )}
    </Card>
  );
}
