import { type ReactNode, useEffect, useMemo, useState } from "react";
import { ActionIcon, Alert, Button, Group, Loader, Select, Stack, Switch, Text, TextInput, Title } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api, ApiError } from "../api/client";
import type { PhoneNumber } from "../api/types";
import { knownTimeZones } from "../format";

const DAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"] as const;

interface Hours {
  day_of_week: string;
  open_time: string;
  close_time: string;
}
interface Holiday {
  date: string;
  start_time: string;
  end_time: string;
}
/** Meta's `calling` object of a phone number's settings. */
export interface CallingSettingsData {
  status?: "ENABLED" | "DISABLED";
  call_icon_visibility?: "DEFAULT" | "DISABLE_ALL";
  callback_permission_status?: "ENABLED" | "DISABLED";
  call_hours?: {
    status: "ENABLED" | "DISABLED";
    timezone_id?: string | null;
    weekly_operating_hours?: Hours[];
    holiday_schedule?: Holiday[];
  };
}

/** Meta writes times as HHMM; the time inputs want HH:MM. */
const toInput = (hhmm: string) => (/^\d{4}$/.test(hhmm) ? `${hhmm.slice(0, 2)}:${hhmm.slice(2)}` : hhmm);
const toMeta = (value: string) => value.replace(":", "");

/** What Meta's refusal means, in the admin's language, with Meta's own words after it. */
function refusal(err: unknown, t: (key: string, opts?: Record<string, unknown>) => string): string {
  if (!(err instanceof ApiError)) return String(err);
  const body = (err.body as { detail?: Record<string, unknown> } | null)?.detail;
  const reason = body && typeof body === "object" ? (body.reason as string | undefined) : undefined;
  if (!reason) return err.message;
  const code = body?.meta_code as number | null | undefined;
  const said = body?.meta_message as string | null | undefined;
  const meaning = t(`calling.meta.${reason}`, { defaultValue: err.message });
  if (reason === "unreachable") return meaning;
  const tail = code != null ? `#${code}${said ? `: ${said}` : ""}` : said ?? "";
  return tail ? `${meaning} (${t("calling.metaSaid")} ${tail})` : meaning;
}

/** One span of time (weekly hours or a holiday): what it is, from, to, and a remove button. */
function SpanRow(props: {
  what: ReactNode;
  from: string;
  to: string;
  fromLabel: string;
  toLabel: string;
  onFrom: (hhmm: string) => void;
  onTo: (hhmm: string) => void;
  onRemove: () => void;
  removeLabel: string;
  testid: string;
  fromTestid?: string;
  toTestid?: string;
}) {
  return (
    <Group gap="xs" align="end" data-testid={props.testid}>
      {props.what}
      <TextInput
        type="time"
        aria-label={props.fromLabel}
        value={toInput(props.from)}
        onChange={(e) => props.onFrom(toMeta(e.currentTarget.value))}
        data-testid={props.fromTestid}
      />
      <Text size="sm">–</Text>
      <TextInput
        type="time"
        aria-label={props.toLabel}
        value={toInput(props.to)}
        onChange={(e) => props.onTo(toMeta(e.currentTarget.value))}
        data-testid={props.toTestid}
      />
      <ActionIcon variant="subtle" color="red" aria-label={props.removeLabel} onClick={props.onRemove}>
        ×
      </ActionIcon>
    </Group>
  );
}

