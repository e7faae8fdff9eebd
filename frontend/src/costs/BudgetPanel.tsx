import { useEffect, useState } from "react";
import { Button, Card, Checkbox, Group, Progress, Stack, Text, TextInput, Title } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { FormError, useServerErrors } from "../admin/forms";
import { formatMoney } from "./money";
import type { BudgetState } from "./types";

/** The monthly budget: spending so far; admins set it (alerts at 80 % and 100 %). */
export function BudgetPanel({ admin }: { admin: boolean }) {
  const { t } = useTranslation();
  const [budget, setBudget] = useState<BudgetState | null>(null);
  const [monthly, setMonthly] = useState("");
  const [currency, setCurrency] = useState("USD");
  const [hardLimit, setHardLimit] = useState(false);
  const errors = useServerErrors(["monthly", "currency"]);

  function show(b: BudgetState | null) {
    setBudget(b);
    if (b) {
      setMonthly(b.monthly);
      setCurrency(b.currency);
      setHardLimit(b.hard_limit);
    }
  }

  useEffect(() => {
    void api.get<BudgetState | null>("/costs/budget").then(show);
  }, []);

  async function save(e: React.FormEvent) {
    e.preventDefault();
    errors.clear();
    try {
      show(await api.put<BudgetState>("/costs/budget", { monthly, currency, hard_limit: hardLimit }));
    } catch (err) {
      errors.take(err);
    }
  }

  return (
    <Card withBorder data-testid="budget-panel">
      <Title order={2} size="h5" mb="xs">
        {t("costs.budget")}
      </Title>
      {budget ? (
        <Stack gap={4} mb="sm">
          <Text size="sm" data-testid="budget-spent">
            {t("costs.budgetSpent", {
              spent: formatMoney(budget.spent, budget.currency),
              monthly: formatMoney(budget.monthly, budget.currency),
              percent: budget.percent,
              month: budget.month,
            })}
          </Text>
          <Progress value={Math.min(budget.percent, 100)} color={budget.percent >= 100 ? "red" : budget.percent >= 80 ? "orange" : "teal"} />
          {budget.hard_limit && (
            <Text size="xs" c="dimmed">
              {t("costs.hardLimitOn")}
            </Text>
          )}
        </Stack>
      ) : (
        <Text size="sm" c="dimmed" mb="sm">
          {t("costs.noBudget")}
        </Text>
      )}
      {admin && (
        <form onSubmit={save} noValidate data-testid="budget-form">
          <Stack gap="xs">
            <Group grow>
              <TextInput label={t("costs.monthly")} value={monthly} onChange={(e) => setMonthly(e.currentTarget.value)} error={errors.fields.monthly} data-testid="budget-monthly" />
              <TextInput label={t("costs.currency")} value={currency} onChange={(e) => setCurrency(e.currentTarget.value)} error={errors.fields.currency} maw={110} />
            </Group>
            <Checkbox label={t("costs.hardLimit")} description={t("costs.hardLimitHint")} checked={hardLimit} onChange={(e) => setHardLimit(e.currentTarget.checked)} />
            <FormError message={errors.general} />
            <Group justify="flex-end">
              <Button type="submit" size="xs" data-testid="budget-save">
                {t("costs.saveBudget")}
              </Button>
            </Group>
          </Stack>
        </form>
      )}
    </Card>
  );
}
