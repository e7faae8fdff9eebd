import { useEffect, useState } from "react";
import { Text } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import type { Estimate } from "../costs/types";
import { formatMoney } from "../costs/money";

interface Props {
  conversationId: number;
  templateName: string | null;
  language: string | null;
}

/** What sending this template to this customer will cost, shown before it is sent. */
export function CostEstimate({ conversationId, templateName, language }: Props) {
  const { t } = useTranslation();
  const [estimate, setEstimate] = useState<Estimate | null>(null);

  useEffect(() => {
    setEstimate(null);
    if (!templateName || !language) return;
    let live = true;
    api
      .post<Estimate>("/costs/estimate", {
        conversation_id: conversationId,
        template_name: templateName,
        language,
      })
      .then((e) => live && setEstimate(e))
      .catch(() => live && setEstimate(null)); // unknown template: Meta decides, no estimate
    return () => {
      live = false;
    };
  }, [conversationId, templateName, language]);

  if (!estimate) return null;
  const category = t(`costs.category.${estimate.category}`, { defaultValue: estimate.category });
  let text: string;
  if (estimate.billable === 0) text = t("costs.estimateFree", { category });
  else if (!estimate.currency) text = t("costs.estimateNoCard", { category });
  else if (estimate.unpriced > 0) text = t("costs.estimateUnpriced", { category });
  else text = t("costs.estimate", { amount: formatMoney(estimate.total, estimate.currency), category });
  return (
    <Text size="sm" c={estimate.billable ? undefined : "teal"} data-testid="cost-estimate" data-total={estimate.total}>
      {text}
    </Text>
  );
}
