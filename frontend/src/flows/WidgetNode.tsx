import { createContext, useContext } from "react";
import { Handle, Position, type NodeProps, type Node } from "@xyflow/react";
import { useTranslation } from "react-i18next";
import { exitsOf, type Problem, type Trace, type Widget } from "./model";

/** ``trace``: where a test run is ("current"), ended ("ended") or has been ("visited"). */
export type WidgetNodeData = { widget: Widget; problems: Problem[]; trace?: Trace };
export type WidgetFlowNode = Node<WidgetNodeData, "widget">;

/** The workspace's numbers as people know them, by Meta's phone number id. */
export const NumberNames = createContext<Record<string, string>>({});

/** The widget's key settings, a line each, as the canvas shows them. */
function summary(w: Widget, numbers: Record<string, string>): string[] {
  const pick = (key: string) => (typeof w[key] === "string" ? (w[key] as string) : "");
  switch (w.type) {
    case "start":
      return [((w.numbers as string[] | undefined) ?? []).map((n) => numbers[n] ?? n).join(", ")];
    case "send_media":
      return [pick("text") || pick("caption") || pick("kind")];
    case "collect_input":
      return [pick("prompt"), pick("variable") ? `→ {{${pick("variable")}}}` : ""];
    case "condition":
      return ((w.rules as Array<Record<string, unknown>> | undefined) ?? []).map(
        (r) => `${String(r.variable ?? "")} ${String(r.op ?? "")} ${String(r.value ?? "")} → ${String(r.exit ?? "")}`,
      );
    case "set_variable":
      return [pick("variable") ? `${pick("variable")} = ${pick("value")}` : ""];
    case "route_to":
      return [`${pick("target") || "queue"}: ${pick(pick("target") || "queue")}`];
    case "end":
      return [pick("message")];
    case "send_template":
      return [pick("name")];
    case "business_hours":
      return [pick("queue")];
    case "http_request":
      return [`${pick("method") || "GET"} ${pick("url")}`];
    default:
      return [];
  }
}

/** An exit's name in the reader's language; a condition's own exit names stay as written. */
export function exitLabel(exit: string, t: (key: string, options?: Record<string, unknown>) => string): string {
  return t(`flowEditor.exits.${exit}`, { defaultValue: exit });
}

export function WidgetNode({ data, selected }: NodeProps<WidgetFlowNode>) {
  const { t } = useTranslation();
  const w = data.widget;
  const exits = exitsOf(w);
  const numbers = useContext(NumberNames);
  const problems = data.problems;
  const trace = data.trace;
  return (
    <div
      className={`flow-node${selected ? " selected" : ""}${problems.length ? " has-error" : ""}${trace ? ` trace-${trace}` : ""}`}
      data-testid="flow-node"
      data-node-id={w.id}
      data-trace={trace}
      aria-label={`${t(`widgets.${w.type}`)} ${w.label ?? w.id}${trace ? ` (${t(`flowTest.trace.${trace}`)})` : ""}`}
    >
      {(trace === "current" || trace === "ended") && (
        <div className="trace-badge" data-testid="node-trace">
          {t(`flowTest.trace.${trace}`)}
        </div>
      )}
      {w.type !== "start" && <Handle type="target" position={Position.Top} />}
      <div className="flow-node-type">{t(`widgets.${w.type}`)}</div>
      <div className="flow-node-name">{w.label || w.id}</div>
      {summary(w, numbers)
        .filter(Boolean)
        .slice(0, 3)
        .map((line, i) => (
          <div className="flow-node-setting" key={i} title={line}>
            {line}
          </div>
        ))}
      {problems.length > 0 && (
        <ul data-testid="node-problems" style={{ margin: "6px 0 0", paddingLeft: 14, color: "var(--mantine-color-red-7)", maxWidth: 240 }}>
          {problems.map((p, i) => (
            <li key={i}>
              {p.field ? `${p.field}: ` : ""}
              {p.message}
            </li>
          ))}
        </ul>
      )}
      {exits.length > 0 && (
        <div className="exits">
          {exits.map((exit) => (
            <div className="exit" key={exit} data-testid="flow-exit" data-exit={exit}>
              {exitLabel(exit, t)}
              <Handle type="source" position={Position.Bottom} id={exit} style={{ left: "50%" }} />
            </div>
          ))}
        </div>
      )}
    </div>
  );
}
