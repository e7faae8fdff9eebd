import { ActionIcon, Anchor, Badge, Group, Stack, Text, Tooltip } from "@mantine/core";
import { useTranslation } from "react-i18next";
import type { Message } from "../api/types";
import { formatBytes, formatDateTime, formatTime } from "../format";
import { inner, preview, str } from "./messages";
import { uploadedMediaUrl } from "./uploads";
import { CallEntry, CallPermissionEntry, VideoEntry } from "../calls/CallEntry";

interface Props {
  message: Message;
  quoted?: Message | null;
  reactions?: string[];
  onReply?: (m: Message) => void;
}

const SYSTEM_TYPES = new Set(["system", "request_welcome", "unsupported", "errors"]);

export function MessageBubble({ message: m, quoted, reactions, onReply }: Props) {
  const { t } = useTranslation();
  if (SYSTEM_TYPES.has(m.type)) {
    return (
      <div className="system-line" data-testid="message" data-message-id={m.id} data-type={m.type}>
        {m.type === "request_welcome"
          ? t("message.requestWelcome")
          : m.type === "system"
            ? m.text || t("message.system")
            : t("message.unsupported", { type: m.type })}
        {m.errors?.length ? ` — ${m.errors.map((e) => str(e.title) ?? str(e.message) ?? "").join("; ")}` : ""}
      </div>
    );
  }
  const failed = m.status === "failed";
  const who = m.direction === "inbound" ? t("message.fromCustomer") : t("message.fromUs");
  return (
    <div className="bubble-row">
      <div
        className={`bubble ${m.direction}${failed ? " failed" : ""}`}
        data-testid="message"
        data-message-id={m.id}
        data-direction={m.direction}
        data-type={m.type}
        data-status={m.status}
        role="article"
        aria-label={`${who}, ${formatDateTime(m.timestamp)}`}
      >
        {m.forwarded && (
          <Text size="xs" c="dimmed" fs="italic">
            {m.frequently_forwarded ? t("message.forwardedMany") : t("message.forwarded")}
          </Text>
        )}
        {m.reply_to_wamid && (
          <div className="quote" data-testid="quote">
            {quoted ? preview(quoted) : t("message.quotedUnknown")}
          </div>
        )}
        <Body m={m} />
        <div className="meta">
          <time dateTime={m.timestamp} title={formatDateTime(m.timestamp)}>
            {formatTime(m.timestamp)}
          </time>{" "}
          {m.direction === "outbound" && <Ticks m={m} />}
        </div>
        {failed && (
          <Text size="xs" c="red" role="alert" data-testid="message-error">
            {t("status.failedBecause", {
              reason: m.error_message || t("status.unknownError"),
            })}
            {m.error_code ? ` (${m.error_code})` : ""}
          </Text>
        )}
        {reactions && reactions.length > 0 && (
          <span className="reaction-badge" aria-label={t("message.reactions", { list: reactions.join(" ") })}>
            {reactions.join("")}
          </span>
        )}
        {onReply && m.wamid && (
          <div className="actions">
            <Tooltip label={t("message.reply")}>
              <ActionIcon size="sm" variant="subtle" aria-label={t("message.reply")} onClick={() => onReply(m)}>
                ↩
              </ActionIcon>
            </Tooltip>
          </div>
        )}
      </div>
    </div>
  );
}

function Ticks({ m }: { m: Message }) {
  const { t } = useTranslation();
  const label = t(`status.${m.status}`);
  const glyph: Record<string, string> = {
    queued: "🕓",
    accepted: "✓",
    sent: "✓",
    delivered: "✓✓",
    read: "✓✓",
    failed: "⚠",
  };
  return (
    <span
      className={m.status === "read" ? "tick-read" : undefined}
      data-testid="ticks"
      role="img"
      aria-label={label}
      title={label}
    >
      {glyph[m.status] ?? ""}
    </span>
  );
}

function MediaBlock({ m, kind }: { m: Message; kind: string }) {
  const { t } = useTranslation();
  const c = inner(m);
  const url = m.media?.download_url ?? uploadedMediaUrl(str(c.id));
  const caption = str(c.caption);
  const filename = m.media?.filename ?? str(c.filename);
  if (!url) {
    const state = m.media?.status === "failed" ? t("media.failed", { error: m.media.error ?? "" }) : t("media.pending");
    return (
      <Stack gap={2}>
        <Text size="sm" c="dimmed">
          {t(`media.kind.${kind}`, { defaultValue: kind })} — {m.direction === "outbound" ? t("media.sent") : state}
        </Text>
        {caption && <Text size="sm">{caption}</Text>}
      </Stack>
    );
  }
  let element: React.ReactNode;
  if (kind === "image" || kind === "sticker") {
    element = <img src={url} alt={caption ?? t(`media.kind.${kind}`)} loading="lazy" style={kind === "sticker" ? { maxWidth: 140 } : undefined} />;
  } else if (kind === "video") {
    element = <video src={url} controls preload="metadata" aria-label={caption ?? t("media.kind.video")} />;
  } else if (kind === "audio") {
    element = (
      <audio src={url} controls preload="metadata" aria-label={c.voice ? t("media.voice") : t("media.kind.audio")} />
    );
  } else {
    element = (
      <Anchor href={url} download={filename ?? true} data-testid="document-link">
        📄 {filename ?? t("media.kind.document")} {m.media?.file_size ? `(${formatBytes(m.media.file_size)})` : ""}
      </Anchor>
    );
  }
  return (
    <Stack gap={4}>
      {element}
      {caption && <Text size="sm">{caption}</Text>}
    </Stack>
  );
}

