import { useEffect, useState } from "react";
import { Badge, Button, Group, Modal, Stack, Table, Textarea, TextInput, Title } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { formatDateTime } from "../format";
import { navigate } from "../router";
import { FormError, useServerErrors } from "../admin/forms";
import { FlowEditor } from "./FlowEditor";
import type { FlowDetail, FlowSummary } from "./model";
import type { PhoneNumber } from "../api/types";

export function FlowsPage({ path }: { path: string }) {
  const match = path.match(/^\/flows\/(\d+)/);
  if (match) return <FlowEditor key={match[1]} flowId={Number(match[1])} />;
  return <FlowList />;
}

function FlowList() {
  const { t } = useTranslation();
  const [flows, setFlows] = useState<FlowSummary[]>([]);
  const [creating, setCreating] = useState(false);

  // Numbers are bound by Meta's id; people know them as "+1 555 0100".
  const [display, setDisplay] = useState<Record<string, string>>({});

  useEffect(() => {
    void api.get<FlowSummary[]>("/flows").then(setFlows);
    void api
      .get<PhoneNumber[]>("/phone-numbers")
      .then((rows) => setDisplay(Object.fromEntries(rows.map((n) => [n.phone_number_id, n.display_phone_number]))))
      .catch(() => setDisplay({}));
  }, []);

  return (
    <div className="page">
      <Group justify="space-between" mb="md">
        <Title order={1} size="h3">
          {t("flows.title")}
        </Title>
        <Button onClick={() => setCreating(true)} data-testid="new-flow">
          {t("flows.new")}
        </Button>
      </Group>
      <Table striped highlightOnHover>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{t("flows.name")}</Table.Th>
            <Table.Th>{t("flows.status")}</Table.Th>
            <Table.Th>{t("flows.numbers")}</Table.Th>
            <Table.Th>{t("flows.updated")}</Table.Th>
            <Table.Th />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {flows.map((f) => (
            <Table.Tr key={f.id}>
              <Table.Td>{f.name}</Table.Td>
              <Table.Td>
                {f.published_version ? (
                  <Badge color="teal">
                    {t("flows.published")} v{f.published_version}
                  </Badge>
                ) : (
                  <Badge color="gray">{t("flows.draft")}</Badge>
                )}
              </Table.Td>
              <Table.Td data-testid="flow-numbers">{f.numbers.map((n) => display[n] ?? n).join(", ")}</Table.Td>
              <Table.Td>{formatDateTime(f.updated_at)}</Table.Td>
              <Table.Td>
                <Button size="xs" variant="subtle" onClick={() => navigate(`/flows/${f.id}`)}>
                  {t("flows.open")}
                </Button>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      <Modal opened={creating} onClose={() => setCreating(false)} title={t("flows.new")}>
        <NewFlowForm />
      </Modal>
    </div>
  );
}

function NewFlowForm() {
  const { t } = useTranslation();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [busy, setBusy] = useState(false);
  const errors = useServerErrors(["name", "description", "definition"]);

  async function submit(event: React.FormEvent) {
    event.preventDefault();
    setBusy(true);
    errors.clear();
    try {
      const flow = await api.post<FlowDetail>("/flows", {
        name,
        description: description || null,
        definition: { nodes: [{ id: "start", type: "start", numbers: [], position: { x: 80, y: 40 } }], edges: [] },
      });
      navigate(`/flows/${flow.id}`);
    } catch (err) {
      errors.take(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} noValidate>
      <Stack>
        <TextInput label={t("flows.name")} value={name} onChange={(e) => setName(e.currentTarget.value)} error={errors.fields.name} required data-autofocus />
        <Textarea label={t("flows.description")} value={description} onChange={(e) => setDescription(e.currentTarget.value)} error={errors.fields.description} />
        <FormError message={errors.general} />
        <Group justify="flex-end">
          <Button type="submit" loading={busy} data-testid="create-flow">
            {t("flows.create")}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
