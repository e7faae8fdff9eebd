import { useEffect, useState } from "react";
import { Alert, Badge, Button, Card, FileInput, Group, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { ApiError, api } from "../api/client";
import { formatDateTime } from "../format";
import { formatMoney, marketName } from "./money";
import type { RateCard } from "./types";

/** The versions of the prices; admins import a new one from Meta's rate sheet (CSV). */
export function RateCardsPanel({ admin, onChange }: { admin: boolean; onChange: () => void }) {
  const { t } = useTranslation();
  const [cards, setCards] = useState<RateCard[]>([]);
  const [name, setName] = useState("");
  const [currency, setCurrency] = useState("USD");
  const [effective, setEffective] = useState("");
  const [file, setFile] = useState<File | null>(null);
  const [errors, setErrors] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [open, setOpen] = useState<RateCard | null>(null);

  async function toggle(card: RateCard) {
    if (open?.id === card.id) setOpen(null);
    else setOpen(await api.get<RateCard>(`/rate-cards/${card.id}`));
  }

  async function remove(card: RateCard) {
    try {
      await api.del(`/rate-cards/${card.id}`);
      setOpen(null);
      reload();
      onChange();
    } catch (err) {
      setErrors([err instanceof ApiError ? err.message : String(err)]);
    }
  }

  const reload = () => void api.get<RateCard[]>("/rate-cards").then(setCards);
  useEffect(reload, []);

  async function importSheet(e: React.FormEvent) {
    e.preventDefault();
    if (!file) return;
    setBusy(true);
    setErrors([]);
    const params = new URLSearchParams({ name: name || file.name, currency });
    if (effective) params.set("effective_from", new Date(effective).toISOString());
    try {
      const response = await fetch(`/api/v1/rate-cards/import?${params}`, {
        method: "POST",
        headers: { "X-Requested-With": "madoguchi", "Content-Type": "text/csv" },
        body: await file.text(),
        credentials: "same-origin",
      });
      const body = await response.json().catch(() => null);
      if (!response.ok) {
        const detail = body?.detail;
        setErrors(detail?.errors ?? [detail?.message ?? `HTTP ${response.status}`]);
        return;
      }
      setFile(null);
      setName("");
      reload();
      onChange();
    } catch (err) {
      setErrors([err instanceof ApiError ? err.message : String(err)]);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Card withBorder data-testid="rate-cards">
      <Title order={2} size="h5" mb="xs">
        {t("costs.rateCards")}
      </Title>
      {cards.length === 0 ? (
        <Text size="sm" c="dimmed">
          {t("costs.noCards")}
        </Text>
      ) : (
        <Table>
          <Table.Tbody>
            {cards.map((card) => (
              <Table.Tr key={card.id} data-testid="rate-card">
                <Table.Td>
                  <Button variant="subtle" size="compact-sm" onClick={() => void toggle(card)} aria-expanded={open?.id === card.id}>
                    {card.name}
                  </Button>
                </Table.Td>
                <Table.Td>{card.currency}</Table.Td>
                <Table.Td>{t("costs.from")} {formatDateTime(card.effective_from)}</Table.Td>
                <Table.Td>
                  {card.in_force && (
                    <Badge color="teal" variant="light">
                      {t("costs.inForce")}
                    </Badge>
                  )}
                  {admin && new Date(card.effective_from) > new Date() && (
                    <Button variant="subtle" color="red" size="compact-xs" onClick={() => void remove(card)}>
                      {t("costs.deleteCard")}
                    </Button>
                  )}
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      {open?.rates && (
        <Table striped mt="xs" data-testid="rate-card-rates">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>{t("costs.dimensions.market")}</Table.Th>
              <Table.Th>{t("costs.dimensions.category")}</Table.Th>
              <Table.Th>{t("costs.tierFrom")}</Table.Th>
              <Table.Th>{t("costs.rate")}</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {open.rates.map((r) => (
              <Table.Tr key={`${r.market}-${r.category}-${r.tier_from}`}>
                <Table.Td>{marketName(r.market)}</Table.Td>
                <Table.Td>{t(`costs.category.${r.category}`, { defaultValue: r.category })}</Table.Td>
                <Table.Td>{r.tier_from}</Table.Td>
                <Table.Td>{formatMoney(r.rate, open.currency)}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      {admin && (
        <form onSubmit={importSheet} data-testid="rate-card-import">
          <Stack gap="xs" mt="sm">
            <Text size="xs" c="dimmed">
              {t("costs.importHint")}
            </Text>
            <Group grow>
              <TextInput label={t("costs.cardName")} value={name} onChange={(e) => setName(e.currentTarget.value)} />
              <TextInput label={t("costs.currency")} value={currency} onChange={(e) => setCurrency(e.currentTarget.value)} maw={110} />
            </Group>
            <TextInput type="datetime-local" label={t("costs.effectiveFrom")} description={t("costs.effectiveHint")} value={effective} onChange={(e) => setEffective(e.currentTarget.value)} />
            <FileInput label={t("costs.sheet")} placeholder={t("costs.chooseSheet")} accept=".csv,text/csv" value={file} onChange={setFile} data-testid="rate-card-file" />
            {errors.length > 0 && (
              <Alert color="red" role="alert" data-testid="rate-card-errors">
                {errors.map((line) => (
                  <div key={line}>{line}</div>
                ))}
              </Alert>
            )}
            <Group justify="flex-end">
              <Button type="submit" size="xs" loading={busy} disabled={!file} data-testid="rate-card-submit">
                {t("costs.import")}
              </Button>
            </Group>
          </Stack>
        </form>
      )}
    </Card>
  );
}
