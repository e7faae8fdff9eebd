import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  addEdge,
  applyEdgeChanges,
  applyNodeChanges,
  type Connection,
  type Edge,
  type EdgeChange,
  type NodeChange,
  type ReactFlowInstance,
} from "@xyflow/react";
import { Alert, Badge, Button, Group, Modal, Select, Stack, Text, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useTranslation } from "react-i18next";
import { api, ApiError } from "../api/client";
import type { PhoneNumber, Queue } from "../api/types";
import { navigate } from "../router";
import {
  exitsOf,
  newWidget,
  newWidgetId,
  traceOf,
  WIDGET_TYPES,
  type FlowDefinition,
  type FlowDetail,
  type FlowTest,
  type FlowVersionDetail,
  type Problem,
  type Widget,
} from "./model";
import { TestPanel } from "./TestPanel";
import { VersionsDrawer } from "./VersionsDrawer";
import { exitLabel, NumberNames, WidgetNode, type WidgetFlowNode } from "./WidgetNode";
import { layoutFlow } from "./layout";
import { WidgetSettings } from "./WidgetSettings";

const nodeTypes = { widget: WidgetNode };

/** A flow with many widgets gets a minimap to find one's way around. */
const MINIMAP_FROM = 8;

function toNodes(def: FlowDefinition): WidgetFlowNode[] {
  // A widget without a position (a flow made by the API, the demo's): lay them all out.
  const layout = def.nodes.some((w) => !w.position) ? layoutFlow(def) : null;
  return def.nodes.map((w) => ({
    id: w.id,
    type: "widget",
    position: w.position ?? layout?.get(w.id) ?? { x: 60, y: 60 },
    data: { widget: w, problems: [] },
  }));
}

function edgeId(source: string, exit: string): string {
  return `${source}:${exit}`;
}

function toEdges(def: FlowDefinition): Edge[] {
  // No label on the line: the exit it leaves from is labelled on the widget.
  return def.edges.map((e) => ({ id: edgeId(e.from, e.exit), source: e.from, sourceHandle: e.exit, target: e.to }));
}

function toDefinition(base: FlowDefinition, nodes: WidgetFlowNode[], edges: Edge[]): FlowDefinition {
  return {
    ...(base.variables ? { variables: base.variables } : {}),
    nodes: nodes.map((n) => ({ ...n.data.widget, position: { x: Math.round(n.position.x), y: Math.round(n.position.y) } })),
    edges: edges.map((e) => ({ from: e.source, exit: e.sourceHandle ?? "next", to: e.target })),
  };
}

function problemsFrom(err: unknown): Problem[] | null {
  if (!(err instanceof ApiError)) return null;
  const detail = (err.body as { detail?: { problems?: Problem[] } } | null)?.detail;
  return detail?.problems ?? null;
}

