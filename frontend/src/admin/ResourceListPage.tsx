import { useEffect, useState } from "react";
import { Alert, Badge, Table, Title } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api, ApiError } from "../api/client";
import { templateRows } from "../components/TemplateSender";

type Kind = "templates" | "canned";

interface Column {
  key: string;
  label: string;
  badge?: boolean;
}

const SOURCES: Record<Kind, { paths: string[]; columns: string[]; badge?: string }> = {
  templates: {
    paths: ["/templates"],
    columns: ["name", "language", "category", "status", "quality_score", "rejected_reason"],
    badge: "status",
  },
  canned: { paths: ["/canned-responses"], columns: ["shortcut", "title", "body"] },
};

/** A read-only list of a workspace resource; says so when this server has no such API. */
export function ResourceListPage({ kind }: { kind: Kind }) {
  const { t } = useTranslation();
  const [rows, setRows] = useState<Array<Record<string, unknown>> | null>(null);
  const [missing, setMissing] = useState(false);
  const source = SOURCES[kind];

  useEffect(() => {
    let cancelled = false;
    setRows(null);
    setMissing(false);
    (async () => {
      for (const path of source.paths) {
        try {
          const data = await api.get<unknown>(path);
          if (!cancelled) setRows(templateRows(data) as unknown as Array<Record<string, unknown>>);
          return;
        } catch (err) {
          if (!(err instanceof ApiError) || (err.status !== 404 && err.status !== 405)) break;
        }
      }
      if (!cancelled) setMissing(true);
    })();
    return () => {
      cancelled = true;
    };
  }, [kind, source.paths]);

  const columns: Column[] = source.columns.map((key) => ({ key, label: t(`resources.${kind}.${key}`), badge: key === source.badge }));

  return (
    <div className="page">
      <Title order={1} size="h3" mb="md">
        {t(`nav.${kind}`)}
      </Title>
      <Alert color="gray" mb="md">
        {t(`resources.${kind}.hint`)}
      </Alert>
      {missing && <Alert color="yellow">{t("resources.notAvailable")}</Alert>}
      {rows && (
        <Table striped>
          <Table.Thead>
            <Table.Tr>
              {columns.map((c) => (
                <Table.Th key={c.key}>{c.label}</Table.Th>
              ))}
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((row, i) => (
              <Table.Tr key={String(row.id ?? i)}>
                {columns.map((c) => (
                  <Table.Td key={c.key}>
                    {c.badge && row[c.key] ? <Badge variant="light">{String(row[c.key])}</Badge> : String(row[c.key] ?? "")}
                  </Table.Td>
                ))}
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </div>
  );
}
