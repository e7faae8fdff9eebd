import { useEffect, useRef, useState } from "react";
import {
  ActionIcon,
  Alert,
  Button,
  CloseButton,
  FileButton,
  Group,
  Popover,
  Stack,
  Text,
  Textarea,
  Tooltip,
} from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api, ApiError } from "../api/client";
import type { Conversation, Message } from "../api/types";
import { formatDateTime } from "../format";
import { preview, windowOpen } from "./messages";
import { rememberUpload } from "./uploads";
import { TemplateSender } from "./TemplateSender";
import { QuickReplies } from "./QuickReplies";
import { useSession } from "../session";
import { type CannedResponse, fillCanned, matchCanned, slashQuery } from "./canned";

const EMOJI = "😀 😊 😂 🙂 😉 😍 🤔 😅 😢 😮 🙏 👍 👎 👌 👏 🙌 🎉 ❤️ 💯 ✅ ❌ ⚠️ ⏰ 📦 🚚 💳 📞 📧 📍 🔧 ☕ 🌸".split(" ");

function mediaKind(mime: string): "image" | "video" | "audio" | "document" {
  if (mime.startsWith("image/") && mime !== "image/webp") return "image";
  if (mime.startsWith("video/")) return "video";
  if (mime.startsWith("audio/")) return "audio";
  return "document";
}

interface Props {
  conversation: Conversation;
  canWrite: boolean;
  replyTo: Message | null;
  onClearReply: () => void;
  onSent: (m: Message) => void;
  now: number;
  /** Text to add to the draft (a suggested answer): a new ``seq`` each time. */
  insert?: { text: string; seq: number } | null;
}

