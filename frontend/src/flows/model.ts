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
  return w;
}
