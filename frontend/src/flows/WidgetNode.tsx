import { Handle, Position, type NodeProps, type Node } from "@xyflow/react";
import { useTranslation } from "react-i18next";
import { exitsOf, type Problem, type Trace, type Widget } from "./model";

/** ``trace``: where a test run is ("current"), ended ("ended") or has been ("visited"). */
export type WidgetNodeData = { widget: Widget; problems: Problem[]; trace?: Trace };
export type WidgetFlowNode = Node<WidgetNodeData, "widget">;

function summary(w: Widget): string {
  const pick = (key: string) => (typeof w[key] === "string" ? (w[key] as string) : "");
  switch (w.type) {
    case "start":
      return ((w.numbers as string[] | undefined) ?? []).join(", ");
    case "send_media":
      return pick("text");
    case "collect_input":
      return pick("prompt");
    case "route_to":
      return pick(pick("target") || "queue");
    case "end":
      return pick("message");
    case "send_template":
      return pick("name");
    case "business_hours":
      return pick("queue");
    case "http_request":
      return `${pick("method") || "GET"} ${pick("url")}`;
    default:
      return "";
  }
}

export function WidgetNode({ data, selected }: NodeProps<WidgetFlowNode>) {
  const { t } = useTranslation();
  const w = data.widget;
  const exits = exitsOf(w);
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
      {w.type !== "start" && <Handle type="target" position={Position.Left} />}
      <div style={{ fontSize: 10, textTransform: "uppercase", color: "var(--mantine-color-teal-8)", fontWeight: 700 }}>
        {t(`widgets.${w.type}`)}
      </div>
      <div style={{ fontWeight: 600 }}>{w.label || w.id}</div>
      {summary(w) && (
        <div style={{ color: "var(--mantine-color-gray-7)", maxWidth: 220, overflow: "hidden", textOverflow: "ellipsis", whiteSpace: "nowrap" }}>
          {summary(w)}
        </div>
      )}
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
              {exit}
              <Handle type="source" position={Position.Bottom} id={exit} style={{ left: "50%" }} />
            </div>
          ))}
        </div>
      )}
    </div>
  );
}
