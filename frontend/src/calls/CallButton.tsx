// "Upgrade to voice" in a conversation's header: call the customer when they allowed
// it, or ask their permission (and show where that stands).
import { useCallback, useEffect, useState } from "react";
import { Button, Tooltip } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { api, ApiError } from "../api/client";
import { useNewest } from "../api/newest";
import type { CallPermission, Conversation } from "../api/types";
import { formatDateTime } from "../format";

interface Props {
  conversation: Conversation;
  canAct: boolean;
  onCall: (conversationId: number) => Promise<void>;
  onCallBusy: boolean;
  /** Changes when the conversation's messages change (a permission answer may have come). */
  messagesTick: number;
  onError: (message: string) => void;
}

export function CallButton({ conversation, canAct, onCall, onCallBusy, messagesTick, onError }: Props) {
  const { t } = useTranslation();
  const [permission, setPermission] = useState<CallPermission | null>(null);
  // An answer about the conversation shown before (or an older read of this one) must not
  // offer or withhold a call here.
  const reads = useNewest();
  const load = useCallback(async () => {
    const newest = reads.begin();
    try {
      const answer = await api.get<CallPermission>(`/conversations/${conversation.id}/call-permission`);
      if (newest()) setPermission(answer);
    } catch {
      if (newest()) setPermission(null);
    }
  }, [conversation.id, reads]);
  useEffect(() => {
    void load();
  }, [load, messagesTick]);

  if (!canAct || !permission) return null;
  if (permission.can_call) {
    return (
      <Button size="xs" color="green" variant="light" data-testid="call-customer" disabled={onCallBusy} onClick={() => void onCall(conversation.id)}>
        📞 {t("call.callCustomer")}
      </Button>
    );
  }
  const waiting = permission.status === "requested";
  const later = permission.next_request_at;
  const ask = async () => {
    try {
      setPermission(await api.post<CallPermission>(`/conversations/${conversation.id}/call-permission`, {}));
    } catch (err) {
      onError(err instanceof ApiError ? err.message : String(err));
    }
  };
  const hint = waiting
    ? t("call.permission.waiting")
    : later
      ? t("call.permission.nextAt", { time: formatDateTime(later) })
      : permission.status === "rejected"
        ? t("call.permission.refused")
        : t("call.permission.explain");
  return (
    <Tooltip label={hint}>
      <Button size="xs" variant="default" data-testid="call-ask-permission" data-permission={permission.status} disabled={waiting || !!later} onClick={() => void ask()}>
        📞 {waiting ? t("call.permission.waitingShort") : t("call.permission.ask")}
      </Button>
    </Tooltip>
  );
}
