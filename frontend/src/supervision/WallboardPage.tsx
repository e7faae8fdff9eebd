// The live wallboard (supervisors and admins): queues now and today, agents, and every
// open conversation; steer agents from here. `tv` is the full-screen wall display.
import { useMemo, useState } from "react";
import { Badge, Button, Group, Menu, Select, Stack, Table, Text, Title } from "@mantine/core";
import { useInterval } from "@mantine/hooks";
import { notifications } from "@mantine/notifications";
import { useTranslation } from "react-i18next";
import { api, ApiError } from "../api/client";
import { formatDuration, formatTime, secondsSince } from "../format";
import { navigate } from "../router";
import { occupancyNow, useWallboard, type AgentNow, type QueueNow, type Wallboard } from "./wallboard";

const PRESENCE_COLOR: Record<string, string> = { available: "teal", away: "yellow", offline: "gray" };

function percent(value: number | null): string {
  return value === null ? "–" : `${value.toFixed(1)} %`;
}

function seconds(value: number | null): string {
  return value === null ? "–" : formatDuration(value);
}

export function WallboardPage({ tv = false }: { tv?: boolean }) {
  const { t } = useTranslation();
  const { board, error, reload } = useWallboard();
  const [now, setNow] = useState(Date.now());
  useInterval(() => setNow(Date.now()), 1000, { autoInvoke: true });

  if (!board) {
    return (
      <Text p="md" c={error ? "red" : "dimmed"}>
        {error ?? t("wallboard.loading")}
      </Text>
    );
  }
  if (tv) return <TvBoard board={board} now={now} />;
  return (
    <Stack p="md" gap="lg" data-testid="wallboard" data-generated-at={board.generated_at} data-version={board.version} data-deltas={board.deltas_applied}>
      <Group justify="space-between">
        <Title order={1} size="h3">
          {t("wallboard.title")}
        </Title>
        <Group gap="xs">
          <Text size="xs" c="dimmed">
            {t("wallboard.today", { day: board.day, zone: board.timezone })}
          </Text>
          <Button size="xs" variant="default" onClick={() => navigate("/wallboard/tv")}>
            {t("wallboard.tvMode")}
          </Button>
        </Group>
      </Group>
      <QueueTable queues={board.queues} now={now} />
      <AgentTable board={board} now={now} onChanged={reload} />
      <ConversationTable board={board} now={now} />
    </Stack>
  );
}

function longestWait(q: QueueNow, now: number): number {
  return q.oldest_waiting_since ? secondsSince(q.oldest_waiting_since, now) : 0;
}

function QueueTable({ queues, now }: { queues: QueueNow[]; now: number }) {
  const { t } = useTranslation();
  return (
    <section aria-labelledby="wb-queues">
      <Title order={2} size="h5" id="wb-queues" mb="xs">
        {t("wallboard.queues")}
      </Title>
      <Table striped withTableBorder data-testid="wallboard-queues">
        <Table.Thead>
          <Table.Tr>
            {["queue", "waiting", "longestWait", "offered", "active", "wrapUp", "agents", "freeSlots", "arrived", "answered", "abandoned", "avgWait", "p90Wait", "serviceLevel"].map((k) => (
              <Table.Th key={k}>{t(`wallboard.col.${k}`)}</Table.Th>
            ))}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {queues.map((q) => {
            const wait = longestWait(q, now);
            return (
              <Table.Tr key={q.id} data-testid="wallboard-queue" data-queue={q.name}>
                <Table.Td fw={600}>{q.name}</Table.Td>
                <Table.Td data-testid="q-waiting">{q.waiting}</Table.Td>
                <Table.Td data-testid="q-longest" c={wait > q.service_level_seconds ? "red" : undefined} data-over={wait > q.service_level_seconds || undefined}>
                  {q.oldest_waiting_since ? formatDuration(wait) : "–"}
                </Table.Td>
                <Table.Td data-testid="q-offered">{q.offered}</Table.Td>
                <Table.Td data-testid="q-active">{q.active}</Table.Td>
                <Table.Td>{q.wrap_up}</Table.Td>
                <Table.Td>
                  <Text size="xs">
                    {t("wallboard.agentStates", q.agents)}
                  </Text>
                </Table.Td>
                <Table.Td>{q.free_slots}</Table.Td>
                <Table.Td data-testid="q-arrived">{q.today.arrived}</Table.Td>
                <Table.Td data-testid="q-answered">{q.today.answered}</Table.Td>
                <Table.Td>
                  {q.today.abandoned}
                  {q.today.short_abandoned > 0 ? ` (${t("wallboard.short", { count: q.today.short_abandoned })})` : ""}
                </Table.Td>
                <Table.Td>{seconds(q.today.average_wait_seconds)}</Table.Td>
                <Table.Td>{seconds(q.today.p90_wait_seconds)}</Table.Td>
                <Table.Td data-testid="q-sl">{percent(q.today.service_level_percent)}</Table.Td>
              </Table.Tr>
            );
          })}
        </Table.Tbody>
      </Table>
    </section>
  );
}

