// The flow document of /api/v1/flows as the editor handles it. Validation is the
// server's (POST /flows/validate); this file only knows how to draw a document.

export interface Widget {
  id: string;
  type: string;
  label?: string;
  position?: { x: number; y: number };
  [setting: string]: unknown;
}

export interface FlowEdge {
  from: string;
  exit: string;
  to: string;
}

export interface FlowDefinition {
  variables?: Record<string, unknown>;
  nodes: Widget[];
  edges: FlowEdge[];
}

export interface Problem {
  node: string | null;
  field: string;
  message: string;
}

export interface FlowSummary {
  id: number;
  name: string;
  description: string | null;
  published_version: number | null;
  draft_differs: boolean;
  numbers: string[];
  created_at: string;
  updated_at: string;
}

export interface FlowDetail extends FlowSummary {
  draft: FlowDefinition;
  problems: Problem[];
}

export const WIDGET_TYPES = [
  "start",
  "send_media",
  "collect_input",
  "condition",
  "classify",
  "set_variable",
  "http_request",
  "business_hours",
  "send_template",
  "route_to",
  "end",
] as const;

/** The exits a widget offers, as the server's widget classes define them. */
export function exitsOf(w: Widget): string[] {
  switch (w.type) {
    case "collect_input":
      return w.timeout_seconds ? ["success", "invalid", "timeout"] : ["success", "invalid"];
    case "condition": {
      const out: string[] = [];
      for (const rule of (w.rules as Array<{ exit?: string }> | undefined) ?? []) {
        if (rule.exit && !out.includes(rule.exit)) out.push(rule.exit);
      }
      return [...out, "else"];
    }
    case "classify": {
      const out: string[] = [];
      for (const intent of (w.intents as Array<{ name?: string }> | undefined) ?? []) {
        if (intent.name && !out.includes(intent.name)) out.push(intent.name);
      }
      return [...out, "other"];
    }
    case "http_request":
      return ["success", "failure"];
    case "business_hours":
      return ["open", "closed"];
    case "route_to":
    case "end":
      return [];
    default:
      return ["next"];
  }
}

export function newWidgetId(type: string, taken: Set<string>): string {
  const base = type.replace(/_/g, "-");
  for (let i = 1; ; i += 1) {
    const id = `${base}-${i}`;
    if (!taken.has(id)) return id;
  }
}

/** Defaults that make a fresh widget's form show something sensible. */
export function newWidget(type: string, id: string, position: { x: number; y: number }): Widget {
  const w: Widget = { id, type, position };
  if (type === "send_media") w.kind = "text";
  if (type === "collect_input") w.input = "text";
  if (type === "route_to") w.target = "queue";
  if (type === "send_template") w.language = "en_US";
  if (type === "classify")
    w.intents = [
      { name: "billing", examples: ["I was charged twice", "請求が間違っています"] },
      { name: "delivery", examples: ["Where is my parcel?", "荷物が届きません"] },
    ];
  return w;
}

/** A published version as GET /flows/{id}/versions lists it. */
export interface FlowVersionSummary {
  version: number;
  published_at: string;
  published_by_user_id: number | null;
  published_by: { name: string; email: string } | null;
  live: boolean;
}

export interface FlowVersionDetail {
  version: number;
  published_at: string;
  definition: FlowDefinition;
}

export interface FlowTestStep {
  node: string;
  widget: string;
  result: string;
  detail: Record<string, unknown> | null;
  at: string;
}

/** A test of the draft (POST/GET /flows/{id}/test): waiting for the customer, or the run. */
export interface FlowTest {
  id: number;
  flow_id: number;
  state: "waiting" | "expired" | "running" | "finished";
  phone_number_id: string;
  display_phone_number: string;
  customer: string;
  created_at: string;
  expires_at: string;
  started_at: string | null;
  conversation_id: number | null;
  conversation_status: string | null;
  open_conversation: { id: number; status: string } | null;
  phone_url: string | null;
  run: { id: number; status: string; node: string | null; waiting_for: string | null; error: string | null } | null;
  steps: FlowTestStep[];
}

export type Trace = "current" | "ended" | "visited";

/** Where a test run is on the canvas: the widget it is at (or ended at), and the ones it
 * went through. */
export function traceOf(test: FlowTest | null): (id: string) => Trace | undefined {
  const visited = new Set((test?.steps ?? []).map((s) => s.node));
  const at = test?.run?.node ?? null;
  const over = test?.state === "finished";
  return (id) => (id === at ? (over ? "ended" : "current") : visited.has(id) ? "visited" : undefined);
}