export function FlowEditor({ flowId }: { flowId: number }) {
  const { t } = useTranslation();
  const [flow, setFlow] = useState<FlowDetail | null>(null);
  const [nodes, setNodes] = useState<WidgetFlowNode[]>([]);
  const [edges, setEdges] = useState<Edge[]>([]);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [selected, setSelected] = useState<string | null>(null);
  const [dirty, setDirty] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [queues, setQueues] = useState<string[]>([]);
  const [numberNames, setNumberNames] = useState<Record<string, string>>({});
  const base = useRef<FlowDefinition>({ nodes: [], edges: [] });
  const [viewport, setViewport] = useState<ReactFlowInstance<WidgetFlowNode, Edge> | null>(null);
  // A published version shown read-only on the canvas instead of the draft.
  const [viewing, setViewing] = useState<FlowVersionDetail | null>(null);
  const [viewNodes, setViewNodes] = useState<WidgetFlowNode[]>([]);
  const [versionsOpen, setVersionsOpen] = useState(false);
  const [confirmRestore, setConfirmRestore] = useState<number | null>(null);
  // The test panel replaces the settings column; its run is traced on the canvas.
  const [testOpen, setTestOpen] = useState(false);
  const [test, setTest] = useState<FlowTest | null>(null);

  const apply = useCallback((detail: FlowDetail) => {
    base.current = detail.draft ?? { nodes: [], edges: [] };
    setFlow(detail);
    setNodes(toNodes(base.current));
    setEdges(toEdges(base.current));
    setProblems(detail.problems);
    setDirty(false);
  }, []);

  const load = useCallback(async () => {
    apply(await api.get<FlowDetail>(`/flows/${flowId}`));
  }, [flowId, apply]);

  useEffect(() => {
    void load();
    void api.get<Queue[]>("/queues").then((q) => setQueues(q.map((x) => x.name))).catch(() => setQueues([]));
    void api
      .get<PhoneNumber[]>("/phone-numbers")
      .then((rows) => setNumberNames(Object.fromEntries(rows.map((n) => [n.phone_number_id, n.display_phone_number]))))
      .catch(() => setNumberNames({}));
  }, [load]);

  const definition = useMemo(() => toDefinition(base.current, nodes, edges), [nodes, edges]);

  // Live check by the server, a moment after the last change.
  const structure = JSON.stringify({ n: definition.nodes.map(({ position: _p, ...w }) => w), e: definition.edges });
  useEffect(() => {
    if (!flow || !dirty) return;
    const timer = window.setTimeout(() => {
      api
        .post<{ valid: boolean; problems: Problem[] }>("/flows/validate", { definition, name: flow.name })
        .then((r) => setProblems(r.problems))
        .catch(() => undefined);
    }, 500);
    return () => window.clearTimeout(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [structure, flow?.name]);

  const byNode = useMemo(() => {
    const map = new Map<string, Problem[]>();
    for (const p of problems) if (p.node) map.set(p.node, [...(map.get(p.node) ?? []), p]);
    return map;
  }, [problems]);
  const flowProblems = problems.filter((p) => !p.node || !nodes.some((n) => n.id === p.node));

  const trace = useMemo(() => traceOf(testOpen ? test : null), [test, testOpen]);
  const shown = useMemo(
    () =>
      viewing
        ? viewNodes
        : nodes.map((n) => ({
            ...n,
            selected: n.id === selected,
            data: {
              ...n.data,
              problems: byNode.get(n.id) ?? [],
              trace: trace(n.id),
            },
          })),
    [nodes, byNode, selected, trace, viewing, viewNodes],
  );
  // The exits a test run took, drawn animated.
  const shownEdges = useMemo(() => {
    if (viewing) return toEdges(viewing.definition);
    const taken = new Set((testOpen ? (test?.steps ?? []) : []).map((s) => edgeId(s.node, s.result)));
    return taken.size ? edges.map((e) => (taken.has(e.id) ? { ...e, animated: true, style: { stroke: "var(--mantine-color-orange-6)", strokeWidth: 2 } } : e)) : edges;
  }, [edges, viewing, test, testOpen]);

  const onViewNodesChange = useCallback((changes: NodeChange<WidgetFlowNode>[]) => {
    setViewNodes((ns) => applyNodeChanges(changes.filter((c) => c.type === "dimensions"), ns));
  }, []);

  async function openVersion(version: number) {
    setVersionsOpen(false);
    setError(null);
    try {
      const detail = await api.get<FlowVersionDetail>(`/flows/${flowId}/versions/${version}`);
      setViewNodes(toNodes(detail.definition));
      setViewing(detail);
      setSelected(null);
      window.setTimeout(() => void viewport?.fitView({ maxZoom: 1, padding: 0.15 }), 50);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  }

  function closeVersion() {
    setViewing(null);
    window.setTimeout(() => void viewport?.fitView({ maxZoom: 1, padding: 0.15 }), 50);
  }

  function askRestore(version: number) {
    // Only ask when something would be lost: unsaved edits or an unpublished draft.
    if (dirty || flow?.draft_differs) setConfirmRestore(version);
    else void restore(version);
  }

  async function restore(version: number) {
    setConfirmRestore(null);
    setVersionsOpen(false);
    setBusy(true);
    setError(null);
    try {
      const detail = await api.post<FlowDetail>(`/flows/${flowId}/versions/${version}/restore`, { expected_updated_at: flow?.updated_at ?? null });
      apply(detail);
      setViewing(null);
      setSelected(null);
      notifications.show({ color: "teal", message: t("flowVersions.restored", { version }) });
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }

  const onNodesChange = useCallback((changes: NodeChange<WidgetFlowNode>[]) => {
    for (const c of changes) {
      if (c.type === "select" && c.selected) setSelected(c.id);
      if (c.type === "remove") setSelected((s) => (s === c.id ? null : s));
    }
    if (changes.some((c) => c.type === "position" || c.type === "remove")) setDirty(true);
    setNodes((ns) => applyNodeChanges(changes, ns));
  }, []);

  const onEdgesChange = useCallback((changes: EdgeChange[]) => {
    if (changes.some((c) => c.type === "remove")) setDirty(true);
    setEdges((es) => applyEdgeChanges(changes, es));
  }, []);

  const connect = useCallback((c: Connection) => {
    if (!c.source || !c.target) return;
    const exit = c.sourceHandle ?? "next";
    setEdges((es) =>
      addEdge(
        { id: edgeId(c.source, exit), source: c.source, sourceHandle: exit, target: c.target },
        es.filter((e) => !(e.source === c.source && e.sourceHandle === exit)),
      ),
    );
    setDirty(true);
  }, []);

  function addWidget(type: string) {
    const taken = new Set(nodes.map((n) => n.id));
    const id = type === "start" && !taken.has("start") ? "start" : newWidgetId(type, taken);
    // Next to the last widget, three to a row, so a new widget never hides another.
    const last = nodes[nodes.length - 1];
    const lowest = Math.max(60, ...nodes.map((n) => n.position.y + (n.measured?.height ?? 120)));
    const position = !last
      ? { x: 80, y: 60 }
      : last.position.x < 80 + 2 * 300
        ? { x: last.position.x + 300, y: last.position.y }
        : { x: 80, y: lowest + 80 };
    const widget = newWidget(type, id, position);
    setNodes((ns) => [...ns, { id, type: "widget", position, data: { widget, problems: [] } }]);
    setSelected(id);
    setDirty(true);
    window.setTimeout(() => void viewport?.fitView({ maxZoom: 1, padding: 0.15 }), 50);
  }

  /** Lay the whole flow out again (dagre), with the sizes the widgets are drawn at. */
  function tidyUp() {
    const sizes = new Map(nodes.map((n) => [n.id, n.measured]));
    const places = layoutFlow(definition, (id) => {
      const m = sizes.get(id);
      return m?.width && m?.height ? { width: m.width, height: m.height } : undefined;
    });
    setNodes((ns) => ns.map((n) => ({ ...n, position: places.get(n.id) ?? n.position })));
    setDirty(true);
    window.setTimeout(() => void viewport?.fitView({ maxZoom: 1, padding: 0.1 }), 50);
  }

  function updateWidget(w: Widget) {
    setNodes((ns) => ns.map((n) => (n.id === w.id ? { ...n, data: { ...n.data, widget: w } } : n)));
    const exits = exitsOf(w);
    setEdges((es) => es.filter((e) => e.source !== w.id || exits.includes(e.sourceHandle ?? "next")));
    setDirty(true);
  }

  function deleteWidget(id: string) {
    setNodes((ns) => ns.filter((n) => n.id !== id));
    setEdges((es) => es.filter((e) => e.source !== id && e.target !== id));
    setSelected(null);
    setDirty(true);
  }

  function setExit(source: string, exit: string, target: string | null) {
    setEdges((es) => {
      const rest = es.filter((e) => !(e.source === source && e.sourceHandle === exit));
      return target ? [...rest, { id: edgeId(source, exit), source, sourceHandle: exit, target }] : rest;
    });
    setDirty(true);
  }

  async function save(): Promise<boolean> {
    setBusy(true);
    setError(null);
    try {
      const detail = await api.put<FlowDetail>(`/flows/${flowId}`, { definition });
      base.current = detail.draft;
      setFlow(detail);
      setProblems(detail.problems);
      setDirty(false);
      return true;
    } catch (err) {
      const found = problemsFrom(err);
      if (found) setProblems(found);
      setError(err instanceof ApiError ? err.message : String(err));
      return false;
    } finally {
      setBusy(false);
    }
  }

  async function publish() {
    if (dirty && !(await save())) return;
    setBusy(true);
    setError(null);
    try {
      const version = await api.post<{ version: number }>(`/flows/${flowId}/publish`);
      notifications.show({ color: "teal", message: `${t("flows.publishedOk")} (v${version.version})` });
      await load();
    } catch (err) {
      const found = problemsFrom(err);
      if (found) setProblems(found);
      setError(found?.length ? t("flows.invalid") : err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }

  const current = viewing ? undefined : nodes.find((n) => n.id === selected);
  const startNumbers = (nodes.find((n) => n.data.widget.type === "start")?.data.widget.numbers as string[] | undefined) ?? [];
  const labelOf = (id: string) => nodes.find((n) => n.id === id)?.data.widget.label || id;

  if (!flow) return null;
  return (
    <div>
      <Group justify="space-between" px="md" h={56} style={{ borderBottom: "1px solid var(--mantine-color-gray-3)" }}>
        <Group gap="sm">
          <Button size="xs" variant="subtle" onClick={() => navigate("/flows")}>
            ← {t("flows.back")}
          </Button>
          <Title order={1} size="h4" data-testid="flow-name">
            {flow.name}
          </Title>
          {flow.published_version ? (
            <Badge color="teal" data-testid="flow-status">
              {t("flows.published")} v{flow.published_version}
            </Badge>
          ) : (
            <Badge color="gray" data-testid="flow-status">
              {t("flows.draft")}
            </Badge>
          )}
          {(dirty || flow.draft_differs) && flow.published_version ? <Badge variant="outline">{t("flows.unpublishedChanges")}</Badge> : null}
          {viewing && (
            <Badge color="violet" data-testid="flow-viewing">
              {t("flowVersions.viewingBadge", { version: viewing.version })}
            </Badge>
          )}
        </Group>
        <Group gap="xs">
          <Text size="xs" c={problems.length ? "red" : "teal"} data-testid="flow-problem-count">
            {problems.length
              ? t("flows.problems", { count: problems.length })
              : flow.published_version && !dirty && !flow.draft_differs
                ? t("flowEditor.upToDate")
                : t("flows.valid")}
          </Text>
          <Button size="xs" variant="default" onClick={tidyUp} disabled={!!viewing || nodes.length < 2} data-testid="flow-tidy">
            {t("flowEditor.tidyUp")}
          </Button>
          <Button size="xs" variant="default" onClick={() => setVersionsOpen(true)} data-testid="flow-versions">
            {t("flowVersions.button")}
          </Button>
          <Button
            size="xs"
            variant={testOpen ? "filled" : "light"}
            color="orange"
            onClick={() => setTestOpen((open) => !open)}
            disabled={!!viewing}
            aria-pressed={testOpen}
            data-testid="flow-test"
          >
            {t("flowTest.button")}
          </Button>
          <Button size="xs" variant="default" onClick={() => void save()} loading={busy} disabled={!dirty || !!viewing} data-testid="flow-save">
            {t("flows.saveDraft")}
          </Button>
          <Button size="xs" onClick={() => void publish()} loading={busy} disabled={!!viewing} data-testid="flow-publish">
            {t("flows.publish")}
          </Button>
        </Group>
      </Group>
      <VersionsDrawer
        flowId={flowId}
        opened={versionsOpen}
        viewing={viewing?.version ?? null}
        onClose={() => setVersionsOpen(false)}
        onOpenVersion={(v) => void openVersion(v)}
        onRestore={askRestore}
      />
      <Modal opened={confirmRestore !== null} onClose={() => setConfirmRestore(null)} title={t("flowVersions.confirmTitle", { version: confirmRestore ?? 0 })}>
        <Text size="sm">{t("flowVersions.confirmBody")}</Text>
        <Group justify="flex-end" mt="md">
          <Button variant="default" onClick={() => setConfirmRestore(null)}>
            {t("common.cancel")}
          </Button>
          <Button onClick={() => confirmRestore !== null && void restore(confirmRestore)} data-testid="restore-confirm">
            {t("flowVersions.restore")}
          </Button>
        </Group>
      </Modal>
      <div className={`flow-editor${viewing ? " read-only" : ""}`}>
        <Stack gap={4} p="xs" style={{ borderRight: "1px solid var(--mantine-color-gray-3)", overflowY: "auto" }} aria-label={t("flows.widgets")}>
          <Text size="sm" fw={600}>
            {t("flows.addWidget")}
          </Text>
          {WIDGET_TYPES.map((type) => (
            <Button key={type} size="xs" variant="light" justify="flex-start" onClick={() => addWidget(type)} disabled={!!viewing} data-testid={`add-${type}`}>
              + {t(`widgets.${type}`)}
            </Button>
          ))}
          <Text size="xs" c="dimmed" mt="sm">
            {t("flows.dragHint")}
          </Text>
        </Stack>
        <div data-testid="flow-canvas" style={{ position: "relative" }}>
          <NumberNames.Provider value={numberNames}>
          <ReactFlow
            nodes={shown}
            edges={shownEdges}
            nodeTypes={nodeTypes}
            onNodesChange={viewing ? onViewNodesChange : onNodesChange}
            onEdgesChange={viewing ? undefined : onEdgesChange}
            onConnect={viewing ? undefined : connect}
            nodesDraggable={!viewing}
            nodesConnectable={!viewing}
            elementsSelectable={!viewing}
            deleteKeyCode={viewing ? null : "Backspace"}
            onPaneClick={() => setSelected(null)}
            onInit={setViewport}
            fitView
            fitViewOptions={{ maxZoom: 1, minZoom: 0.6, padding: 0.1 }}
            minZoom={0.2}
            defaultEdgeOptions={{ type: "smoothstep" }}
            proOptions={{ hideAttribution: false }}
          >
            <Background />
            <Controls />
            {shown.length >= MINIMAP_FROM && <MiniMap pannable zoomable ariaLabel={t("flowEditor.minimap")} data-testid="flow-minimap" />}
          </ReactFlow>
          </NumberNames.Provider>
        </div>
        <div style={{ borderLeft: "1px solid var(--mantine-color-gray-3)", overflowY: "auto", padding: 12 }} aria-label={t("flows.settings")}>
          {error && (
            <Alert color="red" mb="sm" role="alert" data-testid="flow-error">
              {error}
            </Alert>
          )}
          {flowProblems.length > 0 && (
            <Alert color="orange" mb="sm" data-testid="flow-problems">
              {flowProblems.map((p, i) => (
                <div key={i}>
                  {p.node ? `${p.node}: ` : ""}
                  {p.field ? `${p.field}: ` : ""}
                  {p.message}
                </div>
              ))}
            </Alert>
          )}
          {viewing ? (
            <Stack gap="sm" data-testid="version-view">
              <Title order={2} size="h5">
                {t("flowVersions.viewingTitle", { version: viewing.version })}
              </Title>
              <Text size="sm" c="dimmed">
                {t("flowVersions.readOnly")}
              </Text>
              <Button size="xs" onClick={() => askRestore(viewing.version)} loading={busy} data-testid="version-view-restore">
                {t("flowVersions.restore")}
              </Button>
              <Button size="xs" variant="default" onClick={closeVersion} data-testid="version-view-close">
                {t("flowVersions.backToDraft")}
              </Button>
            </Stack>
          ) : testOpen ? (
            <TestPanel
              flowId={flowId}
              flowNumbers={[...startNumbers, ...flow.numbers]}
              labelOf={labelOf}
              beforeStart={async () => (dirty ? save() : true)}
              onProblems={setProblems}
              onTest={setTest}
              onClose={() => setTestOpen(false)}
            />
          ) : current ? (
            <Stack gap="sm">
              <WidgetSettings
                key={current.id}
                widget={current.data.widget}
                problems={byNode.get(current.id) ?? []}
                queues={queues}
                onChange={updateWidget}
                onDelete={() => deleteWidget(current.id)}
              />
              {exitsOf(current.data.widget).length > 0 && (
                <Stack gap={4}>
                  <Text size="sm" fw={600}>
                    {t("flows.exits")}
                  </Text>
                  {exitsOf(current.data.widget).map((exit) => (
                    <Select
                      key={exit}
                      size="xs"
                      label={`${exitLabel(exit, t)} →`}
                      data={nodes.filter((n) => n.id !== current.id && n.data.widget.type !== "start").map((n) => ({ value: n.id, label: n.data.widget.label || n.id }))}
                      value={edges.find((e) => e.source === current.id && e.sourceHandle === exit)?.target ?? null}
                      onChange={(v) => setExit(current.id, exit, v)}
                      clearable
                      comboboxProps={{ withinPortal: false }}
                      data-testid={`exit-${exit}`}
                    />
                  ))}
                </Stack>
              )}
            </Stack>
          ) : (
            <Text size="sm" c="dimmed">
              {t("flows.noSelection")}
            </Text>
          )}
        </div>
      </div>
    </div>
  );
}