/** A number's calling settings, kept at Meta: read when opened, sent on save. */
export function CallingSettings({ number }: { number: PhoneNumber }) {
  const { t } = useTranslation();
  const [loaded, setLoaded] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [enabled, setEnabled] = useState(true);
  const [icon, setIcon] = useState<string>("DEFAULT");
  const [callback, setCallback] = useState(true);
  const [hoursOn, setHoursOn] = useState(false);
  const [zone, setZone] = useState<string | null>(null);
  const [hours, setHours] = useState<Hours[]>([]);
  const [holidays, setHolidays] = useState<Holiday[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const zones = useMemo(() => {
    const all = knownTimeZones();
    return zone && !all.includes(zone) ? [zone, ...all] : all;
  }, [zone]);

  function show(c: CallingSettingsData) {
    setEnabled(c.status !== "DISABLED");
    setIcon(c.call_icon_visibility ?? "DEFAULT");
    setCallback(c.callback_permission_status !== "DISABLED");
    const h = c.call_hours;
    setHoursOn(h?.status === "ENABLED");
    setZone(h?.timezone_id ?? null);
    setHours((h?.weekly_operating_hours ?? []).map((x) => ({ ...x })));
    setHolidays(
      (h?.holiday_schedule ?? []).map((x) => ({ ...x, start_time: x.start_time ?? "0000", end_time: x.end_time ?? "2359" })),
    );
  }

  useEffect(() => {
    void api
      .get<{ calling: CallingSettingsData | null; problem: string | null }>(`/numbers/${number.id}/calling`)
      .then((r) => {
        if (r.calling) show(r.calling);
        setProblem(r.calling ? null : r.problem);
      })
      .catch((err) => setProblem(err instanceof ApiError ? err.message : String(err)))
      .finally(() => setLoaded(true));
  }, [number.id]);

  async function save(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setSaved(false);
    const body: CallingSettingsData = {
      status: enabled ? "ENABLED" : "DISABLED",
      call_icon_visibility: icon as CallingSettingsData["call_icon_visibility"],
      callback_permission_status: callback ? "ENABLED" : "DISABLED",
      call_hours: {
        status: hoursOn ? "ENABLED" : "DISABLED",
        // Switched off, the schedule is kept; a zone is sent only if there is one.
        ...(hoursOn || zone ? { timezone_id: zone } : {}),
        weekly_operating_hours: hours,
        holiday_schedule: holidays,
      },
    };
    try {
      const r = await api.put<{ calling: CallingSettingsData }>(`/numbers/${number.id}/calling`, body as Record<string, unknown>);
      show(r.calling);
      setProblem(null);
      setSaved(true);
    } catch (err) {
      setError(refusal(err, t));
    } finally {
      setBusy(false);
    }
  }

  if (!loaded) return <Loader size="sm" />;
  const setHour = (i: number, patch: Partial<Hours>) => setHours((hs) => hs.map((h, j) => (j === i ? { ...h, ...patch } : h)));
  const setHoliday = (i: number, patch: Partial<Holiday>) =>
    setHolidays((hs) => hs.map((h, j) => (j === i ? { ...h, ...patch } : h)));
  const dayOptions = DAYS.map((d) => ({ value: d, label: t(`calling.days.${d}`) }));

  return (
    <form onSubmit={save} noValidate data-testid="calling-settings">
      <Stack gap="sm">
        <Text size="sm" c="dimmed">
          {t("calling.hint")}
        </Text>
        {problem && (
          <Alert color="yellow" data-testid="calling-problem">
            {t("calling.notRead", { problem })}
          </Alert>
        )}
        <Switch
          label={t("calling.enabled")}
          description={t("calling.enabledHint")}
          checked={enabled}
          onChange={(e) => setEnabled(e.currentTarget.checked)}
          data-testid="calling-enabled"
        />
        <Select
          label={t("calling.icon")}
          data={[
            { value: "DEFAULT", label: t("calling.iconShown") },
            { value: "DISABLE_ALL", label: t("calling.iconHidden") },
          ]}
          value={icon}
          onChange={(v) => setIcon(v ?? "DEFAULT")}
          allowDeselect={false}
          comboboxProps={{ withinPortal: false }}
          data-testid="calling-icon"
        />
        <Switch
          label={t("calling.callback")}
          description={t("calling.callbackHint")}
          checked={callback}
          onChange={(e) => setCallback(e.currentTarget.checked)}
          data-testid="calling-callback"
        />
        <Switch
          label={t("calling.hours")}
          description={t("calling.hoursHint")}
          checked={hoursOn}
          onChange={(e) => setHoursOn(e.currentTarget.checked)}
          data-testid="calling-hours-on"
        />
        {hoursOn && (
          <Stack gap="xs" data-testid="calling-hours">
            <Select
              label={t("calling.timezone")}
              data={zones}
              value={zone}
              onChange={setZone}
              searchable
              allowDeselect={false}
              comboboxProps={{ withinPortal: false }}
              data-testid="calling-timezone"
            />
            <Title order={4} size="h6">
              {t("calling.weekly")}
            </Title>
            {hours.length === 0 && (
              <Text size="sm" c="dimmed">
                {t("calling.noHours")}
              </Text>
            )}
            {hours.map((h, i) => (
              <SpanRow
                key={i}
                what={
                  <Select
                    aria-label={t("calling.day")}
                    data={dayOptions}
                    value={h.day_of_week}
                    onChange={(v) => setHour(i, { day_of_week: v ?? "MONDAY" })}
                    allowDeselect={false}
                    comboboxProps={{ withinPortal: false }}
                    w={150}
                    data-testid="calling-day"
                  />
                }
                from={h.open_time}
                to={h.close_time}
                fromLabel={t("calling.opens")}
                toLabel={t("calling.closes")}
                onFrom={(open_time) => setHour(i, { open_time })}
                onTo={(close_time) => setHour(i, { close_time })}
                onRemove={() => setHours((hs) => hs.filter((_, j) => j !== i))}
                removeLabel={t("calling.remove")}
                testid="calling-hours-row"
                fromTestid="calling-opens"
                toTestid="calling-closes"
              />
            ))}
            <Group>
              <Button
                size="xs"
                variant="light"
                onClick={() =>
                  setHours((hs) => [
                    ...hs,
                    { day_of_week: DAYS[Math.min(hs.length, 6)], open_time: "0900", close_time: "1800" },
                  ])
                }
                data-testid="calling-add-hours"
              >
                {t("calling.addHours")}
              </Button>
            </Group>
            <Title order={4} size="h6">
              {t("calling.holidays")}
            </Title>
            {holidays.map((h, i) => (
              <SpanRow
                key={i}
                what={
                  <TextInput
                    type="date"
                    aria-label={t("calling.date")}
                    value={h.date}
                    onChange={(e) => setHoliday(i, { date: e.currentTarget.value })}
                    data-testid="calling-holiday-date"
                  />
                }
                from={h.start_time}
                to={h.end_time}
                fromLabel={t("calling.from")}
                toLabel={t("calling.to")}
                onFrom={(start_time) => setHoliday(i, { start_time })}
                onTo={(end_time) => setHoliday(i, { end_time })}
                onRemove={() => setHolidays((hs) => hs.filter((_, j) => j !== i))}
                removeLabel={t("calling.remove")}
                testid="calling-holiday-row"
              />
            ))}
            <Group>
              <Button
                size="xs"
                variant="light"
                onClick={() => setHolidays((hs) => [...hs, { date: "", start_time: "0000", end_time: "2359" }])}
                data-testid="calling-add-holiday"
              >
                {t("calling.addHoliday")}
              </Button>
            </Group>
          </Stack>
        )}
        {error && (
          <Alert color="red" role="alert" style={{ whiteSpace: "pre-wrap" }} data-testid="calling-error">
            {error}
          </Alert>
        )}
        {saved && (
          <Alert color="teal" data-testid="calling-saved">
            {t("calling.saved")}
          </Alert>
        )}
        <Group justify="flex-end">
          <Button type="submit" loading={busy} data-testid="calling-save">
            {t("calling.save")}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
