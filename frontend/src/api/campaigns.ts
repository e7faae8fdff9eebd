// Campaigns as /api/v1/campaigns returns them, and the calls the Campaigns page makes.
import { api } from "./client";

export type CampaignStatus = "draft" | "scheduled" | "sending" | "paused" | "finished" | "stopped";

export const RECIPIENT_STATUSES = [
  "pending",
  "queued",
  "accepted",
  "sent",
  "delivered",
  "read",
  "failed",
  "replied",
  "opted_out",
  "skipped",
  "stopped",
] as const;
export type RecipientStatus = (typeof RECIPIENT_STATUSES)[number];

export interface RowProblem {
  line: number;
  code: string;
  message: string;
}

export interface AudienceReport {
  rows: number;
  added: number;
  duplicates: number;
  opted_out: number;
  invalid: number;
  blank_lines: number;
  problems: RowProblem[];
  problems_truncated: boolean;
  duplicate_lines: number[];
  columns?: string[];
}

export interface MarketLine {
  market: string | null;
  recipients: number;
  billable: number;
  unpriced: number;
  total: string;
}

export interface CostEstimate {
  category: string;
  currency: string | null;
  recipients: number;
  billable: number;
  free: number;
  unpriced: number;
  total: string;
  by_market: MarketLine[];
}

export interface CostActual {
  messages: number;
  billable: number;
  settled: number;
  currency: string | null;
  total: string;
}

export interface Progress {
  total: number;
  reached: number;
  /** Of those reached: opted out of marketing after their message was queued. */
  opted_out_after_sending?: number;
  counts: Record<RecipientStatus, number>;
  failures: Array<{ error_code: number | null; reason: string | null; count: number }>;
}

export interface MessagingLimit {
  tier?: string;
  per_day?: number | null;
  used_last_24h?: number;
  /** Of those used: reached by other templates (agents', flows', the API's). */
  used_by_agents_last_24h?: number;
  remaining_today?: number | null;
  error?: string;
}

export interface Campaign {
  id: number;
  name: string;
  status: CampaignStatus;
  status_reason: string | null;
  phone_number_id: string | null;
  display_phone_number: string | null;
  template: { id: number; name: string; language: string; category: string; status: string } | null;
  values: Record<string, unknown>;
  queue_id: number | null;
  agent_id: number | null;
  route_back_hours: number;
  scheduled_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  columns: string[];
  audience_report: AudienceReport | null;
  created_at: string;
  progress: Progress;
  messaging_limit?: MessagingLimit;
  cost_estimate?: CostEstimate | null;
  cost_actual?: CostActual;
}

export interface CampaignPreview {
  message: { header: unknown; body: string; footer: string | null; missing: string[] };
  parameters: string[];
  problems: Array<{ field: string; message: string }>;
  cost_estimate: CostEstimate;
}

export interface CampaignInput {
  name: string;
  phone_number_id: string;
  template_id: number;
  values: Record<string, unknown>;
  queue_id: number | null;
  route_back_hours: number;
}

export const campaignsApi = {
  list: () => api.get<{ campaigns: Campaign[] }>("/campaigns").then((r) => r.campaigns),
  get: (id: number) => api.get<Campaign>(`/campaigns/${id}`),
  create: (body: CampaignInput) => api.post<Campaign>("/campaigns", body as unknown as Record<string, unknown>),
  update: (id: number, body: CampaignInput) =>
    api.put<Campaign>(`/campaigns/${id}`, body as unknown as Record<string, unknown>),
  preview: (id: number) => api.get<CampaignPreview>(`/campaigns/${id}/preview`),
  upload: (id: number, file: File, defaultCountry: string | null) => {
    const form = new FormData();
    form.append("file", file);
    if (defaultCountry) form.append("default_country", defaultCountry);
    return api.post<AudienceReport>(`/campaigns/${id}/audience`, form);
  },
  addTags: (id: number, tags: string[]) => api.post<AudienceReport>(`/campaigns/${id}/audience/tags`, { tags }),
  schedule: (id: number, at: string | null) => api.post<Campaign>(`/campaigns/${id}/schedule`, { at }),
  action: (id: number, action: "pause" | "resume" | "stop") => api.post<Campaign>(`/campaigns/${id}/${action}`),
  exportUrl: (id: number) => `/api/v1/campaigns/${id}/export.csv`,
};