export function Composer({ conversation, canWrite, replyTo, onClearReply, onSent, now, insert }: Props) {
  const { t } = useTranslation();
  const myId = useSession().me.user?.id ?? null;
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [emojiOpen, setEmojiOpen] = useState(false);
  const input = useRef<HTMLTextAreaElement>(null);
  const open = windowOpen(conversation, now);
  const [canned, setCanned] = useState<CannedResponse[]>([]);
  const [active, setActive] = useState(0);
  const [dismissed, setDismissed] = useState<string | null>(null);

  useEffect(() => {
    api
      .get<CannedResponse[]>("/canned-responses")
      .then((rows) => setCanned(Array.isArray(rows) ? rows : []))
      .catch(() => setCanned([]));
  }, []);

  const slash = slashQuery(text);
  const suggestions = slash && dismissed !== text ? matchCanned(canned, slash.query) : [];
  const suggesting = suggestions.length > 0;
  const current = Math.min(active, Math.max(suggestions.length - 1, 0));

  function insertCanned(item: CannedResponse) {
    const value = input.current?.value ?? text;
    const at = slashQuery(value);
    const filled = fillCanned(item.body, conversation.contact);
    setText(at ? value.slice(0, at.start) + filled : value + filled);
    setActive(0);
    input.current?.focus();
  }

  useEffect(() => {
    setText("");
    setError(null);
  }, [conversation.id]);

  useEffect(() => {
    if (replyTo) input.current?.focus();
  }, [replyTo]);

  useEffect(() => {
    if (!insert) return;
    const filled = fillCanned(insert.text, conversation.contact);
    setText((draft) => (draft.trim() ? `${draft.trimEnd()}\n${filled}` : filled));
    input.current?.focus();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [insert?.seq]);

  async function send(message: Record<string, unknown>) {
    setBusy(true);
    setError(null);
    try {
      const sent = await api.post<Message>(`/conversations/${conversation.id}/messages`, {
        message,
        reply_to_message_id: replyTo?.id ?? null,
      });
      onSent(sent);
      onClearReply();
      return true;
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
      return false;
    } finally {
      setBusy(false);
    }
  }

  async function sendText() {
    // the field itself: a key pressed right after typing may beat the re-render
    const body = (input.current?.value ?? text).trim();
    if (!body || busy) return;
    if (await send({ type: "text", text: { body, preview_url: /https?:\/\//.test(body) } })) {
      setText("");
    }
    input.current?.focus();
  }

  async function attach(file: File | null) {
    if (!file) return;
    setBusy(true);
    setError(null);
    try {
      const form = new FormData();
      form.append("phone_number_id", conversation.phone_number_id);
      form.append("file", file);
      const uploaded = await api.post<{ media_id: string; media: { download_url: string | null } }>(
        "/media",
        form,
      );
      if (uploaded.media.download_url) rememberUpload(uploaded.media_id, uploaded.media.download_url);
      const kind = mediaKind(file.type);
      const object: Record<string, unknown> = { id: uploaded.media_id };
      const caption = text.trim();
      if (caption && kind !== "audio") object.caption = caption;
      if (kind === "document") object.filename = file.name;
      setBusy(false);
      if (await send({ type: kind, [kind]: object })) setText("");
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
      setBusy(false);
    }
  }

  if (!canWrite) {
    return (
      <div className="composer">
        <Text size="sm" c="dimmed" data-testid="composer-readonly">
          {readOnlyReason(conversation, myId, t)}
        </Text>
      </div>
    );
  }

  if (!open) {
    return (
      <div className="composer" data-testid="composer-window-closed">
        <Alert color="orange" title={t("composer.windowClosedTitle")} mb="xs" role="status">
          {conversation.service_window_closes_at
            ? t("composer.windowClosedSince", { when: formatDateTime(conversation.service_window_closes_at) })
            : t("composer.windowNeverOpened")}{" "}
          {t("composer.windowClosedWhy")}
        </Alert>
        <TemplateSender onSend={send} busy={busy} conversationId={conversation.id} />
        {error && (
          <Text c="red" size="sm" role="alert" mt={4}>
            {error}
          </Text>
        )}
      </div>
    );
  }

  return (
    <div className="composer">
      {replyTo && (
        <Group justify="space-between" mb={4} className="quote" data-testid="replying-to">
          <Text size="xs" lineClamp={1}>
            {t("composer.replyingTo")}: {preview(replyTo)}
          </Text>
          <CloseButton size="sm" aria-label={t("composer.cancelReply")} onClick={onClearReply} />
        </Group>
      )}
      <Stack gap={4}>
        {suggesting && (
          <div className="canned-suggestions" id="canned-suggestions" role="listbox" aria-label={t("composer.cannedLabel")} data-testid="canned-suggestions">
            {suggestions.map((item, i) => (
              <div
                key={item.id}
                id={`canned-option-${item.id}`}
                role="option"
                aria-selected={i === current}
                className={i === current ? "canned-option active" : "canned-option"}
                data-testid="canned-option"
                onMouseDown={(e) => {
                  e.preventDefault(); // keep the focus in the field
                  insertCanned(item);
                }}
                onMouseEnter={() => setActive(i)}
              >
                <Text size="sm" fw={600} span>
                  /{item.shortcut}
                </Text>{" "}
                <Text size="sm" span>
                  {item.title}
                </Text>
                <Text size="xs" c="dimmed" lineClamp={1}>
                  {fillCanned(item.body, conversation.contact)}
                </Text>
              </div>
            ))}
            <Text size="xs" c="dimmed" px={8} pb={4}>
              {t("composer.cannedHint")}
            </Text>
          </div>
        )}
        <Textarea
          ref={input}
          aria-label={t("composer.label")}
          placeholder={t("composer.placeholder")}
          autosize
          minRows={1}
          maxRows={6}
          value={text}
          data-testid="composer-input"
          onChange={(e) => {
            setText(e.currentTarget.value);
            setActive(0);
          }}
          aria-expanded={suggesting}
          aria-controls={suggesting ? "canned-suggestions" : undefined}
          aria-activedescendant={suggesting ? `canned-option-${suggestions[current].id}` : undefined}
          onKeyDown={(e) => {
            if (suggesting && !e.nativeEvent.isComposing) {
              if (e.key === "ArrowDown" || e.key === "ArrowUp") {
                e.preventDefault();
                const step = e.key === "ArrowDown" ? 1 : -1;
                setActive((current + step + suggestions.length) % suggestions.length);
                return;
              }
              if ((e.key === "Enter" && !e.shiftKey) || e.key === "Tab") {
                e.preventDefault();
                insertCanned(suggestions[current]);
                return;
              }
              if (e.key === "Escape") {
                e.preventDefault();
                setDismissed(text);
                return;
              }
            }
            if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
              e.preventDefault();
              void sendText();
            }
            if (e.key === "Escape" && replyTo) onClearReply();
          }}
        />
        <Group justify="space-between">
          <Group gap={4}>
            <Popover opened={emojiOpen} onChange={setEmojiOpen} position="top-start" trapFocus>
              <Popover.Target>
                <Tooltip label={t("composer.emoji")} disabled={emojiOpen}>
                  <ActionIcon variant="subtle" aria-label={t("composer.emoji")} onClick={() => setEmojiOpen((o) => !o)}>
                    🙂
                  </ActionIcon>
                </Tooltip>
              </Popover.Target>
              <Popover.Dropdown>
                <div className="emoji-grid" role="group" aria-label={t("composer.emoji")}>
                  {EMOJI.map((e) => (
                    <button
                      type="button"
                      key={e}
                      aria-label={e}
                      onClick={() => {
                        setText((v) => v + e);
                        setEmojiOpen(false);
                        input.current?.focus();
                      }}
                    >
                      {e}
                    </button>
                  ))}
                </div>
              </Popover.Dropdown>
            </Popover>
            <FileButton onChange={(f) => void attach(f)}>
              {(props) => (
                <Tooltip label={t("composer.attach")}>
                  <ActionIcon variant="subtle" aria-label={t("composer.attach")} {...props} disabled={busy}>
                    📎
                  </ActionIcon>
                </Tooltip>
              )}
            </FileButton>
            <QuickReplies
              onPick={(body) => {
                setText(fillCanned(body, conversation.contact));
                input.current?.focus();
              }}
            />
          </Group>
          <Group gap={6}>
            <Text size="xs" c="dimmed" visibleFrom="md">
              {t("composer.hint")}
            </Text>
            <Button size="xs" onClick={() => void sendText()} loading={busy} disabled={!text.trim()} data-testid="send-button">
              {t("composer.send")}
            </Button>
          </Group>
        </Group>
        {error && (
          <Text c="red" size="sm" role="alert" data-testid="composer-error">
            {error}
          </Text>
        )}
      </Stack>
    </div>
  );
}

/** Why this person cannot write here, in words that match the conversation's state now. */
function readOnlyReason(c: Conversation, myId: number | null, t: (key: string) => string): string {
  if (c.status === "closed" || c.status === "abandoned") return t("composer.closed");
  if (c.status === "offered" && c.offered_agent_id === myId) return t("composer.notYours");
  if (c.assigned_agent_id !== null || c.offered_agent_id !== null) return t("desktopLive.withColleague");
  if (c.status === "queued") return t("desktopLive.waitingInQueue");
  return t("composer.notYours");
}
