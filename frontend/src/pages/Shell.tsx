import { useEffect, useMemo, useState } from "react";
import { AppShell, Badge, Button, Group, Menu, Select, Text, Tooltip, UnstyledButton } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { LiveSocket, type LiveState } from "../api/live";
import type { Locale, Presence } from "../api/types";
import { LanguageSelect } from "../components/LanguageSelect";
import { askNotificationPermission } from "../components/alerts";
import { LiveContext, type LiveBus, type LiveListener } from "../live";
import { PresenceContext, useServerPresence } from "../presence";
import { navigate, usePath } from "../router";
import { isStaff, useSession } from "../session";
import { DesktopPage } from "./DesktopPage";
import { QueuesPage } from "../admin/QueuesPage";
import { UsersPage } from "../admin/UsersPage";
import { TokensPage } from "../admin/TokensPage";
import { AuditPage } from "../admin/AuditPage";
import { ResourceListPage } from "../admin/ResourceListPage";
import { CannedPage } from "../admin/CannedPage";
import { KnowledgePage } from "../admin/KnowledgePage";
import { NumbersPage } from "../admin/NumbersPage";
import { WorkspacePage } from "../admin/WorkspacePage";
import { FlowsPage } from "../flows/FlowsPage";
import { WallboardPage } from "../supervision/WallboardPage";
import { CampaignsPage } from "../campaigns/CampaignsPage";
import { BudgetAlerts } from "../costs/BudgetAlerts";
import { CostsPage } from "../costs/CostsPage";
import { ReportsPage } from "../reports/ReportsPage";

interface NavItem {
  path: string;
  label: string;
  admin?: boolean;
}