function AgentTable({ board, now, onChanged }: { board: Wallboard; now: number; onChanged: () => void }) {
  const { t } = useTranslation();
  const queueName = useMemo(() => new Map(board.queues.map((q) => [q.id, q.name])), [board.queues]);

  async function act(call: () => Promise<unknown>) {
    try {
      await call();
      onChanged();
    } catch (err) {
      notifications.show({ color: "red", message: err instanceof ApiError ? err.message : String(err) });
    }
  }

  return (
    <section aria-labelledby="wb-agents">
      <Title order={2} size="h5" id="wb-agents" mb="xs">
        {t("wallboard.agents")}
      </Title>
      <Table striped withTableBorder data-testid="wallboard-agents">
        <Table.Thead>
          <Table.Tr>
            {["agent", "presence", "work", "occupancy", "lastReply", "agentQueues", "steer"].map((k) => (
              <Table.Th key={k}>{t(`wallboard.col.${k}`)}</Table.Th>
            ))}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {board.agents.map((a: AgentNow) => (
            <Table.Tr key={a.user_id} data-testid="wallboard-agent" data-agent={a.name}>
              <Table.Td fw={600}>{a.name}</Table.Td>
              <Table.Td>
                <Select
                  size="xs"
                  w={150}
                  aria-label={t("wallboard.setPresence", { name: a.name })}
                  allowDeselect={false}
                  value={a.presence}
                  data={["available", "away", "offline"].map((p) => ({ value: p, label: t(`presence.${p}`) }))}
                  onChange={(value) =>
                    value && void act(() => api.put(`/supervision/agents/${a.user_id}/presence`, { status: value }))
                  }
                  leftSection={<Badge size="xs" circle color={PRESENCE_COLOR[a.presence]}> </Badge>}
                />
                <Text size="xs" c="dimmed">
                  {a.away_reason ? `${a.away_reason} · ` : ""}
                  {a.presence_since ? formatDuration(secondsSince(a.presence_since, now)) : ""}
                </Text>
              </Table.Td>
              <Table.Td data-testid="agent-work">
                <Text size="sm" c={a.offered + a.active + a.wrap_up >= a.capacity ? "red" : undefined}>
                  {t("wallboard.workLine", { offered: a.offered, active: a.active, wrapUp: a.wrap_up, capacity: a.capacity })}
                </Text>
              </Table.Td>
              <Table.Td data-testid="agent-occupancy">{percent(occupancyNow(a, now))}</Table.Td>
              <Table.Td>{a.last_reply_at ? t("wallboard.ago", { time: formatDuration(secondsSince(a.last_reply_at, now)) }) : "–"}</Table.Td>
              <Table.Td>
                <Text size="xs">{a.queue_ids.map((id) => queueName.get(id) ?? `#${id}`).join(", ")}</Text>
              </Table.Td>
              <Table.Td>
                <Group gap={4} wrap="nowrap">
                  <Button
                    size="compact-xs"
                    variant="default"
                    disabled={a.offered === 0}
                    onClick={() => void act(() => api.post(`/supervision/agents/${a.user_id}/release-offers`))}
                  >
                    {t("wallboard.releaseOffers")}
                  </Button>
                  {a.queue_ids.length > 0 && (
                    <Menu>
                      <Menu.Target>
                        <Button size="compact-xs" variant="default">
                          {t("wallboard.signOut")} ▾
                        </Button>
                      </Menu.Target>
                      <Menu.Dropdown>
                        {a.queue_ids.map((id) => (
                          <Menu.Item
                            key={id}
                            onClick={() => void act(() => api.del(`/supervision/agents/${a.user_id}/queues/${id}`))}
                          >
                            {queueName.get(id) ?? `#${id}`}
                          </Menu.Item>
                        ))}
                      </Menu.Dropdown>
                    </Menu>
                  )}
                </Group>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </section>
  );
}

function ConversationTable({ board, now }: { board: Wallboard; now: number }) {
  const { t } = useTranslation();
  const [queue, setQueue] = useState<string | null>(null);
  const [agent, setAgent] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const queues = useMemo(() => new Map(board.queues.map((q) => [q.id, q])), [board.queues]);
  const agents = useMemo(() => new Map(board.agents.map((a) => [a.user_id, a.name])), [board.agents]);
  const rows = board.conversations.filter(
    (c) =>
      (!queue || String(c.queue_id) === queue) &&
      (!agent || String(c.agent_id) === agent) &&
      (!status || c.status === status),
  );
  return (
    <section aria-labelledby="wb-conversations">
      <Group justify="space-between" mb="xs">
        <Title order={2} size="h5" id="wb-conversations">
          {t("wallboard.conversations", { count: board.conversations_total })}
        </Title>
        <Group gap="xs">
          <Select size="xs" clearable placeholder={t("wallboard.col.queue")} aria-label={t("wallboard.filterQueue")} value={queue} onChange={setQueue} data={board.queues.map((q) => ({ value: String(q.id), label: q.name }))} />
          <Select size="xs" clearable placeholder={t("wallboard.col.agent")} aria-label={t("wallboard.filterAgent")} value={agent} onChange={setAgent} data={board.agents.map((a) => ({ value: String(a.user_id), label: a.name }))} />
          <Select size="xs" clearable placeholder={t("wallboard.col.status")} aria-label={t("wallboard.filterStatus")} value={status} onChange={setStatus} data={["new", "in_flow", "queued", "offered", "active", "wrap_up"].map((s) => ({ value: s, label: t(`status.conversation.${s}`) }))} />
        </Group>
      </Group>
      <Table striped withTableBorder data-testid="wallboard-conversations">
        <Table.Thead>
          <Table.Tr>
            {["contact", "queue", "agent", "status", "time", "lastCustomer", ""].map((k) => (
              <Table.Th key={k}>{k ? t(`wallboard.col.${k}`) : ""}</Table.Th>
            ))}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((c) => {
            const q = c.queue_id !== null ? queues.get(c.queue_id) : undefined;
            const elapsed = secondsSince(c.since, now);
            const waiting = c.status === "queued" || c.status === "offered";
            const over = waiting && q !== undefined && elapsed > q.service_level_seconds;
            return (
              <Table.Tr key={c.id} data-testid="wallboard-conversation" data-conversation-id={c.id} data-status={c.status} data-over={over || undefined}>
                <Table.Td>{c.contact}</Table.Td>
                <Table.Td>{q?.name ?? "–"}</Table.Td>
                <Table.Td>{c.agent_id !== null ? (agents.get(c.agent_id) ?? `#${c.agent_id}`) : "–"}</Table.Td>
                <Table.Td>
                  {t(`status.conversation.${c.status}`)}
                  {c.monitored_by.length > 0 && (
                    <Badge size="xs" ml={4} variant="light">
                      {t("supervision.monitored")}
                    </Badge>
                  )}
                </Table.Td>
                <Table.Td c={over ? "red" : undefined} fw={over ? 700 : undefined}>
                  {c.since ? formatDuration(elapsed) : "–"}
                </Table.Td>
                <Table.Td>{formatTime(c.last_customer_message_at)}</Table.Td>
                <Table.Td>
                  <Button size="compact-xs" variant="default" onClick={() => navigate(`/conversations/${c.id}`)}>
                    {t("wallboard.open")}
                  </Button>
                </Table.Td>
              </Table.Tr>
            );
          })}
        </Table.Tbody>
      </Table>
    </section>
  );
}

function TvBoard({ board, now }: { board: Wallboard; now: number }) {
  const { t } = useTranslation();
  return (
    <div className="wallboard-tv" data-testid="wallboard-tv">
      <Group justify="space-between" mb="lg">
        <Title order={1} className="tv-title">
          {t("wallboard.title")}
        </Title>
        <Button variant="subtle" color="gray" onClick={() => navigate("/wallboard")}>
          {t("wallboard.exitTv")}
        </Button>
      </Group>
      <div className="tv-grid">
        {board.queues.map((q) => {
          const wait = longestWait(q, now);
          return (
            <div key={q.id} className="tv-tile" data-testid="tv-queue" data-queue={q.name}>
              <div className="tv-name">{q.name}</div>
              <div className="tv-figures">
                <div>
                  <div className="tv-number" data-testid="tv-waiting">{q.waiting + q.offered}</div>
                  <div className="tv-label">{t("wallboard.col.waiting")}</div>
                </div>
                <div>
                  <div className={`tv-number${wait > q.service_level_seconds ? " tv-alert" : ""}`}>
                    {q.oldest_waiting_since ? formatDuration(wait) : "–"}
                  </div>
                  <div className="tv-label">{t("wallboard.col.longestWait")}</div>
                </div>
                <div>
                  <div className="tv-number">{q.active}</div>
                  <div className="tv-label">{t("wallboard.col.active")}</div>
                </div>
                <div>
                  <div className="tv-number">{percent(q.today.service_level_percent)}</div>
                  <div className="tv-label">{t("wallboard.col.serviceLevel")}</div>
                </div>
                <div>
                  <div className="tv-number">{q.agents.available}</div>
                  <div className="tv-label">{t("wallboard.availableAgents")}</div>
                </div>
              </div>
            </div>
          );
        })}
      </div>
    </div>
  );
}
