import { useCallback, useEffect, useState } from "react";
import { Center, Loader } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api, ApiError, onUnauthorized } from "./api/client";
import type { Me } from "./api/types";
import { setLocale } from "./i18n";
import { setTimeZone } from "./format";
import { SessionContext } from "./session";
import { LoginPage } from "./pages/LoginPage";
import { Shell } from "./pages/Shell";

export function App() {
  const { t } = useTranslation();
  const [me, setMe] = useState<Me | null | undefined>(undefined);

  const adopt = useCallback((value: Me | null) => {
    if (value?.user) setLocale(value.user.locale);
    setTimeZone(value?.workspace.timezone);
    setMe(value);
  }, []);

  const refresh = useCallback(async () => {
    try {
      adopt(await api.get<Me>("/auth/me"));
    } catch (error) {
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) adopt(null);
      else adopt(null);
    }
  }, [adopt]);

  useEffect(() => {
    void refresh();
    return onUnauthorized(() => setMe(null));
  }, [refresh]);

  const signOut = useCallback(async () => {
    try {
      await api.post("/auth/logout");
    } finally {
      setMe(null);
    }
  }, []);

  if (me === undefined) {
    return (
      <Center h="100vh">
        <Loader aria-label={t("common.loading")} />
      </Center>
    );
  }
  if (me === null) return <LoginPage onSignedIn={adopt} />;
  return (
    <SessionContext.Provider value={{ me, refresh, signOut }}>
      <Shell />
    </SessionContext.Provider>
  );
}
