// Automatic layout of a flow with dagre (a layered graph layout): widgets in rows from
// Start downwards, each exit's branch below it, ordered to keep lines from crossing.
// Used when a flow has widgets without a position (the guide's flow, a flow made by the
// API) and by the "Tidy up" button. Sizes are the widgets' measured ones when the
// canvas has drawn them, else an estimate from what the widget shows.
import dagre from "@dagrejs/dagre";
import { exitsOf, type FlowDefinition, type Widget } from "./model";

export const NODE_WIDTH = 260;

export interface Size {
  width: number;
  height: number;
}

/** About how tall a widget is drawn: title lines, its key settings, its exits. */
export function estimateSize(w: Widget): Size {
  const exits = exitsOf(w).length;
  return { width: NODE_WIDTH, height: 78 + (exits ? 34 : 0) };
}

export function layoutFlow(
  def: FlowDefinition,
  measured: (id: string) => Size | undefined = () => undefined,
): Map<string, { x: number; y: number }> {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: "TB", nodesep: 60, ranksep: 60, edgesep: 30, marginx: 40, marginy: 40 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const w of def.nodes) {
    const size = measured(w.id) ?? estimateSize(w);
    g.setNode(w.id, { width: Math.max(size.width, NODE_WIDTH), height: size.height });
  }
  const known = new Set(def.nodes.map((w) => w.id));
  for (const e of def.edges) {
    // Each exit is its own edge (two exits may lead to one widget), so branches spread.
    if (known.has(e.from) && known.has(e.to)) g.setEdge(e.from, e.to, { weight: 1, minlen: 1 }, e.exit);
  }
  dagre.layout(g);
  const out = new Map<string, { x: number; y: number }>();
  for (const w of def.nodes) {
    const n = g.node(w.id) as { x: number; y: number; width: number; height: number } | undefined;
    // dagre gives centres; the canvas positions by the top-left corner.
    if (n) out.set(w.id, { x: Math.round(n.x - n.width / 2), y: Math.round(n.y - n.height / 2) });
  }
  return out;
}
