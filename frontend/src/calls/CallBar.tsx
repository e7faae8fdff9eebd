// The calls strip of the desktop: a ringing call to answer or decline, and the call the
// agent is on (status, time, microphone, mute, hang up).
import { useEffect, useState } from "react";
import { Button, Group, NativeSelect, Paper, Popover, SimpleGrid, Text } from "@mantine/core";
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

const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];

/** The browser's microphones and (where it can choose one: setSinkId) speakers. */
function useAudioDevices(active: boolean): { inputs: MediaDeviceInfo[]; outputs: MediaDeviceInfo[] } {
  const [devices, setDevices] = useState<MediaDeviceInfo[]>([]);
  useEffect(() => {
    if (!active || !navigator.mediaDevices?.enumerateDevices) return;
    const read = () =>
      void navigator.mediaDevices
        .enumerateDevices()
        .then(setDevices)
        .catch(() => undefined);
    read();
    navigator.mediaDevices.addEventListener?.("devicechange", read);
    return () => navigator.mediaDevices.removeEventListener?.("devicechange", read);
  }, [active]);
  const canChooseOutput = typeof HTMLMediaElement !== "undefined" && "setSinkId" in HTMLMediaElement.prototype;
  return {
    inputs: devices.filter((d) => d.kind === "audioinput"),
    outputs: canChooseOutput ? devices.filter((d) => d.kind === "audiooutput") : [],
  };
}

/** The keypad: key presses go to the customer's side as DTMF (for a menu or a PIN). */
function Keypad({ calls }: { calls: CallsState }) {
  const { t } = useTranslation();
  const [open, setOpen] = useState(false);
  return (
    <Popover opened={open} onChange={setOpen} position="bottom-end" withinPortal={false} shadow="md">
      <Popover.Target>
        <Button
          size="xs"
          variant={open ? "filled" : "default"}
          data-testid="call-keypad"
          aria-expanded={open}
          disabled={!calls.dtmfReady}
          title={calls.dtmfReady ? undefined : t("call.keypadUnavailable")}
          onClick={() => setOpen((o) => !o)}
        >
          {t("call.keypad")}
        </Button>
      </Popover.Target>
      <Popover.Dropdown p="xs" data-testid="call-keypad-panel">
        <SimpleGrid cols={3} spacing={4} verticalSpacing={4}>
          {KEYS.map((key) => (
            <Button key={key} size="sm" variant="default" data-testid={`call-key-${key}`} onClick={() => calls.pressKeys(key)}>
              {key}
            </Button>
          ))}
        </SimpleGrid>
        <Text size="xs" c="dimmed" mt={4} ta="center" data-testid="call-keys-sent">
          {calls.dtmfSent || "\u00a0"}
        </Text>
      </Popover.Dropdown>
    </Popover>
  );
}

export function CallBar({ calls, conversations, onOpen, now }: Props) {
  const { t } = useTranslation();
  const { ringing, current } = calls;
  const { inputs: microphones, outputs: speakers } = useAudioDevices(!!current);
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
          data-held={calls.heldSince !== null}
          data-dtmf-sent={calls.dtmfSent}
        >
          <Group gap="xs">
            <Button variant="subtle" size="compact-sm" onClick={() => onOpen(current.conversation_id)}>
              📞 {who(current)}
            </Button>
            <Text size="sm" data-testid="call-status">
              {t(`call.status.${current.status}`)}
              {current.answered_at ? ` · ${formatDuration(secondsSince(current.answered_at, Math.max(now, tick)))}` : ""}
            </Text>
            {calls.heldSince && (
              <Text size="sm" c="orange" fw={600} data-testid="call-on-hold">
                {t("call.onHold", { time: formatDuration(secondsSince(calls.heldSince, Math.max(now, tick))) })}
              </Text>
            )}
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
            {speakers.length > 0 && (
              <NativeSelect
                size="xs"
                aria-label={t("call.speaker")}
                data-testid="call-speaker"
                value={calls.speakerId ?? speakers[0].deviceId}
                onChange={(e) => void calls.selectSpeaker(e.currentTarget.value)}
                data={speakers.map((d, i) => ({ value: d.deviceId, label: d.label || t("call.speakerN", { n: i + 1 }) }))}
              />
            )}
            <Keypad calls={calls} />
            <Button size="xs" variant={calls.muted ? "filled" : "default"} data-testid="call-mute" aria-pressed={calls.muted} onClick={calls.toggleMute}>
              {calls.muted ? t("call.unmute") : t("call.mute")}
            </Button>
            <Button
              size="xs"
              variant={calls.heldSince ? "filled" : "default"}
              color={calls.heldSince ? "orange" : undefined}
              data-testid="call-hold"
              aria-pressed={calls.heldSince !== null}
              disabled={current.status !== "active"}
              onClick={() => void calls.toggleHold()}
            >
              {calls.heldSince ? t("call.resume") : t("call.hold")}
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
