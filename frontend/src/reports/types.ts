// The shape of GET /api/v1/reports/{name} (docs/reports.md, docs/metrics.md).

export const REPORTS = ["overview", "queues", "agents", "flows", "templates", "csat", "calls"] as const;
export type ReportName = (typeof REPORTS)[number];

export const PERIODS = ["today", "yesterday", "7d", "30d", "custom"] as const;
export type Period = (typeof PERIODS)[number];

export const GROUPS = ["hour", "day", "week", "month"] as const;
export type Group = (typeof GROUPS)[number];

export type Figure = number | string | boolean | null;
export type Line = Record<string, Figure>;

export interface Bucket {
  bucket: string;
  count: number;
}

export interface ReportBody {
  report: ReportName;
  period: { name: Period; from: string; to: string; tz: string; start?: string; end?: string };
  group: Group;
  totals?: Line;
  series?: Line[];
  rows?: Line[];
  agents?: Line[];
  distributions?: Record<string, Bucket[]>;
  heatmap?: { weekday: string; hour: number; count: number }[];
  funnel?: { flow_id?: number; widget: string; type?: string; entered: number; left: number }[];
  /** Agents report: whether occupancy is shown, and why not (a filter it cannot honour). */
  occupancy?: { shown: boolean; agents?: string; message?: string };
}

export interface Filters {
  period: Period;
  from: string;
  to: string;
  group: Group;
  queue_id: string | null;
  agent_id: string | null;
  number_id: string | null;
  tag: string;
  disposition: string;
  business_hours: "all" | "true" | "false";
}

export const DEFAULT_FILTERS: Filters = {
  period: "7d",
  from: "",
  to: "",
  group: "day",
  queue_id: null,
  agent_id: null,
  number_id: null,
  tag: "",
  disposition: "",
  business_hours: "all",
};

/** The query string of a report request (also the CSV link's). */
export function reportQuery(f: Filters, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams({ period: f.period, group: f.group, ...extra });
  if (f.period === "custom") {
    if (f.from) params.set("from", f.from);
    if (f.to) params.set("to", f.to);
  }
  if (f.queue_id) params.set("queue_id", f.queue_id);
  if (f.agent_id) params.set("agent_id", f.agent_id);
  if (f.number_id) params.set("number_id", f.number_id);
  if (f.tag.trim()) params.set("tag", f.tag.trim());
  if (f.disposition.trim()) params.set("disposition", f.disposition.trim());
  if (f.business_hours !== "all") params.set("business_hours", f.business_hours);
  return params.toString();
}

/** Which series each report draws by default (those present in the data are used). */
export const TREND_DEFAULTS: Record<ReportName, string[]> = {
  overview: ["arrived", "answered", "abandoned"],
  queues: ["arrived", "answered", "abandoned"],
  agents: ["answered", "handled", "messages_out"],
  flows: ["flow_entered", "bot_resolved", "handoffs"],
  templates: ["templates_marketing", "templates_utility", "templates_authentication"],
  csat: ["asked", "answered", "score"],
  calls: ["offered", "answered", "missed"],
};

/** Headline figures shown as cards above the charts. */
export const HEADLINES: Record<ReportName, string[]> = {
  overview: [
    "arrived",
    "answered",
    "abandon_rate_percent",
    "service_level_percent",
    "average_wait_seconds",
    "average_first_response_seconds",
    "average_handle_seconds",
  ],
  queues: ["arrived", "answered", "abandoned", "service_level_percent", "average_wait_seconds"],
  agents: [
    "answered",
    "handled",
    "average_handle_seconds",
    "average_first_response_seconds",
    "transfers",
    "occupancy_percent",
  ],
  flows: ["flow_entered", "bot_resolved", "bot_resolved_percent", "handoffs"],
  templates: ["templates_marketing", "templates_utility", "templates_authentication"],
  csat: ["asked", "answered", "response_rate_percent", "score", "satisfied_percent"],
  calls: ["offered", "answered", "missed", "answer_rate_percent", "average_talk_seconds"],
};
