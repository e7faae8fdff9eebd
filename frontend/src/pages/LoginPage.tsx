import { useState } from "react";
import { Alert, Button, Center, Group, Paper, PasswordInput, Stack, Text, TextInput, Title } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api, ApiError } from "../api/client";
import type { Me } from "../api/types";
import { LanguageSelect } from "../components/LanguageSelect";

export function LoginPage({ onSignedIn }: { onSignedIn: (me: Me) => void }) {
  const { t } = useTranslation();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: React.FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await api.post<Me>("/auth/login", { email, password }));
    } catch (err) {
      setError(err instanceof ApiError && err.status !== 0 ? err.message : t("errors.network"));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Center mih="100vh" bg="gray.0">
      <Paper withBorder shadow="sm" p="xl" w={380} component="main">
        <form onSubmit={submit} aria-labelledby="login-title">
          <Stack>
            <Group justify="space-between">
              <Title order={1} size="h3" id="login-title">
                {t("login.title")}
              </Title>
              <LanguageSelect />
            </Group>
            <Text size="sm" c="dimmed">
              {t("login.subtitle")}
            </Text>
            <TextInput
              label={t("login.email")}
              type="email"
              autoComplete="username"
              required
              value={email}
              onChange={(e) => setEmail(e.currentTarget.value)}
            />
            <PasswordInput
              label={t("login.password")}
              autoComplete="current-password"
              required
              value={password}
              onChange={(e) => setPassword(e.currentTarget.value)}
            />
            {error && (
              <Alert color="red" role="alert">
                {error}
              </Alert>
            )}
            <Button type="submit" loading={busy}>
              {t("login.submit")}
            </Button>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
