import { useState } from "react";
import { Alert, Select } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { ApiError } from "../api/client";
import type { Queue } from "../api/types";

/** Server errors by field, and the ones no field on the form claims. */
export function useServerErrors(knownFields: string[]) {
  const [fields, setFields] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState<string | null>(null);

  function take(err: unknown) {
    if (!(err instanceof ApiError)) {
      setGeneral(String(err));
      return;
    }
    const mine: Record<string, string> = {};
    const rest: string[] = [];
    for (const [field, message] of Object.entries(err.fields)) {
      const owner = knownFields.find((k) => field === k || field.startsWith(`${k}[`) || field.startsWith(`${k}.`));
      if (owner) mine[owner] = mine[owner] ? `${mine[owner]}; ${message}` : field === owner ? message : `${field}: ${message}`;
      else rest.push(field ? `${field}: ${message}` : message);
    }
    setFields(mine);
    setGeneral(rest.length ? rest.join("\n") : Object.keys(mine).length ? null : err.message);
  }

  function clear() {
    setFields({});
    setGeneral(null);
  }

  return { fields, general, take, clear };
}

export function FormError({ message }: { message: string | null }) {
  if (!message) return null;
  return (
    <Alert color="red" role="alert" style={{ whiteSpace: "pre-wrap" }} data-testid="form-error">
      {message}
    </Alert>
  );
}

/** Where a number's new conversations wait when no flow is bound to it. */
export function DefaultQueueSelect(props: {
  queues: Queue[];
  value: string | null;
  onChange: (value: string | null) => void;
  error?: string;
  testId: string;
}) {
  const { t } = useTranslation();
  return (
    <Select
      label={t("numbers.default_queue_id")}
      description={t("numbers.queueHint")}
      data={props.queues.map((q) => ({ value: String(q.id), label: q.name }))}
      value={props.value}
      onChange={props.onChange}
      clearable
      error={props.error}
      comboboxProps={{ withinPortal: false }}
      data-testid={props.testId}
    />
  );
}
