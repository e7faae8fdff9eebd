// What /api/v1/costs and /api/v1/rate-cards answer (amounts are decimal strings).

export interface Estimate {
  category: string;
  pricing_model: string;
  currency: string | null;
  rate_card_id: number | null;
  recipients: number;
  billable: number;
  free: number;
  unpriced: number;
  total: string;
  by_market: { market: string | null; recipients: number; billable: number; unpriced: number; total: string }[];
}

export interface ReportLine {
  key: string | null;
  label: string | null;
  messages: number;
  billable: number;
  free: number;
  unsettled: number;
  unpriced: number;
  estimated: string;
  actual: string;
  difference: string;
  cost: string;
}

export interface CostReport {
  from: string;
  to: string;
  timezone: string;
  group: "day" | "week" | "month";
  by: string;
  currency: string | null;
  other_currencies: string[];
  total: ReportLine;
  series: ReportLine[];
  breakdown: ReportLine[];
}

export interface RateCard {
  id: number;
  name: string;
  currency: string;
  effective_from: string;
  source: string;
  in_force: boolean;
  created_at: string;
  rates: { market: string; category: string; tier_from: number; rate: string }[] | null;
}

export interface BudgetState {
  monthly: string;
  currency: string;
  hard_limit: boolean;
  month: string;
  spent: string;
  percent: number;
  alerts_sent: number[];
}
