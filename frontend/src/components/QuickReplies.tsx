import { useEffect, useState } from "react";
import { ActionIcon, Menu, Tooltip } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";

interface Canned {
  id?: number;
  shortcut?: string;
  title?: string;
  body: string;
}

/** Canned responses of the workspace (hidden when the server offers none). */
export function QuickReplies({ onPick }: { onPick: (body: string) => void }) {
  const { t } = useTranslation();
  const [items, setItems] = useState<Canned[]>([]);

  useEffect(() => {
    api
      .get<Canned[] | { items: Canned[] }>("/canned-responses")
      .then((data) => setItems(Array.isArray(data) ? data : (data.items ?? [])))
      .catch(() => setItems([]));
  }, []);

  if (!items.length) return null;
  return (
    <Menu position="top-start">
      <Menu.Target>
        <Tooltip label={t("composer.quickReplies")}>
          <ActionIcon variant="subtle" aria-label={t("composer.quickReplies")}>
            ⚡
          </ActionIcon>
        </Tooltip>
      </Menu.Target>
      <Menu.Dropdown>
        {items.map((item, i) => (
          <Menu.Item key={item.id ?? i} onClick={() => onPick(item.body)}>
            {item.shortcut ? `/${item.shortcut} · ` : ""}
            {item.title ?? item.body.slice(0, 40)}
          </Menu.Item>
        ))}
      </Menu.Dropdown>
    </Menu>
  );
}
