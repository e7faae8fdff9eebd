// Dates and numbers in the user's language and the workspace's time zone.
import i18n from "./i18n";

let timeZone: string | undefined;

/** Use the workspace's zone for every date and time; a zone this browser does not know
 * falls back to the browser's own zone rather than breaking every page. */
export function setTimeZone(zone: string | undefined): void {
  timeZone = zone && isKnownZone(zone) ? zone : undefined;
}

function isKnownZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** The IANA zones this browser knows (UTC first), for pickers; the server has the last word. */
export function knownTimeZones(): string[] {
  const supported = (Intl as unknown as { supportedValuesOf?: (key: string) => string[] }).supportedValuesOf;
  const zones = supported ? supported("timeZone") : [];
  return ["UTC", ...zones.filter((z) => z !== "UTC")];
}

function locale(): string {
  return i18n.language === "ja" ? "ja-JP" : "en-US";
}

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return "";
  return new Intl.DateTimeFormat(locale(), {
    dateStyle: "medium",
    timeStyle: "short",
    timeZone,
  }).format(new Date(iso));
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "";
  const date = new Date(iso);
  // "Today" in the workspace's zone, not the browser's.
  const day = new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" });
  const sameDay = day.format(new Date()) === day.format(date);
  return new Intl.DateTimeFormat(locale(), {
    ...(sameDay ? {} : { month: "short", day: "numeric" }),
    hour: "2-digit",
    minute: "2-digit",
    timeZone,
  }).format(date);
}

export function formatNumber(n: number): string {
  return new Intl.NumberFormat(locale()).format(n);
}

export function formatBytes(n: number | null | undefined): string {
  if (n == null) return "";
  const units = ["B", "KB", "MB", "GB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${new Intl.NumberFormat(locale(), { maximumFractionDigits: 1 }).format(value)} ${units[unit]}`;
}

/** "3 min", "2 h 5 min" in the user's language. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const fmt = (value: number, unit: "second" | "minute" | "hour") =>
    new Intl.NumberFormat(locale(), { style: "unit", unit, unitDisplay: "short" }).format(value);
  if (s < 60) return fmt(s, "second");
  if (s < 3600) return fmt(Math.floor(s / 60), "minute");
  return `${fmt(Math.floor(s / 3600), "hour")} ${fmt(Math.floor((s % 3600) / 60), "minute")}`;
}

export function secondsSince(iso: string | null | undefined, now: number = Date.now()): number {
  if (!iso) return 0;
  return (now - new Date(iso).getTime()) / 1000;
}

/** "14:03:27": a clock time to the second (a flow test's steps follow each other fast). */
export function formatClock(iso: string | null | undefined): string {
  if (!iso) return "";
  return new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit", second: "2-digit", timeZone }).format(new Date(iso));
}
