import { useTranslation } from "react-i18next";
import { formatNumber } from "../format";
import type { Figure } from "./types";

/** A figure as people read it: durations for *_seconds, percentages for *_percent. */
export function useFigureFormat(): (key: string, value: Figure | undefined) => string {
  const { t } = useTranslation();
  return (key, value) => {
    if (value === null || value === undefined || value === "") return "—";
    if (typeof value === "boolean") return value ? t("reports.yes") : t("reports.no");
    if (typeof value === "string") {
      if (key === "category") return t(`reports.categories.${value}`, { defaultValue: value });
      if (key === "weekday") return t(`reports.weekdays.${value}`, { defaultValue: value });
      return value;
    }
    if (key.endsWith("_seconds")) return duration(value, t);
    if (key.endsWith("_percent")) return `${formatNumber(Math.round(value * 10) / 10)} %`;
    if (key === "score") return formatNumber(Math.round(value * 100) / 100);
    return formatNumber(Math.round(value * 10) / 10);
  };
}

function duration(seconds: number, t: (key: string, options?: Record<string, unknown>) => string): string {
  const s = Math.round(seconds);
  if (s < 60) return t("reports.duration.s", { s });
  if (s < 3600) return t("reports.duration.ms", { m: Math.floor(s / 60), s: String(s % 60).padStart(2, "0") });
  return t("reports.duration.hm", { h: Math.floor(s / 3600), m: String(Math.floor((s % 3600) / 60)).padStart(2, "0") });
}
