// The calls strip of the desktop: a ringing call to answer or decline, and the call the
// agent is on (status, time, microphone, mute, hang up).
import { useEffect, useState } from "react";
import { Button, Group, NativeSelect, Paper, Text } from "@mantine/core";
import { useTranslation } from "react-i18next";
import type { Call, Conversation } from "../api/types";
import { contactName } from "../components/messages";
import { formatDuration, secondsSince } from "../format";
import type { CallsState } from "./useCalls";

interface Props {
  calls: CallsState;
  conversations: Record<number, Conversation>;
  onOpen: (conversationId: number) => void;
  now: number;
}

function useMicrophones(active: boolean): MediaDeviceInfo[] {
  const [devices, setDevices] = useState<MediaDeviceInfo[]>([]);
  useEffect(() => {
    if (!active || !navigator.mediaDevices?.enumerateDevices) return;
    void navigator.mediaDevices
      .enumerateDevices()
      .then((all) => setDevices(all.filter((d) => d.kind === "audioinput")))
      .catch(() => undefined);
  }, [active]);
  return devices;
}

export function CallBar({ calls, conversations, onOpen, now }: Props) {
  const { t } = useTranslation();
  const { ringing, current } = calls;
  const microphones = useMicrophones(!!current);
  const [tick, setTick] = useState(Date.now());
  useEffect(() => {
    if (!current) return;
    const timer = window.setInterval(() => setTick(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, [current]);
  if (!ringing.length && !current) return null;
  const who = (call: Call) => {
    const c = conversations[call.conversation_id];
    return c ? contactName(c) : (call.contact_name ?? `#${call.conversation_id}`);
  };
  return (
    <Paper p="xs" bg="teal.0" radius={0} data-testid="call-bar" aria-live="assertive">
      {ringing.map((call) => (
        <Group key={call.id} justify="space-between" data-testid="incoming-call" data-call-id={call.id}>
          <Text size="sm" fw={600}>
            📞 {t("call.incoming", { name: who(call) })}
          </Text>
          <Group gap={4}>
            <Button size="xs" color="green" data-testid="call-answer" onClick={() => void calls.answer(call.id)}>
              {t("call.answer")}
            </Button>
            <Button size="xs" variant="default" data-testid="call-decline" onClick={() => void calls.decline(call.id)}>
              {t("call.decline")}
            </Button>
          </Group>
        </Group>
      ))}
      {current && (
        <Group
          justify="space-between"
          data-testid="current-call"
          data-call-id={current.id}
          data-status={current.status}
          data-packets-sent={calls.packets.sent}
          data-packets-received={calls.packets.received}
          data-muted={calls.muted}
        >
          <Group gap="xs">
            <Button variant="subtle" size="compact-sm" onClick={() => onOpen(current.conversation_id)}>
              📞 {who(current)}
            </Button>
            <Text size="sm" data-testid="call-status">
              {t(`call.status.${current.status}`)}
              {current.answered_at ? ` · ${formatDuration(secondsSince(current.answered_at, Math.max(now, tick)))}` : ""}
            </Text>
          </Group>
          <Group gap={4}>
            {microphones.length > 0 && (
              <NativeSelect
                size="xs"
                aria-label={t("call.microphone")}
                data-testid="call-microphone"
                value={calls.deviceId ?? microphones[0].deviceId}
                onChange={(e) => void calls.selectDevice(e.currentTarget.value)}
                data={microphones.map((d, i) => ({ value: d.deviceId, label: d.label || t("call.microphoneN", { n: i + 1 }) }))}
              />
            )}
            <Button size="xs" variant={calls.muted ? "filled" : "default"} data-testid="call-mute" aria-pressed={calls.muted} onClick={calls.toggleMute}>
              {calls.muted ? t("call.unmute") : t("call.mute")}
            </Button>
            <Button size="xs" color="red" data-testid="call-hangup" onClick={() => void calls.hangUp()}>
              {t("call.hangUp")}
            </Button>
          </Group>
        </Group>
      )}
    </Paper>
  );
}
