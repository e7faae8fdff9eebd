import { notifications } from "@mantine/notifications";
import { useTranslation } from "react-i18next";
import { useLive } from "../live";
import { navigate } from "../router";
import { formatMoney } from "./money";

/** A budget alert (80 %, 100 % of the month's WhatsApp budget) pops up for the staff
 * signed in when it happens; it stays until dismissed. */
export function BudgetAlerts() {
  const { t } = useTranslation();
  useLive({
    onEvent: (event) => {
      if (event.event !== "budget.alert") return;
      const e = event as unknown as { threshold: number; spent: string; budget: string; currency: string; month: string; hard_limit: boolean };
      notifications.show({
        id: `budget-${e.month}-${e.threshold}`,
        color: e.threshold >= 100 ? "red" : "orange",
        autoClose: false,
        title: t("costs.alertTitle", { threshold: e.threshold }),
        message: t(e.hard_limit && e.threshold >= 100 ? "costs.alertHardLimit" : "costs.alert", {
          spent: formatMoney(e.spent, e.currency),
          budget: formatMoney(e.budget, e.currency),
          month: e.month,
        }),
        onClick: () => navigate("/costs"),
        "data-testid": "budget-alert",
      } as Parameters<typeof notifications.show>[0]);
    },
  });
  return null;
}
