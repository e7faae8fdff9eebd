import { Box, Group, Text } from "@mantine/core";
import { useTranslation } from "react-i18next";

const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/** Arrivals by weekday × hour of the day (workspace time), darker = more. */
export function Heatmap({ cells }: { cells: { weekday: string; hour: number; count: number }[] }) {
  const { t } = useTranslation();
  const max = Math.max(1, ...cells.map((c) => c.count));
  const at = new Map(cells.map((c) => [`${c.weekday}:${c.hour}`, c.count]));
  return (
    <Box style={{ overflowX: "auto" }}>
      <div
        className="reports-heatmap"
        role="table"
        aria-label={t("reports.heatmap")}
        style={{ display: "grid", gridTemplateColumns: "3.5em repeat(24, minmax(22px, 1fr))", gap: 2, minWidth: 640 }}
      >
        <div />
        {Array.from({ length: 24 }, (_, h) => (
          <Text key={h} size="xs" c="dimmed" ta="center">
            {h}
          </Text>
        ))}
        {WEEKDAYS.map((day) => (
          <Row key={day} day={day} at={at} max={max} label={t(`reports.weekdays.${day}`)} />
        ))}
      </div>
      <Group gap={4} mt={6}>
        <Text size="xs" c="dimmed">
          {t("reports.heatmapLegend", { max })}
        </Text>
      </Group>
    </Box>
  );
}

function Row({ day, at, max, label }: { day: string; at: Map<string, number>; max: number; label: string }) {
  return (
    <>
      <Text size="xs" role="rowheader">
        {label}
      </Text>
      {Array.from({ length: 24 }, (_, h) => {
        const count = at.get(`${day}:${h}`) ?? 0;
        const alpha = count === 0 ? 0.04 : 0.15 + 0.85 * (count / max);
        return (
          <div
            key={h}
            role="cell"
            data-testid="heatmap-cell"
            data-count={count}
            title={`${label} ${h}:00 — ${count}`}
            style={{ background: `rgba(28, 126, 214, ${alpha})`, height: 22, borderRadius: 3 }}
          />
        );
      })}
    </>
  );
}
