import { useState } from "react";
import { Alert } from "@mantine/core";
import { ApiError } from "../api/client";

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