export function Shell() {
  const { t } = useTranslation();
  const { me, signOut } = useSession();
  const path = usePath();
  const [liveState, setLiveState] = useState<LiveState>("connecting");

  const bus = useMemo(() => {
    const listeners = new Set<LiveListener>();
    const socket = new LiveSocket({
      onEvent: (event) => listeners.forEach((l) => l.onEvent?.(event)),
      onResync: (reason) => listeners.forEach((l) => l.onResync?.(reason)),
      onState: setLiveState,
    });
    const value: LiveBus & { socket: LiveSocket } = {
      socket,
      subscribe: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      reconnectNow: () => socket.reconnectNow(),
      send: (payload) => socket.send(payload),
    };
    return value;
  }, []);

  useEffect(() => {
    bus.socket.start();
    // Tests and support staff can drop the link on purpose: window.madoguchiLive.reconnectNow()
    (window as unknown as { madoguchiLive: LiveBus }).madoguchiLive = bus;
    return () => bus.socket.stop();
  }, [bus]);

  const { presence, known: presenceKnown, change: setServerPresence } = useServerPresence(bus, me.user?.id ?? null);

  async function changePresence(value: Presence) {
    if (value === "available") askNotificationPermission();
    await setServerPresence(value);
  }

  async function saveLocale(locale: Locale) {
    if (me.user) await api.patch("/users/me", { locale });
  }

  const admin = me.role === "admin";
  const top: NavItem[] = [
    { path: "/", label: t("nav.desktop") },
    ...(isStaff(me) ? [{ path: "/wallboard", label: t("wallboard.title") }] : []),
    ...(isStaff(me) ? [{ path: "/admin/queues", label: t("nav.queues") }] : []),
    ...(isStaff(me) ? [{ path: "/campaigns", label: t("campaigns.nav") }] : []),
    ...(isStaff(me) ? [{ path: "/reports", label: t("reports.nav") }] : []),
    ...(isStaff(me) ? [{ path: "/costs", label: t("costs.nav") }] : []),
    ...(admin ? [{ path: "/flows", label: t("nav.flows") }] : []),
  ];
  const adminItems: NavItem[] = admin
    ? [
        { path: "/admin/workspace", label: t("nav.workspace") },
        { path: "/admin/users", label: t("nav.users") },
        { path: "/admin/numbers", label: t("nav.numbers") },
        { path: "/admin/templates", label: t("nav.templates") },
        { path: "/admin/canned", label: t("nav.canned") },
        { path: "/admin/knowledge", label: t("nav.knowledge") },
        { path: "/admin/tokens", label: t("nav.tokens") },
        { path: "/admin/audit", label: t("audit.nav") },
      ]
    : [];
  const isActive = (item: NavItem) =>
    item.path === "/"
      ? path === "/" || path === "/desktop" || path.startsWith("/conversations/")
      : path.startsWith(item.path);

  const liveColor = liveState === "open" ? "teal" : liveState === "connecting" ? "yellow" : "red";

  if (path === "/wallboard/tv" && isStaff(me)) {
    // The wall display: large type, no navigation (the live socket still feeds it).
    return (
      <LiveContext.Provider value={bus}>
        <WallboardPage tv />
      </LiveContext.Provider>
    );
  }

  return (
    <LiveContext.Provider value={bus}>
      <PresenceContext.Provider value={presence}>
      {isStaff(me) && <BudgetAlerts />}
      <AppShell header={{ height: 52 }} padding={0}>
        <AppShell.Header px="sm">
          <Group h="100%" justify="space-between" wrap="nowrap">
            <Group gap="xs" wrap="nowrap">
              <Text fw={700} mr="sm">
                {t("app.name")}
              </Text>
              <nav aria-label={t("nav.label")}>
                <Group gap={2} wrap="nowrap">
                  {top.map((item) => (
                    <UnstyledButton
                      key={item.path}
                      className="nav-link"
                      data-active={isActive(item) || undefined}
                      aria-current={isActive(item) ? "page" : undefined}
                      onClick={() => navigate(item.path)}
                    >
                      {item.label}
                    </UnstyledButton>
                  ))}
                  {adminItems.length > 0 && (
                    <Menu position="bottom-start">
                      <Menu.Target>
                        <UnstyledButton className="nav-link" data-active={adminItems.some(isActive) || undefined}>
                          {t("nav.admin")} ▾
                        </UnstyledButton>
                      </Menu.Target>
                      <Menu.Dropdown>
                        {adminItems.map((item) => (
                          <Menu.Item key={item.path} onClick={() => navigate(item.path)} aria-current={isActive(item) ? "page" : undefined}>
                            {item.label}
                          </Menu.Item>
                        ))}
                      </Menu.Dropdown>
                    </Menu>
                  )}
                </Group>
              </nav>
            </Group>
            <Group gap="xs" wrap="nowrap">
              <Tooltip label={t(`live.${liveState}`)}>
                <Badge color={liveColor} variant="dot" data-testid="live-state" data-state={liveState}>
                  {t(`live.short.${liveState}`)}
                </Badge>
              </Tooltip>
              {me.user && (
                <Select
                  aria-label={t("presence.label")}
                  data-testid="presence-select"
                  data-presence={presenceKnown ? presence : undefined}
                  size="xs"
                  w={130}
                  allowDeselect={false}
                  value={presence}
                  data={(["available", "away", "offline"] as Presence[]).map((p) => ({
                    value: p,
                    label: t(`presence.${p}`),
                  }))}
                  onChange={(value) => value && void changePresence(value as Presence)}
                />
              )}
              <LanguageSelect onChange={(l) => void saveLocale(l)} />
              <Text size="sm" visibleFrom="xl" title={me.user?.email}>
                {me.user?.name ?? t(`roles.${me.role}`)}
              </Text>
              <Button size="xs" variant="subtle" onClick={() => void signOut()}>
                {t("shell.signOut")}
              </Button>
            </Group>
          </Group>
        </AppShell.Header>
        <AppShell.Main>
          <Page path={path} />
        </AppShell.Main>
      </AppShell>
      </PresenceContext.Provider>
    </LiveContext.Provider>
  );
}

function Page({ path }: { path: string }) {
  if (path === "/wallboard") return <WallboardPage />;
  if (path === "/admin/queues") return <QueuesPage />;
  if (path === "/admin/users") return <UsersPage />;
  if (path === "/admin/tokens") return <TokensPage />;
  if (path === "/admin/audit") return <AuditPage />;
  if (path === "/admin/numbers") return <NumbersPage />;
  if (path === "/admin/workspace") return <WorkspacePage />;
  if (path === "/admin/templates") return <ResourceListPage kind="templates" />;
  if (path === "/admin/canned") return <CannedPage />;
  if (path === "/admin/knowledge") return <KnowledgePage />;
  if (path.startsWith("/flows")) return <FlowsPage path={path} />;
  if (path.startsWith("/campaigns")) return <CampaignsPage path={path} />;
  if (path === "/costs") return <CostsPage />;
  if (path === "/reports" || path.startsWith("/reports/")) return <ReportsPage path={path} />;
  return <DesktopPage />;
}