function Body({ m }: { m: Message }) {
  const { t } = useTranslation();
  const c = inner(m);
  switch (m.type) {
    case "text":
      return <Text size="sm" style={{ whiteSpace: "pre-wrap" }}>{str(c.body) ?? m.text}</Text>;
    case "image":
    case "video":
    case "audio":
    case "document":
    case "sticker":
      return <MediaBlock m={m} kind={m.type} />;
    case "location": {
      const lat = Number(c.latitude);
      const lon = Number(c.longitude);
      const href = `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=16/${lat}/${lon}`;
      return (
        <Stack gap={2}>
          <Text size="sm">📍 {str(c.name) ?? t("message.location")}</Text>
          {str(c.address) && <Text size="xs">{str(c.address)}</Text>}
          <Anchor href={href} target="_blank" rel="noopener noreferrer" size="sm" data-testid="map-link">
            {t("message.openMap")} ({lat.toFixed(5)}, {lon.toFixed(5)})
          </Anchor>
        </Stack>
      );
    }
    case "contacts": {
      const cards = Array.isArray(c.contacts) ? (c.contacts as Array<Record<string, unknown>>) : [];
      return (
        <Stack gap={4}>
          {cards.map((card, i) => {
            const name = (card.name as Record<string, unknown> | undefined) ?? {};
            const phones = (card.phones as Array<Record<string, unknown>> | undefined) ?? [];
            const emails = (card.emails as Array<Record<string, unknown>> | undefined) ?? [];
            return (
              <div key={i}>
                <Text size="sm" fw={600}>
                  👤 {str(name.formatted_name) ?? t("message.contact")}
                </Text>
                {phones.map((p, j) => (
                  <Text size="xs" key={`p${j}`}>
                    ☎ {str(p.phone) ?? str(p.wa_id)} {str(p.type) ? `(${str(p.type)})` : ""}
                  </Text>
                ))}
                {emails.map((e, j) => (
                  <Text size="xs" key={`e${j}`}>
                    ✉ {str(e.email)}
                  </Text>
                ))}
              </div>
            );
          })}
        </Stack>
      );
    }
    case "call":
      return <CallEntry content={m.content} />;
    case "video_call":
      return <VideoEntry content={m.content} />;
    case "interactive": {
      const kind = str(c.type);
      if (kind === "call_permission_request" || kind === "call_permission_reply") {
        return <CallPermissionEntry content={c} />;
      }
      if (kind === "button_reply" || kind === "list_reply") {
        const reply = (c[kind] as Record<string, unknown>) ?? {};
        return (
          <Stack gap={2}>
            <Text size="xs" c="dimmed">
              {kind === "button_reply" ? t("message.buttonReply") : t("message.listReply")}
            </Text>
            <Badge variant="light" size="lg" tt="none">
              {str(reply.title)}
            </Badge>
            {str(reply.description) && <Text size="xs">{str(reply.description)}</Text>}
          </Stack>
        );
      }
      if (kind === "nfm_reply") {
        const reply = (c.nfm_reply as Record<string, unknown>) ?? {};
        return <Text size="sm">📝 {str(reply.body) ?? t("message.formReply")}</Text>;
      }
      const body = (c.body as Record<string, unknown> | undefined) ?? {};
      const action = (c.action as Record<string, unknown> | undefined) ?? {};
      const buttons = (action.buttons as Array<Record<string, unknown>> | undefined) ?? [];
      return (
        <Stack gap={4}>
          <Text size="sm" style={{ whiteSpace: "pre-wrap" }}>{str(body.text) ?? m.text}</Text>
          <Group gap={4}>
            {buttons.map((b, i) => {
              const reply = (b.reply as Record<string, unknown> | undefined) ?? {};
              return (
                <Badge key={i} variant="outline" tt="none">
                  {str(reply.title)}
                </Badge>
              );
            })}
            {str(action.button) && (
              <Badge variant="outline" tt="none">
                ☰ {str(action.button)}
              </Badge>
            )}
          </Group>
        </Stack>
      );
    }
    case "button":
      return (
        <Stack gap={2}>
          <Text size="xs" c="dimmed">
            {t("message.buttonReply")}
          </Text>
          <Badge variant="light" size="lg" tt="none">
            {str(c.text) ?? m.text}
          </Badge>
        </Stack>
      );
    case "reaction":
      return (
        <Text size="sm">
          {str(c.emoji) ? t("message.reacted", { emoji: str(c.emoji) }) : t("message.reactionRemoved")}
        </Text>
      );
    case "template": {
      const language = (c.language as Record<string, unknown> | undefined) ?? {};
      return (
        <Stack gap={2}>
          <Text size="xs" c="dimmed">
            {t("message.template", { name: str(c.name) ?? "", language: str(language.code) ?? "" })}
          </Text>
          {m.text && !m.text.startsWith("[template") && <Text size="sm">{m.text}</Text>}
        </Stack>
      );
    }
    case "order": {
      const items = Array.isArray(c.product_items) ? c.product_items.length : 0;
      return (
        <Text size="sm">
          🛒 {t("message.order", { count: items })} {m.text ?? ""}
        </Text>
      );
    }
    default:
      return <Text size="sm">{m.text ?? t("message.unsupported", { type: m.type })}</Text>;
  }
}
