// A call, or a call-permission request or answer, as it shows in the conversation.
import { Badge, Group, Stack, Text } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { formatDateTime, formatDuration } from "../format";
import { str } from "../components/messages";

export function CallEntry({ content }: { content: Record<string, unknown> }) {
  const { t } = useTranslation();
  const status = str(content.status) ?? "ringing";
  const direction = str(content.direction) === "outbound" ? "outbound" : "inbound";
  const seconds = typeof content.duration_seconds === "number" ? content.duration_seconds : null;
  const reason = str(content.end_reason);
  return (
    <Group gap={6} data-testid="call-entry" data-call-status={status} wrap="nowrap">
      <Text size="lg" aria-hidden>
        {status === "missed" || status === "rejected" || status === "failed" ? "📵" : "📞"}
      </Text>
      <Stack gap={0}>
        <Text size="sm" fw={600}>
          {t(`call.entry.${direction}`)} · {t(`call.status.${status}`)}
        </Text>
        <Text size="xs" c="dimmed">
          {seconds !== null ? t("call.entry.lasted", { time: formatDuration(seconds) }) : ""}
          {reason ? `${seconds !== null ? " · " : ""}${t(`call.reason.${reason}`, { defaultValue: reason })}` : ""}
        </Text>
      </Stack>
    </Group>
  );
}

export function CallPermissionEntry({ content }: { content: Record<string, unknown> }) {
  const { t } = useTranslation();
  if (content.type === "call_permission_request") {
    const body = (content.body as Record<string, unknown> | undefined) ?? {};
    return (
      <Stack gap={2} data-testid="call-permission-request">
        <Text size="xs" c="dimmed">
          📞 {t("call.permission.asked")}
        </Text>
        {str(body.text) && <Text size="sm">{str(body.text)}</Text>}
      </Stack>
    );
  }
  const reply = (content.call_permission_reply as Record<string, unknown> | undefined) ?? {};
  const accepted = reply.response === "accept";
  const expires = typeof reply.expiration_timestamp === "number" ? reply.expiration_timestamp : null;
  return (
    <Stack gap={2} data-testid="call-permission-reply" data-response={accepted ? "accept" : "reject"}>
      <Badge variant="light" color={accepted ? "green" : "red"} size="lg" tt="none">
        📞 {accepted ? t("call.permission.granted") : t("call.permission.refused")}
      </Badge>
      {accepted && (
        <Text size="xs" c="dimmed">
          {reply.is_permanent
            ? t("call.permission.permanent")
            : expires
              ? t("call.permission.until", { time: formatDateTime(new Date(expires * 1000).toISOString()) })
              : ""}
        </Text>
      )}
    </Stack>
  );
}

export function VideoEntry({ content }: { content: Record<string, unknown> }) {
  const { t } = useTranslation();
  const status = str(content.status) ?? "open";
  const seconds = typeof content.duration_seconds === "number" ? content.duration_seconds : null;
  return (
    <Group gap={6} data-testid="video-entry" data-video-status={status} wrap="nowrap">
      <Text size="lg" aria-hidden>
        🎥
      </Text>
      <Stack gap={0}>
        <Text size="sm" fw={600}>
          {t("video.entry")} · {t(`video.status.${status}`)}
        </Text>
        {seconds !== null && (
          <Text size="xs" c="dimmed">
            {t("call.entry.lasted", { time: formatDuration(seconds) })}
          </Text>
        )}
      </Stack>
    </Group>
  );
}
